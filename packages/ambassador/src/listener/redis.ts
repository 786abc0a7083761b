/**
 * The redis listener: a twemproxy-compatible sharding proxy for Redis (RESP2 clients; see docs/sharding.md).
 *
 * - Single-key commands go to the key's shard, forwarded as the bytes received.
 * - MGET, MSET, DEL, UNLINK, EXISTS, TOUCH with keys on several shards are split into one command per shard and
 *   the replies merged in the order of the keys (an error from any shard is the reply).
 * - Commands naming several keys that must be on one shard (RENAME, SMOVE, SINTER, EVAL with numkeys ...) go to
 *   that shard when all their keys map to it (hash tags), else they are refused.
 * - PING, ECHO, QUIT, AUTH, SELECT 0 are answered here.
 * - Everything else is refused with an error naming the command; nothing goes to a random shard.
 */
import type { Logger } from '@sidecar-kit/core';
import type { ListenerConfig, ShardingConfig } from '../config.js';
import type { AmbassadorMetrics } from '../metrics.js';
import {
  encodeRespCommand,
  isErrorReply,
  type RespReply,
  RespReplyParser,
  type RespRequest,
  RespRequestParser,
} from '../protocol/resp.js';
import { ShardPool, type ShardProtocol } from '../sharding/pool.js';
import { type Session, type SessionProtocol, ShardedListener, Slot } from './sharded.js';

type RedisSession = Session<RespRequest, RespReply>;

/** How a command finds its shard. */
type CommandSpec =
  | { readonly kind: 'single' }
  /** Keys from `first` to `last` (negative: from the end) every `step`; all on one shard. */
  | { readonly kind: 'keys'; readonly first: number; readonly last: number; readonly step: number }
  /** EVAL-like: numkeys at 2, keys after it; at least one key, all on one shard. */
  | { readonly kind: 'eval' }
  | { readonly kind: 'split'; readonly merge: 'array' | 'sum' | 'ok'; readonly step: 1 | 2 }
  | { readonly kind: 'local' }
  | { readonly kind: 'refuse'; readonly why: string };

const SINGLE_KEY = `get set setnx setex psetex append strlen incr decr incrby decrby incrbyfloat getset getrange
  setrange getbit setbit bitcount bitpos bitfield bitfield_ro getdel getex substr expire expireat pexpire pexpireat
  persist ttl pttl expiretime pexpiretime type dump restore sort sort_ro hdel hexists hget hgetall hincrby
  hincrbyfloat hkeys hlen hmget hmset hset hsetnx hstrlen hvals hscan hrandfield lindex linsert llen lpop lpos lpush
  lpushx lrange lrem lset ltrim rpop rpush rpushx sadd scard sismember smismember smembers spop srandmember srem sscan
  zadd zcard zcount zincrby zlexcount zmscore zpopmin zpopmax zrandmember zrange zrangebylex zrangebyscore zrank zrem
  zremrangebylex zremrangebyrank zremrangebyscore zrevrange zrevrangebylex zrevrangebyscore zrevrank zscan zscore
  pfadd geoadd geodist geohash geopos georadius georadius_ro georadiusbymember georadiusbymember_ro geosearch xadd
  xlen xrange xrevrange xdel xtrim xack xclaim xautoclaim xpending xsetid`;

