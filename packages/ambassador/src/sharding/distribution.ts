/**
 * Key -> shard distribution compatible with twemproxy (nutcracker): `distribution: ketama | modula | random`,
 * `hash:` (see hash.ts), `hash_tag:` and the `servers:` list format `host:port:weight [name]`.
 *
 * Design note: written from twemproxy's src/hashkit/nc_ketama.c, nc_modula.c, nc_random.c, src/nc_server.c
 * (server_pool_idx) and src/nc_conf.c (conf_add_server). npm's ketama/hashring packages differ from
 * twemproxy in the point names, the points per weight and the float arithmetic, and so move keys.
 * What twemproxy does, and this module reproduces:
 * - ketama: each live server gets floorf(weight/totalWeight * 40 * liveServers + 1e-10) * 4 points computed in
 *   32-bit float (160 per server when weights are equal). Point group i (from 0) is the MD5 of
 *   "<name>-<i>", and each digest gives 4 points: its 4 little-endian 32-bit words. A key goes to the first
 *   point >= hash(key), wrapping to the first point.
 * - the ketama identity of a server is its `name` when given, else "host:port", or only "host" when the port is
 *   11211 (libmemcached compatibility).
 * - twemproxy sorts the servers by ketama identity (shorter first, then bytewise) when it loads the config, and
 *   refuses duplicates; modula's table and ketama's point order follow that sorted order, not the list order.
 * - modula: each server appears `weight` times in a table, in that sorted order; a key goes to
 *   table[hash % size].
 * - random: any live server, weights ignored.
 * - a pool of one server always picks it; an empty key (or empty hashed part) hashes to 0.
 * - hash_tag "{}": when the key has "{" and later "}" with at least one byte between them, only those bytes are
 *   hashed.
 * Ejected servers: the continuum is rebuilt from the live servers only, keeping the server indexes, so with
 * ketama only the keys of the ejected servers move (with unequal weights a few points of the others move too,
 * exactly as in twemproxy, because the point counts depend on the live total weight).
 */
import { type HashName, isHashName, KEY_HASHES, type KeyHash, md5Digest } from './hash.js';

export const DISTRIBUTION_NAMES = ['ketama', 'modula', 'random'] as const;
export type DistributionName = (typeof DISTRIBUTION_NAMES)[number];

/** One entry of twemproxy's `servers:` list. */
export interface ShardServer {
  /** "host:port" or a unix socket path, where to connect. */
  readonly address: string;
  readonly host: string;
  /** 0 for a unix socket path. */
  readonly port: number;
  readonly weight: number;
  /** The optional name after the space, undefined when absent. */
  readonly name: string | undefined;
  /** The string ketama hashes for this server's points. */
  readonly ketamaIdentity: string;
}

export class ShardingConfigError extends Error {
  override readonly name = 'ShardingConfigError';
}

const LIBMEMCACHED_DEFAULT_PORT = 11211;
const KETAMA_POINTS_PER_SERVER = 160;
const KETAMA_POINTS_PER_DIGEST = 4;
/** twemproxy's KETAMA_MAX_HOSTLEN (273) minus the terminating NUL. */
const KETAMA_MAX_POINT_NAME = 272;

function parsePositiveInteger(text: string, what: string, spec: string): number {
  if (!/^[0-9]{1,10}$/.test(text))
    throw new ShardingConfigError(`server "${spec}": ${what} "${text}" is not a number`);
  return Number(text);
}

/**
 * Parses "host:port:weight [name]" or "/path/to/socket:weight [name]", as twemproxy does (from the end: the name
 * after the last space, then the weight and the port after the last colons, so IPv6 hosts keep their colons).
 */
