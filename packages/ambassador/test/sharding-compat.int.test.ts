/**
 * Proves src/sharding against the real twemproxy: 5 redis-server shards (most pools use the first 3) behind nutcracker pools (one per hash /
 * distribution / weights / names / hash_tag case), 10,000 keys written through each pool, then each shard read
 * directly; our KeyDistributor must name the shard that holds every key. Only 127.0.0.1.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/elasticsearch.js';
import { encodeRespCommand, type RespReply, RespReplyParser } from '../src/protocol/resp.js';
import { type DistributionName, KeyDistributor } from '../src/sharding/distribution.js';
import type { HashName } from '../src/sharding/hash.js';

const KEYS_PER_POOL = 10_000;
const HOST = '127.0.0.1';

interface PoolCase {
  readonly pool: string;
  readonly hash: HashName;
  readonly distribution: DistributionName;
  /** Weight and optional name of each shard (3, or 5: the first shards of the 5 started). */
  readonly shards: readonly { readonly weight: number; readonly name?: string }[];
  readonly hashTag?: string;
  /** Reach the shards over their unix sockets ("/path:weight") instead of TCP. */
  readonly unixSockets?: boolean;
}

const equal = [{ weight: 1 }, { weight: 1 }, { weight: 1 }];
const weightedNamed = [
  { weight: 1, name: 'alpha' },
  { weight: 2, name: 'beta' },
  { weight: 3, name: 'gamma' },
];
const HASHES: readonly HashName[] = [
  'fnv1a_64',
  'fnv1_64',
  'fnv1a_32',
  'fnv1_32',
  'md5',
  'crc16',
  'crc32',
  'crc32a',
  'murmur',
  'hsieh',
  'jenkins',
  'one_at_a_time',
];

const POOL_CASES: readonly PoolCase[] = [
  ...HASHES.map(
    (hash): PoolCase => ({ pool: `ketama_${hash}`, hash, distribution: 'ketama', shards: equal }),
  ),
  { pool: 'ketama_fnv1a_64_named', hash: 'fnv1a_64', distribution: 'ketama', shards: weightedNamed },
  {
    pool: 'ketama_md5_named',
    hash: 'md5',
    distribution: 'ketama',
    shards: [
      { weight: 3, name: 'cache-a' },
      { weight: 5, name: 'cache-b' },
      { weight: 7, name: 'cache-c' },
    ],
  },
  {
    pool: 'ketama_murmur_weighted',
    hash: 'murmur',
    distribution: 'ketama',
    shards: [{ weight: 2 }, { weight: 1 }, { weight: 1 }],
  },
  { pool: 'ketama_crc32_named', hash: 'crc32', distribution: 'ketama', shards: weightedNamed },
  // Unnamed unix-socket servers: twemproxy hashes "/path:" (with the colon) for their ketama points.
  { pool: 'ketama_unix', hash: 'fnv1a_64', distribution: 'ketama', shards: equal, unixSockets: true },
  {
    pool: 'modula_unix',
    hash: 'murmur',
    distribution: 'modula',
    shards: [{ weight: 2 }, { weight: 1 }, { weight: 3 }],
    unixSockets: true,
  },
  // Names longer than twemproxy's 272-byte point names: cut to 272 bytes before MD5.
  {
    pool: 'ketama_long_names',
    hash: 'md5',
    distribution: 'ketama',
    shards: ['a', 'b', 'c'].map((letter) => ({ weight: 1, name: `${letter}${'x'.repeat(279)}` })),
  },
  // 5 servers, weights summing to 25: twemproxy's 32-bit float math gives 28/124/188/188/252 points where double
  // math would give 32/128/192/192/256, so this case fails unless the float rounding is reproduced.
  {
    pool: 'ketama_fnv1a_64_float',
    hash: 'fnv1a_64',
    distribution: 'ketama',
    shards: [{ weight: 1 }, { weight: 4 }, { weight: 6 }, { weight: 6 }, { weight: 8 }],
  },
  ...(['fnv1a_64', 'md5', 'murmur', 'crc32', 'hsieh'] as const).map(
    (hash): PoolCase => ({ pool: `modula_${hash}`, hash, distribution: 'modula', shards: weightedNamed }),
  ),
  { pool: 'ketama_fnv1a_64_tag', hash: 'fnv1a_64', distribution: 'ketama', shards: equal, hashTag: '{}' },
  { pool: 'modula_crc32a_tag', hash: 'crc32a', distribution: 'modula', shards: weightedNamed, hashTag: '[]' },
];