const REFUSED: Record<string, string> = {
  multi: 'transactions cannot span shards',
  exec: 'transactions cannot span shards',
  discard: 'transactions cannot span shards',
  watch: 'transactions cannot span shards',
  unwatch: 'transactions cannot span shards',
  subscribe: 'pub/sub is not sharded',
  psubscribe: 'pub/sub is not sharded',
  ssubscribe: 'pub/sub is not sharded',
  unsubscribe: 'pub/sub is not sharded',
  punsubscribe: 'pub/sub is not sharded',
  sunsubscribe: 'pub/sub is not sharded',
  publish: 'pub/sub is not sharded',
  spublish: 'pub/sub is not sharded',
  pubsub: 'pub/sub is not sharded',
  keys: 'it would need every shard',
  scan: 'it would need every shard',
  randomkey: 'it would need every shard',
  dbsize: 'it would need every shard',
  flushdb: 'it would need every shard',
  flushall: 'it would need every shard',
  blpop: 'blocking commands would hold a shard connection shared by all clients',
  brpop: 'blocking commands would hold a shard connection shared by all clients',
  brpoplpush: 'blocking commands would hold a shard connection shared by all clients',
  blmove: 'blocking commands would hold a shard connection shared by all clients',
  blmpop: 'blocking commands would hold a shard connection shared by all clients',
  bzpopmin: 'blocking commands would hold a shard connection shared by all clients',
  bzpopmax: 'blocking commands would hold a shard connection shared by all clients',
  bzmpop: 'blocking commands would hold a shard connection shared by all clients',
  xread: 'blocking commands would hold a shard connection shared by all clients',
  xreadgroup: 'blocking commands would hold a shard connection shared by all clients',
  wait: 'blocking commands would hold a shard connection shared by all clients',
  waitaof: 'blocking commands would hold a shard connection shared by all clients',
  cluster: 'this is not a Redis Cluster',
  readonly: 'this is not a Redis Cluster',
  readwrite: 'this is not a Redis Cluster',
  asking: 'this is not a Redis Cluster',
  msetnx: 'it cannot be atomic across shards',
};

function buildTable(): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  const single: CommandSpec = { kind: 'single' };
  for (const name of SINGLE_KEY.split(/\s+/)) if (name) table.set(name, single);
  const keys = (first: number, last: number, step = 1): CommandSpec => ({ kind: 'keys', first, last, step });
  for (const name of ['rename', 'renamenx', 'rpoplpush', 'lmove', 'smove', 'copy', 'lcs', 'geosearchstore'])
    table.set(name, keys(1, 2));
  table.set('zrangestore', keys(1, 2));
  for (const name of [
    'sdiff',
    'sinter',
    'sunion',
    'sdiffstore',
    'sinterstore',
    'sunionstore',
    'pfcount',
    'pfmerge',
  ])
    table.set(name, keys(1, -1));
  table.set('bitop', keys(2, -1));
  for (const name of ['eval', 'evalsha', 'eval_ro', 'evalsha_ro']) table.set(name, { kind: 'eval' });
  table.set('mget', { kind: 'split', merge: 'array', step: 1 });
  table.set('mset', { kind: 'split', merge: 'ok', step: 2 });
  for (const name of ['del', 'unlink', 'exists', 'touch'])
    table.set(name, { kind: 'split', merge: 'sum', step: 1 });
  for (const name of ['ping', 'echo', 'quit', 'auth', 'select']) table.set(name, { kind: 'local' });
  for (const [name, why] of Object.entries(REFUSED)) table.set(name, { kind: 'refuse', why });
  return table;
}

interface CommandEntry {
  /** Lower case. */
  readonly name: string;
  readonly bytes: Buffer;
  readonly spec: CommandSpec;
}

/** ASCII upper case to lower case; other bytes as they are. */
function foldCase(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}

/**
 * The command table, looked up by the name's bytes, case-insensitively: no string is made per command (making and
 * hashing one cost more than routing a GET).
 */
class CommandTable {
  readonly #buckets: CommandEntry[][];
  readonly #mask: number;

  constructor(specs: Map<string, CommandSpec>) {
    let size = 1;
    while (size < specs.size * 4) size *= 2;
    this.#mask = size - 1;
    this.#buckets = Array.from({ length: size }, () => []);
    for (const [name, spec] of specs) {
      const bytes = Buffer.from(name, 'latin1');
      this.#buckets[CommandTable.#hash(bytes) & this.#mask]!.push({ name, bytes, spec });
    }
  }

  static #hash(name: Uint8Array): number {
    let hash = 0x811c9dc5;
    for (let index = 0; index < name.length; index++)
      hash = Math.imul(hash ^ foldCase(name[index]!), 0x01000193);
    return hash >>> 0;
  }

  get(name: Uint8Array): CommandEntry | undefined {
    if (name.length > 32) return undefined;
    const bucket = this.#buckets[CommandTable.#hash(name) & this.#mask]!;
    for (const entry of bucket) {
      const bytes = entry.bytes;
      if (bytes.length !== name.length) continue;
      let index = 0;
      while (index < bytes.length && bytes[index] === foldCase(name[index]!)) index++;
      if (index === bytes.length) return entry;
    }
    return undefined;
  }
}

