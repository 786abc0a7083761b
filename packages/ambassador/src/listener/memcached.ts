/**
 * The memcached listener: a twemproxy-compatible sharding proxy for the memcached ASCII protocol.
 *
 * - get/gets/gat/gats: the keys are split by shard (one command per shard) and the VALUE frames merged in the
 *   order of the keys, closed by one END; with all keys on one shard the command is forwarded as received.
 * - set/add/replace/append/prepend/cas, delete, incr/decr, touch: to the key's shard, as received; with
 *   `noreply` no reply is expected (none is written).
 * - version is answered here; quit closes the connection; stats, flush_all and verbosity are refused with a
 *   CLIENT_ERROR naming the command (they would need every shard).
 * - A shard failure answers SERVER_ERROR; malformed input CLIENT_ERROR, then the connection is closed.
 */
import type { Logger } from '@sidecar-kit/core';
import type { ListenerConfig, ShardingConfig } from '../config.js';
import type { AmbassadorMetrics } from '../metrics.js';
import {
  isRetrievalCommand,
  type MemcachedReply,
  MemcachedReplyParser,
  type MemcachedRequest,
  MemcachedRequestParser,
} from '../protocol/memcached.js';
import { ShardPool } from '../sharding/pool.js';
import { type ReplySink, type Session, type SessionProtocol, ShardedListener, Slot } from './sharded.js';

type MemcachedSession = Session<MemcachedRequest, MemcachedReply>;

const VERSION = Buffer.from('VERSION 1.6.0-sidecar-kit-ambassador\r\n');
const END = Buffer.from('END\r\n');
const CRLF = Buffer.from('\r\n');
const SPACE = Buffer.from(' ');

function clean(message: string): string {
  return message.replace(/[\r\n]+/g, ' ');
}

/** A retrieval on one shard: VALUE frames until END. */
class RetrievalReply extends Slot<MemcachedReply> {
  readonly values: Buffer[] = [];

  override receive(frame: MemcachedReply): boolean {
    if (frame.kind === 'value') {
      this.values.push(frame.raw);
      return false;
    }
    if (frame.kind === 'end') {
      this.values.push(frame.raw);
      this.complete(this.values.length === 1 ? frame.raw : Buffer.concat(this.values));
    } else this.complete(frame.raw);
    return true;
  }
}

/** A multi-get split over shards, merged in key order. */
class MergedRetrieval extends Slot<MemcachedReply> {
  readonly parts: RetrievalPart[] = [];
  /** Shard part of each key, by key position. */
  readonly partOf: number[];
  remaining = 0;
  error: Buffer | undefined;
  readonly keys: readonly Buffer[];

  constructor(session: ReplySink<MemcachedReply>, keys: readonly Buffer[]) {
    super(session);
    this.keys = keys;
    this.partOf = new Array<number>(keys.length);
  }

  partDone(): void {
    if (--this.remaining > 0) return;
    if (this.error !== undefined) {
      this.complete(this.error);
      return;
    }
    const out: Buffer[] = [];
    const next = this.parts.map(() => 0);
    for (let position = 0; position < this.keys.length; position++) {
      const partIndex = this.partOf[position]!;
      const part = this.parts[partIndex]!;
      const at = next[partIndex]!;
      const value = part.values[at];
      if (value !== undefined && part.valueKeys[at]!.equals(this.keys[position]!)) {
        out.push(value);
        next[partIndex] = at + 1;
      }
    }
    out.push(END);
    this.complete(Buffer.concat(out));
  }
}

class RetrievalPart {
  sentAt = 0;
  readonly merged: MergedRetrieval;
  readonly values: Buffer[] = [];
  readonly valueKeys: Buffer[] = [];

  constructor(merged: MergedRetrieval) {
    this.merged = merged;
  }

  receive(frame: MemcachedReply): boolean {
    if (frame.kind === 'value') {
      this.values.push(frame.raw);
      this.valueKeys.push(frame.key);
      return false;
    }
    if (frame.kind !== 'end') this.merged.error ??= Buffer.from(frame.raw);
    this.merged.partDone();
    return true;
  }

  fail(message: string): void {
    this.merged.error ??= Buffer.from(`SERVER_ERROR ${clean(message)}\r\n`);
    this.merged.partDone();
  }
}

