/**
 * The shard connections of a sharding cluster (redis or memcached listeners), with twemproxy's failure policy.
 *
 * Like nutcracker, every client of a worker shares `serverConnections` connections per shard (default 1) and
 * the requests of all clients are pipelined on them: a connection keeps a FIFO of the requests it sent and
 * hands each reply frame to the oldest one. A client sticks to one connection index, so its commands to one
 * shard keep their order.
 *
 * Failures (connect error, reset, a reply that does not parse, or no reply within `timeoutMs`) close the
 * connection and answer every request in flight on it with an error, in order. Each failure counts for the shard;
 * with `autoEjectHosts`, `serverFailureLimit` consecutive failures take the shard out of the distribution
 * (`KeyDistributor.eject`: with ketama only its keys move) for `serverRetryTimeoutMs`, then it is put back. A
 * reply resets the count. Without ejection, a shard that cannot be connected to is "down" for
 * min(serverRetryTimeoutMs, 1 s): its commands fail at once instead of waiting for the timeout each.
 *
 * Hot path: no timer per request (one sweep per pool checks the oldest request of each connection), the clock
 * read once per received chunk, writes batched per tick, request bytes forwarded as received.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '@sidecar-kit/core';
import { readTls, type UpstreamTls } from '../cluster/endpoint.js';
import { RequestStats } from '../cluster/recorder.js';
import { type ShardingConfig, shardServerSpec } from '../config.js';
import { ProtocolError } from '../protocol/stream-buffer.js';
import { KeyDistributor, type ShardServer } from './distribution.js';

export interface FrameParser<Frame> {
  push(chunk: Uint8Array): void;
  next(): Frame | undefined;
}

/** A request waiting for its reply on a shard connection. */
export interface PendingReply<Frame> {
  /** When it was queued (performance.now() ms), set by the pool. */
  sentAt: number;
  /** Each reply frame for this request; returns true when the reply is complete. */
  receive(frame: Frame): boolean;
  /** The shard failed (or was unreachable) before the reply was complete. */
  fail(message: string): void;
}

export interface ShardProtocol<Frame> {
  createParser(): FrameParser<Frame>;
  /** Sent first on every new connection (Redis AUTH); `check` returns an error message or undefined. */
  readonly handshake?: { readonly request: Buffer; check(frame: Frame): string | undefined };
}

/** How long an unreachable shard fails its commands at once when it is not ejected. */
const MAX_DOWN_MS = 1000;

class ShardConnection<Frame> {
  socket: Socket | undefined;
  parser: FrameParser<Frame> | undefined;
  connected = false;
  openedAt = 0;
  handshaking = false;
  readonly queue: (PendingReply<Frame> | undefined)[] = [];
  head = 0;
  out: Buffer[] = [];
  flushScheduled = false;

  get pending(): number {
    return this.queue.length - this.head;
  }
}

export class Shard<Frame> {
  readonly index: number;
  readonly server: ShardServer;
  /** The `servers:` entry as configured. */
  readonly spec: string;
  /** TLS options for this shard's connections; undefined: plain TCP. */
  readonly tls: UpstreamTls | undefined;
  readonly connections: ShardConnection<Frame>[];
  readonly stats = new RequestStats();
  requests = 0;
  /** Requests answered with an error because the shard failed or was down. */
  errors = 0;
  failures = 0;
  consecutiveFailures = 0;
  ejections = 0;
  ejectedUntil = 0;
  downUntil = 0;

  constructor(
    index: number,
    server: ShardServer,
    spec: string,
    tls: UpstreamTls | undefined,
    connections: number,
  ) {
    this.index = index;
    this.server = server;
    this.spec = spec;
    this.tls = tls;
    this.connections = Array.from({ length: connections }, () => new ShardConnection<Frame>());
  }

  get pending(): number {
    let total = 0;
    for (const connection of this.connections) total += connection.pending;
    return total;
  }
}