const COMMANDS = new CommandTable(buildTable());

const PONG = Buffer.from('+PONG\r\n');
const OK = Buffer.from('+OK\r\n');
const NOAUTH = Buffer.from('-NOAUTH Authentication required.\r\n');
const WRONGPASS = Buffer.from('-WRONGPASS invalid username-password pair or user is disabled.\r\n');

function errorLine(message: string): Buffer {
  return Buffer.from(`-ERR ${message.replace(/[\r\n]+/g, ' ')}\r\n`);
}

function bulk(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`$${data.length}\r\n`), data, Buffer.from('\r\n')]);
}

function commandName(arg: Buffer): string {
  return arg.length > 64 ? `${arg.subarray(0, 64).toString('latin1')}...` : arg.toString('latin1');
}

/** Replies of a split command, merged once every part has answered. */
class MergedReply extends Slot<RespReply> {
  readonly merge: 'array' | 'sum' | 'ok';
  /** For arrays: the element of each key, by key position. */
  readonly items: Buffer[];
  remaining: number;
  sum = 0;
  error: Buffer | undefined;

  constructor(session: RedisSession, merge: 'array' | 'sum' | 'ok', keys: number, parts: number) {
    super(session);
    this.merge = merge;
    this.items = merge === 'array' ? new Array<Buffer>(keys) : [];
    this.remaining = parts;
  }

  partDone(): void {
    if (--this.remaining > 0) return;
    if (this.error !== undefined) this.complete(this.error);
    else if (this.merge === 'ok') this.complete(OK);
    else if (this.merge === 'sum') this.complete(Buffer.from(`:${this.sum}\r\n`));
    else this.complete(Buffer.concat([Buffer.from(`*${this.items.length}\r\n`), ...this.items]));
  }
}

/** One shard's part of a split command. */
class PartReply {
  sentAt = 0;
  readonly merged: MergedReply;
  /** Key positions in the original command (arrays). */
  readonly positions: number[];

  constructor(merged: MergedReply, positions: number[]) {
    this.merged = merged;
    this.positions = positions;
  }

  receive(frame: RespReply): boolean {
    const merged = this.merged;
    if (isErrorReply(frame)) merged.error ??= Buffer.from(frame.raw);
    else if (merged.merge === 'sum') {
      if (frame.kind === 'line' && frame.type === ':') merged.sum += Number(frame.text.toString('latin1'));
      else merged.error ??= errorLine('unexpected reply from a shard');
    } else if (merged.merge === 'array') {
      const items = frame.kind === 'aggregate' ? frame.items : null;
      if (items === null || items.length !== this.positions.length)
        merged.error ??= errorLine('unexpected reply from a shard');
      else
        for (let index = 0; index < items.length; index++)
          merged.items[this.positions[index]!] = items[index]!.raw;
    }
    merged.partDone();
    return true;
  }

  fail(message: string): void {
    this.merged.error ??= errorLine(message);
    this.merged.partDone();
  }
}

export const redisShardProtocol = (
  config: ShardingConfig,
  limits?: { maxBulkLength: number },
): ShardProtocol<RespReply> => ({
  createParser: () => new RespReplyParser(limits ? { maxBulkLength: limits.maxBulkLength } : undefined),
  ...(config.password === undefined
    ? {}
    : {
        handshake: {
          request: encodeRespCommand(['AUTH', config.password]),
          check: (frame: RespReply) =>
            isErrorReply(frame) ? frame.raw.toString('latin1').trim() : undefined,
        },
      }),
});

export function createRedisPool(name: string, config: ShardingConfig, logger: Logger): ShardPool<RespReply> {
  return new ShardPool<RespReply>(name, 'redis', config, redisShardProtocol(config), logger);
}