export function parseShardServer(spec: string): ShardServer {
  const trimmed = spec.trim();
  let addressPart = trimmed;
  let name: string | undefined;
  const lastSpace = trimmed.lastIndexOf(' ');
  if (lastSpace >= 0) {
    name = trimmed.slice(lastSpace + 1);
    addressPart = trimmed.slice(0, lastSpace).trimEnd();
    if (name === '') throw new ShardingConfigError(`server "${spec}": empty name`);
  }
  const weightColon = addressPart.lastIndexOf(':');
  if (weightColon <= 0) throw new ShardingConfigError(`server "${spec}": expected "host:port:weight [name]"`);
  const weight = parsePositiveInteger(addressPart.slice(weightColon + 1), 'weight', spec);
  if (weight === 0) throw new ShardingConfigError(`server "${spec}": weight must be at least 1`);
  const address = addressPart.slice(0, weightColon);
  let host: string;
  let port: number;
  if (address.startsWith('/')) {
    host = address;
    port = 0;
  } else {
    const portColon = address.lastIndexOf(':');
    if (portColon <= 0) throw new ShardingConfigError(`server "${spec}": expected "host:port:weight [name]"`);
    host = address.slice(0, portColon);
    port = parsePositiveInteger(address.slice(portColon + 1), 'port', spec);
    if (port < 1 || port > 65535)
      throw new ShardingConfigError(`server "${spec}": port ${port} out of range`);
  }
  // Without a name twemproxy takes "host:port" (only "host" for port 11211); for a unix socket its arithmetic
  // keeps the colon that follows the path, so the identity is "/path:".
  const unnamedIdentity = port === 0 ? `${address}:` : port === LIBMEMCACHED_DEFAULT_PORT ? host : address;
  const ketamaIdentity = name ?? unnamedIdentity;
  return { address, host, port, weight, name, ketamaIdentity };
}

export interface ShardingOptions {
  readonly servers: readonly (ShardServer | string)[];
  /** Default "ketama", as twemproxy. */
  readonly distribution?: DistributionName;
  /** Default "fnv1a_64", as twemproxy. */
  readonly hash?: HashName;
  /** Two characters, e.g. "{}"; default none. */
  readonly hashTag?: string;
  /** For `random`: a number in [0, 1); default Math.random. */
  readonly random?: () => number;
}

/** Sorted ketama points: `values[i]` is a point on the ring, owned by server `owners[i]`. */
interface Continuum {
  readonly values: Uint32Array;
  readonly owners: Uint32Array;
  /**
   * `firstAtOrAbove[b]`: index of the first point >= b << BUCKET_SHIFT. A lookup starts its search there, so it
   * scans the few points of one bucket instead of a binary search over the whole ring on every command.
   */
  readonly firstAtOrAbove: Uint32Array;
}

const BUCKET_BITS = 12;
const BUCKET_SHIFT = 32 - BUCKET_BITS;

function continuumOf(values: Uint32Array, owners: Uint32Array): Continuum {
  const firstAtOrAbove = new Uint32Array((1 << BUCKET_BITS) + 1);
  let point = 0;
  for (let bucket = 0; bucket <= 1 << BUCKET_BITS; bucket++) {
    const bucketStart = bucket * 2 ** BUCKET_SHIFT;
    while (point < values.length && values[point]! < bucketStart) point++;
    firstAtOrAbove[bucket] = point;
  }
  return { values, owners, firstAtOrAbove };
}

/** Owner of the first point >= hash, wrapping around to the first point, as ketama_dispatch. */
function ketamaLookup(continuum: Continuum, hash: number): number {
  const { values, owners, firstAtOrAbove } = continuum;
  const bucket = hash >>> BUCKET_SHIFT;
  let left = firstAtOrAbove[bucket]!;
  let right = firstAtOrAbove[bucket + 1]!;
  while (left < right) {
    const middle = (left + right) >>> 1;
    if (values[middle]! < hash) left = middle + 1;
    else right = middle;
  }
  return owners[right === values.length ? 0 : right]!;
}

/** floorf(pct * 160 / 4 * live + 0.0000000001) * 4 with twemproxy's float (32-bit) intermediate results. */
export function ketamaPointsForServer(weight: number, totalWeight: number, liveServers: number): number {
  const share = Math.fround(Math.fround(weight) / Math.fround(totalWeight));
  const scaled = Math.fround(
    Math.fround(Math.fround(share * KETAMA_POINTS_PER_SERVER) / 4) * Math.fround(liveServers),
  );
  // The literal 0.0000000001 is a double: the sum is a double, then floorf() takes it back to float.
  return Math.floor(Math.fround(scaled + 0.0000000001)) * KETAMA_POINTS_PER_DIGEST;
}