/** Deterministic PRNG (mulberry32) for the keys. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** 10,000 distinct keys starting with "<pool>:": words, numbers, binary bytes >= 0x80, and hash-tag shapes. */
function keysFor(pool: string, tagOpen = '{', tagClose = '}'): Buffer[] {
  const random = seededRandom(pool.length * 7919 + pool.charCodeAt(pool.length - 1));
  const keys: Buffer[] = [];
  for (let index = 0; index < KEYS_PER_POOL; index++) {
    const prefix = `${pool}:`;
    switch (index % 5) {
      case 0:
        keys.push(Buffer.from(`${prefix}user:${index}`));
        break;
      case 1: {
        const bytes = Buffer.alloc(1 + Math.floor(random() * 24));
        for (let at = 0; at < bytes.length; at++) bytes[at] = Math.floor(random() * 256);
        keys.push(Buffer.concat([Buffer.from(`${prefix}b${index}:`), bytes]));
        break;
      }
      case 2:
        keys.push(Buffer.from(`${prefix}${tagOpen}tag${index % 37}${tagClose}:${index}`));
        break;
      case 3:
        keys.push(Buffer.from(`${prefix}${index % 2 ? `${tagOpen}${tagClose}` : tagOpen}x${index}`));
        break;
      default:
        keys.push(Buffer.from(`${prefix}${random().toString(36).slice(2)}-${index}-é`));
    }
  }
  return keys;
}