class RedisProtocol implements SessionProtocol<RespRequest, RespReply> {
  readonly name = 'redis';
  readonly #password: string | undefined;

  constructor(password: string | undefined) {
    this.#password = password;
  }

  createParser(limits: ListenerConfig['limits']) {
    return new RespRequestParser({
      maxBulkLength: limits.maxValueBytes,
      maxFrameBytes: Math.max(limits.maxRequestBytes, limits.maxValueBytes + 1024),
    });
  }

  rawOf(frame: RespReply): Buffer {
    return frame.raw;
  }

  errorReply(message: string): Buffer {
    return errorLine(message);
  }

  handle(session: RedisSession, request: RespRequest, now: number): boolean {
    const args = request.args;
    const nameArg = args[0]!;
    const entry = COMMANDS.get(nameArg);
    if (!session.authenticated && entry?.name !== 'auth' && entry?.name !== 'quit') {
      session.answer(NOAUTH);
      return true;
    }
    if (entry === undefined) {
      session.listener.refused++;
      session.answer(
        errorLine(
          `unsupported command '${commandName(nameArg)}': the sharding ambassador does not forward it to any shard`,
        ),
      );
      return true;
    }
    const spec = entry.spec;
    switch (spec.kind) {
      case 'single': {
        if (args.length < 2) return wrongArity(session, nameArg);
        const shard = session.pool.shardFor(args[1]!);
        if (shard === undefined) return noShard(session);
        const slot = session.enqueue(new Slot<RespReply>(session));
        session.pool.send(
          shard,
          session.slot,
          request.inline ? encodeRespCommand(args) : request.raw,
          slot,
          now,
        );
        return true;
      }
      case 'keys':
      case 'eval':
        return this.#sameShard(session, request, spec, now);
      case 'split':
        return this.#split(session, request, spec.merge, spec.step, now);
      case 'local':
        return this.#local(session, entry.name, args);
      case 'refuse':
        session.listener.refused++;
        session.answer(
          errorLine(
            `command '${commandName(nameArg)}' is not supported by the sharding ambassador: ${spec.why}`,
          ),
        );
        return true;
    }
  }