export class ShardPool<Frame> {
  readonly name: string;
  readonly protocol: 'redis' | 'memcached';
  readonly config: ShardingConfig;
  readonly distributor: KeyDistributor;
  readonly shards: Shard<Frame>[];
  readonly #wire: ShardProtocol<Frame>;
  readonly #logger: Logger;
  readonly #sweep: NodeJS.Timeout;
  /** Listeners add 1 per client so connection indexes spread. */
  #nextClient = 0;
  #closed = false;
  #dirty: ShardConnection<Frame>[] = [];
  #flushScheduled = false;
  /** Where plain shard connections read; its bytes are copied out in the read callback. */
  readonly #readBuffer = Buffer.allocUnsafe(64 * 1024);

  constructor(
    name: string,
    protocol: 'redis' | 'memcached',
    config: ShardingConfig,
    wire: ShardProtocol<Frame>,
    logger: Logger,
  ) {
    this.name = name;
    this.protocol = protocol;
    this.config = config;
    this.#wire = wire;
    this.#logger = logger.child({ cluster: name });
    const specs = config.servers.map(shardServerSpec);
    this.distributor = new KeyDistributor({
      servers: specs,
      distribution: config.distribution,
      hash: config.hash,
      ...(config.hashTag === undefined ? {} : { hashTag: config.hashTag }),
    });
    const clusterTls = readTls(config.tls);
    this.shards = this.distributor.servers.map((server, index) => {
      const entry = config.servers[index]!;
      // A server's own `tls` replaces the cluster's; `tls: false` makes that one shard plain TCP.
      const ownTls =
        typeof entry === 'string' || entry.tls === undefined ? clusterTls : readTls(entry.tls || undefined);
      return new Shard<Frame>(index, server, specs[index]!, ownTls, config.serverConnections);
    });
    const every = Math.max(5, Math.min(250, Math.floor(config.timeoutMs / 4)));
    this.#sweep = setInterval(() => this.#check(performance.now()), every).unref();
  }

  /** The connection index a new client uses on every shard. */
  clientSlot(): number {
    const slot = this.#nextClient % this.config.serverConnections;
    this.#nextClient = (this.#nextClient + 1) % 1_000_000;
    return slot;
  }

  /** The shard index for a key, or undefined when every shard is ejected. */
  shardFor(key: Uint8Array): number | undefined {
    return this.distributor.serverIndexFor(key);
  }