class RedisConnection {
  readonly #socket: Socket;
  readonly #parser = new RespReplyParser();
  readonly #waiting: { count: number; replies: RespReply[]; resolve: (replies: RespReply[]) => void }[] = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const reply of this.#parser.feed(chunk)) {
        const head = this.#waiting[0];
        if (!head) throw new Error('unexpected reply');
        head.replies.push(reply);
        if (head.replies.length === head.count) {
          this.#waiting.shift();
          head.resolve(head.replies);
        }
      }
    });
  }

  static async open(port: number): Promise<RedisConnection> {
    const socket = connect(port, HOST);
    await once(socket, 'connect');
    return new RedisConnection(socket);
  }

  pipeline(commands: readonly Buffer[]): Promise<RespReply[]> {
    return new Promise((resolve) => {
      this.#waiting.push({ count: commands.length, replies: [], resolve });
      this.#socket.write(Buffer.concat(commands));
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

function isOk(reply: RespReply): boolean {
  return reply.kind === 'line' && reply.type === '+' && reply.text.toString() === 'OK';
}

const children: ChildProcess[] = [];
const connections: RedisConnection[] = [];
let workDirectory = '';
const shardPorts: number[] = [];
/** Unix sockets of the first 3 shards (which also listen on TCP). */
const shardSockets: string[] = [];
const poolPorts = new Map<string, number>();
let nutcrackerOutput = '';

/**
 * A free 127.0.0.1 port not handed out before in this file. (The kernel may hand the same free port out twice:
 * the dead server's port must not become a nutcracker listener.)
 */
const usedPorts = new Set<number>();
async function uniquePort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!usedPorts.has(port)) {
      usedPorts.add(port);
      return port;
    }
  }
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  let failure: Error | undefined;
  child.once('error', (error) => {
    failure = error;
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    if (failure) throw new Error(`${what} could not be started: ${failure.message}`);
    if (child.exitCode !== null)
      throw new Error(`${what} exited with ${child.exitCode}: ${nutcrackerOutput}`);
    const listening = await new Promise<boolean>((resolve) => {
      const socket = connect(port, HOST, () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (listening) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on ${port}`);
}

/** The servers: list of a pool, as nutcracker and our parseShardServer read it. */
function serverSpecs(shards: PoolCase['shards'], ports: readonly number[], unixSockets = false): string[] {
  return shards.map((shard, index) => {
    const address = unixSockets ? shardSockets[index] : `${HOST}:${ports[index]}`;
    return `${address}:${shard.weight}${shard.name ? ` ${shard.name}` : ''}`;
  });
}

function serverLines(shards: PoolCase['shards'], ports: readonly number[], unixSockets = false): string {
  return serverSpecs(shards, ports, unixSockets)
    .map((spec) => `      - ${spec}`)
    .join('\n');
}

function distributorFor(poolCase: PoolCase, ports: readonly number[]): KeyDistributor {
  return new KeyDistributor({
    distribution: poolCase.distribution,
    hash: poolCase.hash,
    ...(poolCase.hashTag ? { hashTag: poolCase.hashTag } : {}),
    servers: serverSpecs(poolCase.shards, ports, poolCase.unixSockets),
  });
}

/** Writes the keys through nutcracker in pipelined batches; every reply must be +OK. */
async function writeThrough(port: number, keys: readonly Buffer[]): Promise<void> {
  const proxy = await RedisConnection.open(port);
  connections.push(proxy);
  for (let from = 0; from < keys.length; from += 1000) {
    const batch = keys.slice(from, from + 1000).map((key) => encodeRespCommand(['SET', key, '1']));
    const replies = await proxy.pipeline(batch);
    const failed = replies.filter((reply) => !isOk(reply));
    expect(failed.map((reply) => reply.raw.toString())).toEqual([]);
  }
  proxy.close();
}

/** Which shard (index) holds each key with this prefix, read directly from every shard. */
async function keysOnShards(prefix: string): Promise<Map<string, number[]>> {
  const holders = new Map<string, number[]>();
  for (const [shardIndex, port] of shardPorts.entries()) {
    const shard = await RedisConnection.open(port);
    const [reply] = await shard.pipeline([encodeRespCommand(['KEYS', `${prefix}*`])]);
    shard.close();
    if (reply?.kind !== 'aggregate' || reply.items === null)
      throw new Error(`KEYS failed: ${reply?.raw.toString()}`);
    for (const item of reply.items) {
      if (item.kind !== 'bulk' || item.data === null) throw new Error('KEYS returned a non-bulk');
      const hex = item.data.toString('hex');
      holders.set(hex, [...(holders.get(hex) ?? []), shardIndex]);
    }
  }
  return holders;
}

/** Keys whose shard differs from ours, as "key: ours vs real" lines (empty when all agree). */
function mismatches(
  keys: readonly Buffer[],
  holders: Map<string, number[]>,
  ours: (key: Buffer) => number | undefined,
) {
  const problems: string[] = [];
  for (const key of keys) {
    const real = holders.get(key.toString('hex')) ?? [];
    const expected = ours(key);
    if (real.length !== 1 || real[0] !== expected)
      problems.push(`${JSON.stringify(key.toString('latin1'))}: ours ${expected}, real ${real}`);
  }
  return problems;
}

/**
 * The ejection pool: 3 live shards and a 4th server that cannot be reached: a unix socket path nobody creates
 * (a released TCP port could be taken by another program on this machine).
 */
let ejectPoolServers: string[] = [];
const EJECT_POOL = 'ketama_eject';
const EJECT_WEIGHTS = [1, 2, 3, 2];
const RANDOM_POOL = 'random_fnv1a_64';

beforeAll(async () => {
  const missing = ['redis-server', 'nutcracker'].filter(
    (program) => spawnSync('which', [program]).status !== 0,
  );
  if (missing.length > 0)
    throw new Error(`missing ${missing.join(', ')}: apt-get install -y nutcracker redis-server`);
  workDirectory = mkdtempSync(join(tmpdir(), 'sharding-compat-'));
  for (let index = 0; index < 5; index++) {
    const port = await uniquePort();
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        HOST,
        '--save',
        '',
        '--appendonly',
        'no',
        ...(index < 3
          ? ['--unixsocket', join(workDirectory, `redis-${index}.sock`), '--unixsocketperm', '700']
          : []),
      ],
      {
        stdio: 'ignore',
      },
    );
    children.push(child);
    await waitForPort(port, child, 'redis-server');
    shardPorts.push(port);
    if (index < 3) shardSockets.push(join(workDirectory, `redis-${index}.sock`));
  }
  const poolYaml: string[] = [];
  for (const poolCase of POOL_CASES) {
    const port = await uniquePort();
    poolPorts.set(poolCase.pool, port);
    poolYaml.push(`${poolCase.pool}:
  listen: ${HOST}:${port}
  redis: true
  hash: ${poolCase.hash}
  distribution: ${poolCase.distribution}
${poolCase.hashTag ? `  hash_tag: "${poolCase.hashTag}"\n` : ''}  auto_eject_hosts: false
  servers:
${serverLines(poolCase.shards, shardPorts, poolCase.unixSockets)}`);
  }
  const randomPort = await uniquePort();
  poolPorts.set(RANDOM_POOL, randomPort);
  poolYaml.push(`${RANDOM_POOL}:
  listen: ${HOST}:${randomPort}
  redis: true
  hash: fnv1a_64
  distribution: random
  servers:
${serverLines(weightedNamed, shardPorts)}`);
  const deadSocket = join(workDirectory, 'nobody-listens.sock');
  ejectPoolServers = EJECT_WEIGHTS.map((weight, index) =>
    index < 3 ? `${HOST}:${shardPorts[index]}:${weight}` : `${deadSocket}:${weight}`,
  );
  const ejectPort = await uniquePort();
  poolPorts.set(EJECT_POOL, ejectPort);
  poolYaml.push(`${EJECT_POOL}:
  listen: ${HOST}:${ejectPort}
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  server_failure_limit: 1
  server_retry_timeout: 600000
  timeout: 2000
  servers:
${ejectPoolServers.map((spec) => `      - ${spec}`).join('\n')}`);
  const configFile = join(workDirectory, 'nutcracker.yml');
  writeFileSync(configFile, `${poolYaml.join('\n')}\n`);
  const statsPort = await uniquePort();
  const test = spawnSync('nutcracker', ['-t', '-c', configFile], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nutcracker rejects the config: ${test.stderr}${test.stdout}`);
  const nutcracker = spawn(
    'nutcracker',
    [
      '-c',
      configFile,
      '-s',
      String(statsPort),
      '-a',
      HOST,
      '-v',
      '7',
      '-o',
      join(workDirectory, 'nutcracker.log'),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(nutcracker);
  const collect = (chunk: Buffer) => {
    nutcrackerOutput = (nutcrackerOutput + chunk.toString()).slice(-4000);
  };
  nutcracker.stdout?.on('data', collect);
  nutcracker.stderr?.on('data', collect);
  for (const port of poolPorts.values()) await waitForPort(port, nutcracker, 'nutcracker');
});

afterAll(async () => {
  for (const connection of connections.splice(0)) connection.close();
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000).then(() => child.kill('SIGKILL'))]);
    }),
  );
  if (workDirectory) spawnSync('cp', [join(workDirectory, 'nutcracker.log'), '/tmp/shard-nutcracker.log']);
  if (workDirectory) rmSync(workDirectory, { recursive: true, force: true });
});