/** Server indexes in twemproxy's order: by ketama identity, shorter first, then bytewise (conf_server_name_cmp). */
function twemproxyServerOrder(servers: readonly ShardServer[]): number[] {
  const identities = servers.map((server) => Buffer.from(server.ketamaIdentity, 'utf8'));
  const order = servers.map((_server, index) => index);
  order.sort((left, right) => {
    const a = identities[left]!;
    const b = identities[right]!;
    return a.length - b.length || Buffer.compare(a, b);
  });
  for (let position = 1; position < order.length; position++) {
    if (identities[order[position]!]!.equals(identities[order[position - 1]!]!)) {
      throw new ShardingConfigError(
        `servers: two servers are named "${servers[order[position]!]!.ketamaIdentity}"`,
      );
    }
  }
  return order;
}

/** `liveInOrder`: live server indexes in twemproxy's order. */
function buildKetamaContinuum(servers: readonly ShardServer[], liveInOrder: readonly number[]): Continuum {
  let totalWeight = 0;
  for (const index of liveInOrder) totalWeight += servers[index]!.weight;
  const liveServers = liveInOrder.length;
  const points: { value: number; owner: number; order: number }[] = [];
  liveInOrder.forEach((index) => {
    const server = servers[index]!;
    const pointCount = ketamaPointsForServer(server.weight, totalWeight, liveServers);
    for (let group = 0; group < pointCount / KETAMA_POINTS_PER_DIGEST; group++) {
      // snprintf into a 273-byte buffer: longer point names are cut to 272 bytes.
      const pointName = Buffer.from(`${server.ketamaIdentity}-${group}`, 'utf8');
      const digest = md5Digest(pointName.subarray(0, KETAMA_MAX_POINT_NAME));
      for (let word = 0; word < KETAMA_POINTS_PER_DIGEST; word++) {
        points.push({ value: digest.readUInt32LE(word * 4), owner: index, order: points.length });
      }
    }
  });
  points.sort((left, right) => left.value - right.value || left.order - right.order);
  return continuumOf(
    Uint32Array.from(points, (point) => point.value),
    Uint32Array.from(points, (point) => point.owner),
  );
}

function keyBytes(key: Uint8Array | string): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/**
 * Picks the shard for a key. Server indexes are positions in `options.servers` and never change; ejecting a
 * server rebuilds the distribution over the others.
 */
export class KeyDistributor {
  readonly servers: readonly ShardServer[];
  readonly distribution: DistributionName;
  readonly hashName: HashName;
  readonly hashTag: string | undefined;
  readonly #keyHash: KeyHash;
  readonly #random: () => number;
  readonly #live: boolean[];
  /** Server indexes in the order twemproxy uses them (sorted by ketama identity). */
  readonly #dispatchOrder: readonly number[];
  readonly #hashTagOpen: number;
  readonly #hashTagClose: number;
  #continuum: Continuum = continuumOf(new Uint32Array(0), new Uint32Array(0));
  /** modula: one entry per weight unit; random: one per live server. */
  #table: Uint32Array = new Uint32Array(0);