  #local(session: RedisSession, name: string, args: readonly Buffer[]): boolean {
    switch (name) {
      case 'ping':
        if (args.length > 2) return wrongArity(session, args[0]!);
        session.answer(args.length === 2 ? bulk(args[1]!) : PONG);
        return true;
      case 'echo':
        if (args.length !== 2) return wrongArity(session, args[0]!);
        session.answer(bulk(args[1]!));
        return true;
      case 'quit':
        session.answer(OK);
        return false;
      case 'auth': {
        if (args.length !== 2 && args.length !== 3) return wrongArity(session, args[0]!);
        const password = this.#password;
        if (password === undefined) {
          session.answer(
            errorLine(
              'AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
            ),
          );
          return true;
        }
        const user = args.length === 3 ? args[1]!.toString() : 'default';
        const given = args[args.length - 1]!;
        const expected = Buffer.from(password);
        if (user === 'default' && given.length === expected.length && given.equals(expected)) {
          session.authenticated = true;
          session.answer(OK);
        } else session.answer(WRONGPASS);
        return true;
      }
      default: {
        // select
        if (args.length !== 2) return wrongArity(session, args[0]!);
        if (args[1]!.toString('latin1') === '0') session.answer(OK);
        else {
          session.listener.refused++;
          session.answer(
            errorLine(
              `command 'SELECT ${commandName(args[1]!)}' is not supported: only database 0 is sharded`,
            ),
          );
        }
        return true;
      }
    }
  }

  /** Commands with several keys that must all be on one shard. */
  #sameShard(
    session: RedisSession,
    request: RespRequest,
    spec: { kind: 'keys'; first: number; last: number; step: number } | { kind: 'eval' },
    now: number,
  ): boolean {
    const args = request.args;
    const nameArg = args[0]!;
    let first: number;
    let last: number;
    let step = 1;
    if (spec.kind === 'eval') {
      if (args.length < 3) return wrongArity(session, nameArg);
      const count = Number(args[2]!.toString('latin1'));
      if (!Number.isSafeInteger(count) || count < 0 || 3 + count > args.length) {
        session.answer(errorLine("Number of keys can't be greater than number of args"));
        return true;
      }
      if (count === 0) {
        session.listener.refused++;
        session.answer(
          errorLine(
            `command '${commandName(nameArg)}' with no keys is not supported: the shard is chosen by its keys`,
          ),
        );
        return true;
      }
      first = 3;
      last = 2 + count;
    } else {
      first = spec.first;
      last = spec.last < 0 ? args.length + spec.last : spec.last;
      step = spec.step;
      if (args.length <= first || last < first) return wrongArity(session, nameArg);
    }
    let shard: number | undefined;
    for (let position = first; position <= last; position += step) {
      const keyShard = session.pool.shardFor(args[position]!);
      if (keyShard === undefined) return noShard(session);
      if (shard !== undefined && keyShard !== shard) {
        session.listener.refused++;
        session.answer(
          errorLine(
            `command '${commandName(nameArg)}' has keys on different shards; put them on one shard with a hash tag`,
          ),
        );
        return true;
      }
      shard = keyShard;
    }
    const slot = session.enqueue(new Slot<RespReply>(session));
    session.pool.send(
      shard!,
      session.slot,
      request.inline ? encodeRespCommand(args) : request.raw,
      slot,
      now,
    );
    return true;
  }

  /** MGET / MSET / DEL ...: one command per shard, merged in key order. */
  #split(
    session: RedisSession,
    request: RespRequest,
    merge: 'array' | 'sum' | 'ok',
    step: 1 | 2,
    now: number,
  ): boolean {
    const args = request.args;
    const nameArg = args[0]!;
    if (args.length < 2 || (args.length - 1) % step !== 0) return wrongArity(session, nameArg);
    const pool = session.pool;
    const keyCount = (args.length - 1) / step;
    // Fast path: every key on one shard (one key, or hash tags): forward as received.
    const firstShard = pool.shardFor(args[1]!);
    if (firstShard === undefined) return noShard(session);
    let oneShard = true;
    const shards = new Array<number>(keyCount);
    shards[0] = firstShard;
    for (let index = 1; index < keyCount; index++) {
      const shard = pool.shardFor(args[1 + index * step]!);
      if (shard === undefined) return noShard(session);
      shards[index] = shard;
      if (shard !== firstShard) oneShard = false;
    }
    if (oneShard) {
      const slot = session.enqueue(new Slot<RespReply>(session));
      pool.send(firstShard, session.slot, request.inline ? encodeRespCommand(args) : request.raw, slot, now);
      return true;
    }
    const byShard = new Map<number, number[]>();
    for (let index = 0; index < keyCount; index++) {
      const positions = byShard.get(shards[index]!);
      if (positions) positions.push(index);
      else byShard.set(shards[index]!, [index]);
    }
    const merged = session.enqueue(new MergedReply(session, merge, keyCount, byShard.size)) as MergedReply;
    for (const [shard, positions] of byShard) {
      const partArgs: Buffer[] = [nameArg];
      for (const position of positions) {
        partArgs.push(args[1 + position * step]!);
        if (step === 2) partArgs.push(args[2 + position * step]!);
      }
      pool.send(shard, session.slot, encodeRespCommand(partArgs), new PartReply(merged, positions), now);
    }
    return true;
  }
}

function wrongArity(session: RedisSession, nameArg: Buffer): boolean {
  session.answer(errorLine(`wrong number of arguments for '${commandName(nameArg).toLowerCase()}' command`));
  return true;
}

function noShard(session: RedisSession): boolean {
  session.answer(errorLine('no live shard for this key: every shard is ejected'));
  return true;
}

export class RedisListener extends ShardedListener<RespRequest, RespReply> {
  constructor(
    config: ListenerConfig,
    pool: ShardPool<RespReply>,
    metrics: AmbassadorMetrics,
    logger: Logger,
  ) {
    super(config, pool, new RedisProtocol(config.password), metrics, logger);
  }
}