describe('key distribution matches nutcracker (twemproxy) on real redis shards', () => {
  it.each(POOL_CASES.map((poolCase) => [poolCase.pool, poolCase] as const))(
    '%s: every one of 10,000 keys is on the shard we pick',
    async (_name, poolCase) => {
      const tag = poolCase.hashTag ?? '{}';
      const keys = keysFor(poolCase.pool, tag[0], tag[1]);
      await writeThrough(poolPorts.get(poolCase.pool)!, keys);
      const holders = await keysOnShards(`${poolCase.pool}:`);
      const distributor = distributorFor(poolCase, shardPorts);
      expect(mismatches(keys, holders, (key) => distributor.serverIndexFor(key)).slice(0, 10)).toEqual([]);
      expect(holders.size).toBe(KEYS_PER_POOL);
      // The case is not degenerate: every shard got keys. Except ketama + crc32, degenerate in twemproxy too:
      // crc32 yields 15-bit hashes, which all land on the first point of the 32-bit ring (one shard has them all).
      const perShard = poolCase.shards.map(() => 0);
      for (const [shard] of holders.values()) perShard[shard!]!++;
      const expectedShardsUsed =
        poolCase.distribution === 'ketama' && poolCase.hash === 'crc32' ? 1 : poolCase.shards.length;
      expect(perShard.filter((count) => count > 0).length).toBe(expectedShardsUsed);
    },
  );

  it('random: each key lands on exactly one shard, all shards used, weights ignored', async () => {
    const keys = keysFor(RANDOM_POOL);
    await writeThrough(poolPorts.get(RANDOM_POOL)!, keys);
    const holders = await keysOnShards(`${RANDOM_POOL}:`);
    expect(holders.size).toBe(KEYS_PER_POOL);
    const perShard = [0, 0, 0, 0, 0];
    for (const shards of holders.values()) {
      expect(shards).toHaveLength(1);
      perShard[shards[0]!]!++;
    }
    // Uniform over the 3 live shards, as our random distribution (weights ignored in twemproxy).
    for (const count of perShard.slice(0, 3))
      expect(Math.abs(count - KEYS_PER_POOL / 3)).toBeLessThan(KEYS_PER_POOL * 0.05);
  });

  it('ketama with an ejected server: after nutcracker ejects the dead 4th server, keys go where ours do', async () => {
    const servers = ejectPoolServers;
    const distributor = new KeyDistributor({ distribution: 'ketama', hash: 'fnv1a_64', servers });
    const before = new KeyDistributor({ distribution: 'ketama', hash: 'fnv1a_64', servers });
    let probe = 0;
    while (distributor.serverIndexFor(`probe-${probe}`) !== 3) probe++;
    const proxy = await RedisConnection.open(poolPorts.get(EJECT_POOL)!);
    connections.push(proxy);
    let ejected = false;
    for (let attempt = 0; attempt < 100 && !ejected; attempt++) {
      const [reply] = await proxy.pipeline([encodeRespCommand(['GET', `probe-${probe}`])]);
      // While the dead server is in the pool the probe fails; once ejected it is served (nil) by a live shard.
      ejected = reply?.kind === 'bulk' && reply.data === null;
      if (!ejected) await sleep(20);
    }
    expect(ejected).toBe(true);
    distributor.eject(3);
    const keys = keysFor(EJECT_POOL);
    await writeThrough(poolPorts.get(EJECT_POOL)!, keys);
    const holders = await keysOnShards(`${EJECT_POOL}:`);
    expect(mismatches(keys, holders, (key) => distributor.serverIndexFor(key)).slice(0, 10)).toEqual([]);
    // Only the dead server's keys moved... plus the few points that the weight change shifts among the others.
    const moved = keys.filter((key) => before.serverIndexFor(key) !== distributor.serverIndexFor(key));
    const fromDead = moved.filter((key) => before.serverIndexFor(key) === 3);
    expect(fromDead.length).toBeGreaterThan(0);
    expect(moved.length - fromDead.length).toBeLessThan(keys.length * 0.05);
  });
});