  constructor(options: ShardingOptions) {
    if (options.servers.length === 0) throw new ShardingConfigError('servers: at least one server is needed');
    this.servers = options.servers.map((server) =>
      typeof server === 'string' ? parseShardServer(server) : server,
    );
    const distribution = options.distribution ?? 'ketama';
    if (!(DISTRIBUTION_NAMES as readonly string[]).includes(distribution)) {
      throw new ShardingConfigError(
        `distribution: "${distribution}" is not one of ${DISTRIBUTION_NAMES.join(', ')}`,
      );
    }
    this.distribution = distribution;
    const hashName = options.hash ?? 'fnv1a_64';
    if (!isHashName(hashName)) throw new ShardingConfigError(`hash: "${hashName}" is not a known hash`);
    this.hashName = hashName;
    this.#keyHash = KEY_HASHES[hashName];
    this.hashTag = options.hashTag === '' ? undefined : options.hashTag;
    if (this.hashTag !== undefined) {
      const tagBytes = Buffer.from(this.hashTag, 'latin1');
      if (this.hashTag.length !== 2 || tagBytes.length !== 2) {
        throw new ShardingConfigError(
          `hash_tag: "${this.hashTag}" must be exactly two characters, like "{}"`,
        );
      }
      this.#hashTagOpen = tagBytes[0]!;
      this.#hashTagClose = tagBytes[1]!;
    } else {
      this.#hashTagOpen = -1;
      this.#hashTagClose = -1;
    }
    this.#random = options.random ?? Math.random;
    this.#live = this.servers.map(() => true);
    this.#dispatchOrder = twemproxyServerOrder(this.servers);
    this.#rebuild();
  }

  /** The bytes that get hashed: the part inside the hash tag when there is a non-empty one, else the key. */
  hashedPart(key: Uint8Array | string): Uint8Array {
    const bytes = keyBytes(key);
    if (this.#hashTagOpen < 0) return bytes;
    const open = bytes.indexOf(this.#hashTagOpen);
    if (open < 0) return bytes;
    const close = bytes.indexOf(this.#hashTagClose, open + 1);
    if (close < 0 || close - open <= 1) return bytes;
    return bytes.subarray(open + 1, close);
  }

  /** The 32-bit hash twemproxy computes for the key (after the hash tag); 0 for an empty key. */
  hashOf(key: Uint8Array | string): number {
    const part = this.hashedPart(key);
    return part.length === 0 ? 0 : this.#keyHash(part);
  }

  /** Index in `servers` of the shard for this key, or undefined when every server is ejected. */
  serverIndexFor(key: Uint8Array | string): number | undefined {
    if (this.servers.length === 1) return this.#live[0] ? 0 : undefined;
    if (this.#table.length === 0 && this.#continuum.values.length === 0) return undefined;
    switch (this.distribution) {
      case 'ketama':
        return ketamaLookup(this.#continuum, this.hashOf(key));
      case 'modula':
        return this.#table[this.hashOf(key) % this.#table.length]!;
      case 'random':
        return this.#table[Math.floor(this.#random() * this.#table.length) % this.#table.length]!;
    }
  }

  serverFor(key: Uint8Array | string): ShardServer | undefined {
    const index = this.serverIndexFor(key);
    return index === undefined ? undefined : this.servers[index];
  }

  isLive(index: number): boolean {
    return this.#live[index] === true;
  }

  /** Indexes of the servers keys currently go to. */
  liveServerIndexes(): number[] {
    return this.servers.flatMap((_server, index) => (this.#live[index] ? [index] : []));
  }

  /** Takes a server out of the distribution (twemproxy's auto_eject_hosts); returns false if it already was. */
  eject(index: number): boolean {
    return this.#setLive(index, false);
  }

  /** Puts an ejected server back; returns false if it was live. */
  restore(index: number): boolean {
    return this.#setLive(index, true);
  }

  #setLive(index: number, live: boolean): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= this.servers.length) {
      throw new RangeError(`no server at index ${index}`);
    }
    if (this.#live[index] === live) return false;
    this.#live[index] = live;
    this.#rebuild();
    return true;
  }

  #rebuild(): void {
    const liveIndexes = this.#dispatchOrder.filter((index) => this.#live[index]);
    if (liveIndexes.length === 0) {
      this.#continuum = continuumOf(new Uint32Array(0), new Uint32Array(0));
      this.#table = new Uint32Array(0);
      return;
    }
    if (this.distribution === 'ketama') {
      this.#continuum = buildKetamaContinuum(this.servers, liveIndexes);
    } else if (this.distribution === 'modula') {
      this.#table = Uint32Array.from(
        liveIndexes.flatMap((index) => Array.from({ length: this.servers[index]!.weight }, () => index)),
      );
    } else {
      this.#table = Uint32Array.from(liveIndexes);
    }
  }
}