  /**
   * Sends a request to a shard; its reply (frames) goes to `reply`, or nowhere when undefined (memcached
   * noreply). A shard that is down fails the reply at once.
   */
  send(
    shardIndex: number,
    slot: number,
    raw: Buffer,
    reply: PendingReply<Frame> | undefined,
    now: number,
  ): void {
    const shard = this.shards[shardIndex]!;
    if (this.#closed) {
      reply?.fail('the ambassador is shutting down');
      return;
    }
    if (shard.downUntil > now) {
      shard.errors++;
      reply?.fail(`shard ${shard.server.name ?? shard.server.address} is down`);
      return;
    }
    const connection = shard.connections[slot]!;
    if (connection.socket === undefined) this.#open(shard, connection, now);
    if (reply !== undefined) {
      reply.sentAt = now;
      connection.queue.push(reply);
      shard.requests++;
    }
    connection.out.push(raw);
    if (!connection.flushScheduled) {
      connection.flushScheduled = true;
      this.#dirty.push(connection);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flushAll);
      }
    }
  }

  /**
   * Writes what every connection has queued, once per event-loop turn: the commands of all the clients read in
   * one poll phase go to a shard in one write, as nutcracker's writev per epoll round.
   */
  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const connection of dirty) flush(connection);
  };

  #open(shard: Shard<Frame>, connection: ShardConnection<Frame>, now: number): void {
    const { host, port } = shard.server;
    const target = port === 0 ? { path: host } : { host: host.replace(/^\[|\]$/g, ''), port };
    const tls = shard.tls;
    const socket: Socket = tls
      ? tlsConnect({
          ...target,
          ...tls,
          // SNI is a host name: not for an IP address (nor a unix socket).
          ...(tls.servername || port === 0 || isIP(target.host ?? '') !== 0
            ? {}
            : { servername: target.host }),
        })
      : netConnect({
          ...target,
          noDelay: true,
          // Plain TCP reads into one buffer of the pool instead of a new 64 KiB one per read and skip the stream
          // machinery; the parser keeps views of what it is given, so each read is copied out (usually from
          // Node's small-buffer pool) before the buffer is read into again.
          onread: {
            buffer: this.#readBuffer,
            callback: (bytes: number, buffer: Uint8Array) => {
              this.#onData(shard, connection, socket, Buffer.from(buffer.subarray(0, bytes)));
              return true;
            },
          },
        });
    if (tls) socket.setNoDelay(true);
    connection.socket = socket;
    connection.parser = this.#wire.createParser();
    connection.connected = false;
    connection.openedAt = now;
    const handshake = this.#wire.handshake;
    if (handshake) {
      connection.handshaking = true;
      socket.write(handshake.request);
    }
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      connection.connected = true;
    });
    if (tls) socket.on('data', (chunk: Buffer) => this.#onData(shard, connection, socket, chunk));
    socket.on('error', (error: Error) => this.#fail(shard, connection, socket, error.message));
    socket.on('close', () => this.#fail(shard, connection, socket, 'connection closed by the shard'));
  }

  #onData(shard: Shard<Frame>, connection: ShardConnection<Frame>, socket: Socket, chunk: Buffer): void {
    const parser = connection.parser!;
    parser.push(chunk);
    const now = performance.now();
    const stats = shard.stats;
    try {
      for (let frame = parser.next(); frame !== undefined; frame = parser.next()) {
        if (connection.handshaking) {
          const problem = this.#wire.handshake?.check(frame);
          connection.handshaking = false;
          if (problem !== undefined) {
            this.#fail(shard, connection, socket, `AUTH failed: ${problem}`);
            return;
          }
          continue;
        }
        const reply = connection.queue[connection.head];
        if (reply === undefined) {
          this.#fail(shard, connection, socket, 'reply without a request');
          return;
        }
        if (reply.receive(frame)) {
          connection.queue[connection.head] = undefined;
          connection.head++;
          stats.observe((now - reply.sentAt) / 1000);
        }
        if (connection.socket !== socket) return; // a receive() callback closed the pool
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#fail(shard, connection, socket, `bad reply: ${error.message}`);
      return;
    }
    if (connection.head === connection.queue.length) {
      connection.queue.length = 0;
      connection.head = 0;
    } else if (connection.head > 1024 && connection.head * 2 > connection.queue.length) {
      connection.queue.splice(0, connection.head);
      connection.head = 0;
    }
    shard.consecutiveFailures = 0;
  }

  /** Closes a failed connection: every request in flight gets an error, in order; the failure counts. */
  #fail(shard: Shard<Frame>, connection: ShardConnection<Frame>, socket: Socket, reason: string): void {
    if (connection.socket !== socket) return;
    const wasConnected = connection.connected;
    connection.socket = undefined;
    connection.parser = undefined;
    connection.connected = false;
    connection.handshaking = false;
    connection.out = [];
    socket.destroy();
    const pending = connection.queue.slice(connection.head);
    connection.queue.length = 0;
    connection.head = 0;
    if (this.#closed) {
      for (const reply of pending) reply?.fail('the ambassador is shutting down');
      return;
    }
    const label = shard.server.name ?? shard.server.address;
    const message = `shard ${label}: ${reason}`;
    shard.errors += pending.length;
    for (const reply of pending) reply?.fail(message);
    // A shard closing an idle connection (its `timeout`) is not a failure.
    if (reason === 'connection closed by the shard' && wasConnected && pending.length === 0) return;
    this.#recordFailure(shard, wasConnected, reason);
  }

  #recordFailure(shard: Shard<Frame>, wasConnected: boolean, reason: string): void {
    const now = performance.now();
    shard.failures++;
    shard.consecutiveFailures++;
    const config = this.config;
    const label = shard.server.name ?? shard.server.address;
    if (config.autoEjectHosts && shard.consecutiveFailures >= config.serverFailureLimit) {
      if (shard.ejectedUntil === 0) {
        this.distributor.eject(shard.index);
        shard.ejections++;
        this.#logger.warn(
          {
            shard: label,
            reason,
            failures: shard.consecutiveFailures,
            ejectedForMs: config.serverRetryTimeoutMs,
          },
          'shard ejected',
        );
      }
      shard.ejectedUntil = now + config.serverRetryTimeoutMs;
      shard.consecutiveFailures = 0;
      return;
    }
    if (!wasConnected) shard.downUntil = now + Math.min(MAX_DOWN_MS, config.serverRetryTimeoutMs);
    this.#logger.warn({ shard: label, reason, failures: shard.consecutiveFailures }, 'shard failure');
  }

  /** The sweep: requests (and connects) older than timeoutMs fail their connection; ejections end. */
  #check(now: number): void {
    const timeoutMs = this.config.timeoutMs;
    for (const shard of this.shards) {
      if (shard.ejectedUntil > 0 && now >= shard.ejectedUntil) {
        shard.ejectedUntil = 0;
        shard.downUntil = 0;
        this.distributor.restore(shard.index);
        this.#logger.info({ shard: shard.server.name ?? shard.server.address }, 'shard restored');
      }
      for (const connection of shard.connections) {
        const socket = connection.socket;
        if (socket === undefined) continue;
        const oldest = connection.queue[connection.head];
        if (oldest !== undefined && now - oldest.sentAt > timeoutMs) {
          this.#fail(shard, connection, socket, `no reply within ${timeoutMs} ms`);
        } else if (!connection.connected && now - connection.openedAt > timeoutMs) {
          this.#fail(shard, connection, socket, `no connection within ${timeoutMs} ms`);
        }
      }
    }
  }

  snapshot() {
    const now = performance.now();
    return {
      name: this.name,
      lb: 'sharding' as const,
      protocol: this.protocol,
      distribution: this.config.distribution,
      hash: this.config.hash,
      ...(this.config.hashTag === undefined ? {} : { hashTag: this.config.hashTag }),
      active: this.shards.reduce((sum, shard) => sum + shard.pending, 0),
      endpoints: [] as never[],
      draining: [] as never[],
      shards: this.shards.map((shard) => ({
        server: shard.spec,
        address: shard.server.address,
        ...(shard.server.name === undefined ? {} : { name: shard.server.name }),
        weight: shard.server.weight,
        tls: shard.tls !== undefined,
        live: this.distributor.isLive(shard.index),
        ejectedForMs: shard.ejectedUntil > 0 ? Math.max(0, Math.round(shard.ejectedUntil - now)) : 0,
        down: shard.downUntil > now,
        connected: shard.connections.filter((connection) => connection.connected).length,
        pending: shard.pending,
        requests: shard.requests,
        errors: shard.errors,
        failures: shard.failures,
        consecutiveFailures: shard.consecutiveFailures,
        ejections: shard.ejections,
      })),
    };
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const shard of this.shards)
      for (const connection of shard.connections) {
        const socket = connection.socket;
        if (socket !== undefined) this.#fail(shard, connection, socket, 'the ambassador is shutting down');
      }
  }
}

export type ShardPoolSnapshot = ReturnType<ShardPool<unknown>['snapshot']>;

function flush<Frame>(connection: ShardConnection<Frame>): void {
  connection.flushScheduled = false;
  const out = connection.out;
  const socket = connection.socket;
  if (out.length === 0 || socket === undefined) return;
  connection.out = [];
  socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
}