export function createMemcachedPool(
  name: string,
  config: ShardingConfig,
  logger: Logger,
): ShardPool<MemcachedReply> {
  return new ShardPool<MemcachedReply>(
    name,
    'memcached',
    config,
    { createParser: () => new MemcachedReplyParser({ maxValueLength: 1024 * 1024 * 1024 }) },
    logger,
  );
}

class MemcachedProtocol implements SessionProtocol<MemcachedRequest, MemcachedReply> {
  readonly name = 'memcached';

  createParser(limits: ListenerConfig['limits']) {
    return new MemcachedRequestParser({ maxValueLength: limits.maxValueBytes });
  }

  rawOf(frame: MemcachedReply): Buffer {
    return frame.raw;
  }

  errorReply(message: string, kind: 'client' | 'shard'): Buffer {
    return Buffer.from(`${kind === 'client' ? 'CLIENT_ERROR' : 'SERVER_ERROR'} ${clean(message)}\r\n`);
  }

  handle(session: MemcachedSession, request: MemcachedRequest, now: number): boolean {
    const pool = session.pool;
    const command = request.command;
    switch (command) {
      case 'quit':
        return false;
      case 'version':
        session.answer(VERSION);
        return true;
      case 'stats':
      case 'flush_all':
      case 'verbosity':
        session.listener.refused++;
        session.answer(
          this.errorReply(
            `command '${command}' is not supported by the sharding ambassador: it would need every shard`,
            'client',
          ),
        );
        return true;
      default:
        break;
    }
    const keys = request.keys;
    if (isRetrievalCommand(command)) {
      const firstShard = pool.shardFor(keys[0]!);
      if (firstShard === undefined) return noShard(session, this);
      let oneShard = true;
      const shards = new Array<number>(keys.length);
      shards[0] = firstShard;
      for (let index = 1; index < keys.length; index++) {
        const shard = pool.shardFor(keys[index]!);
        if (shard === undefined) return noShard(session, this);
        shards[index] = shard;
        if (shard !== firstShard) oneShard = false;
      }
      if (oneShard) {
        pool.send(firstShard, session.slot, request.raw, session.enqueue(new RetrievalReply(session)), now);
        return true;
      }
      const merged = session.enqueue(new MergedRetrieval(session, keys)) as MergedRetrieval;
      const partByShard = new Map<number, number>();
      const keysByPart: Buffer[][] = [];
      for (let index = 0; index < keys.length; index++) {
        let part = partByShard.get(shards[index]!);
        if (part === undefined) {
          part = merged.parts.length;
          partByShard.set(shards[index]!, part);
          merged.parts.push(new RetrievalPart(merged));
          keysByPart.push([]);
        }
        merged.partOf[index] = part;
        keysByPart[part]!.push(keys[index]!);
      }
      merged.remaining = merged.parts.length;
      const head =
        command === 'gat' || command === 'gats'
          ? Buffer.from(`${command} ${request.exptime ?? 0}`)
          : Buffer.from(command);
      for (const [shard, part] of partByShard) {
        const pieces: Buffer[] = [head];
        for (const key of keysByPart[part]!) pieces.push(SPACE, key);
        pieces.push(CRLF);
        pool.send(shard, session.slot, Buffer.concat(pieces), merged.parts[part]!, now);
      }
      return true;
    }
    const shard = pool.shardFor(keys[0]!);
    if (shard === undefined) return noShard(session, this);
    pool.send(
      shard,
      session.slot,
      request.raw,
      request.noreply ? undefined : session.enqueue(new Slot<MemcachedReply>(session)),
      now,
    );
    return true;
  }
}

function noShard(session: MemcachedSession, protocol: MemcachedProtocol): boolean {
  session.answer(protocol.errorReply('no live shard for this key: every shard is ejected', 'shard'));
  return true;
}

export class MemcachedListener extends ShardedListener<MemcachedRequest, MemcachedReply> {
  constructor(
    config: ListenerConfig,
    pool: ShardPool<MemcachedReply>,
    metrics: AmbassadorMetrics,
    logger: Logger,
  ) {
    super(config, pool, new MemcachedProtocol(), metrics, logger);
  }
}
