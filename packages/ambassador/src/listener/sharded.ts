/**
 * What the redis and memcached listeners share: the server, the client sessions with their ordered reply
 * queue, backpressure, idle sweep and shutdown. The protocol modules parse commands and route them.
 *
 * A session answers in the order the commands arrived, whatever shard answers first: each command takes a slot
 * at the tail of the queue and the replies are written from the head as soon as they are complete.
 *
 * Bounds per client (`limits`): the parser refuses values over maxValueBytes and commands over
 * maxRequestBytes; at maxPendingReplies commands in flight (or a reply buffer over half of
 * maxReplyBufferBytes) the session stops reading and parsing the client until half of them are answered;
 * beyond maxReplyBufferBytes of replies the client has not read, it gets an error and is closed.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { type Component, type Logger, listen } from '@sidecar-kit/core';
import type { ListenerConfig } from '../config.js';
import type { AmbassadorMetrics } from '../metrics.js';
import { ProtocolError } from '../protocol/stream-buffer.js';
import type { PendingReply, ShardPool } from '../sharding/pool.js';
import { drained } from './lifecycle.js';

/** What a slot needs of its session. */
export interface ReplySink<Frame> {
  readonly protocol: {
    rawOf(frame: Frame): Buffer;
    errorReply(message: string, kind: 'client' | 'shard'): Buffer;
  };
  replied(): void;
}

/** A place in a session's reply queue: complete once `reply` is set. */
export class Slot<Frame> implements PendingReply<Frame> {
  sentAt = 0;
  reply: Buffer | undefined;
  readonly session: ReplySink<Frame>;

  constructor(session: ReplySink<Frame>) {
    this.session = session;
  }

  /** The default: one frame is the reply, relayed as received. Overridden by multi-frame and merged replies. */
  receive(frame: Frame): boolean {
    this.complete(this.session.protocol.rawOf(frame));
    return true;
  }

  fail(message: string): void {
    this.complete(this.session.protocol.errorReply(message, 'shard'));
  }

  complete(reply: Buffer): void {
    this.reply = reply;
    this.session.replied();
  }
}

export interface SessionProtocol<Request, Frame> {
  readonly name: 'redis' | 'memcached';
  createParser(limits: ListenerConfig['limits']): {
    push(chunk: Uint8Array): void;
    next(): Request | undefined;
  };
  /** Routes or answers one command; returns false to stop reading (QUIT). */
  handle(session: Session<Request, Frame>, request: Request, now: number): boolean;
  rawOf(frame: Frame): Buffer;
  /** An error reply in the protocol's form; `kind` picks memcached's CLIENT_ERROR or SERVER_ERROR. */
  errorReply(message: string, kind: 'client' | 'shard'): Buffer;
}

export class Session<Request, Frame> implements ReplySink<Frame> {
  readonly socket: Socket;
  readonly listener: ShardedListener<Request, Frame>;
  readonly protocol: SessionProtocol<Request, Frame>;
  readonly pool: ShardPool<Frame>;
  /** This client's connection index on every shard. */
  readonly slot: number;
  readonly parser: { push(chunk: Uint8Array): void; next(): Request | undefined };
  authenticated: boolean;
  active = true;
  idleSince = 0;
  readonly #queue: (Slot<Frame> | undefined)[] = [];
  #head = 0;
  #flushScheduled = false;
  #paused = false;
  /** No more commands are read (QUIT, bad input, client half-close); the socket ends once all is written. */
  #closing = false;
  /** The client half-closed. */
  #ended = false;
  #drainWaiting = false;
  readonly #limits: ListenerConfig['limits'];

  constructor(listener: ShardedListener<Request, Frame>, socket: Socket, authenticated: boolean) {
    this.listener = listener;
    this.socket = socket;
    this.protocol = listener.protocol;
    this.pool = listener.pool;
    this.slot = listener.pool.clientSlot();
    this.#limits = listener.config.limits;
    this.parser = this.protocol.createParser(this.#limits);
    this.authenticated = authenticated;
    socket.on('data', (chunk: Buffer) => {
      this.active = true;
      this.parser.push(chunk);
      this.#read();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#read();
    });
  }

  /** Commands in flight or written-but-queued for this client. */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /** A new slot at the tail of the reply queue. */
  enqueue(slot: Slot<Frame>): Slot<Frame> {
    this.#queue.push(slot);
    return slot;
  }

  /** A reply the ambassador makes itself, in order. */
  answer(reply: Buffer): void {
    const slot = new Slot<Frame>(this);
    this.#queue.push(slot);
    slot.complete(reply);
  }

  /** Stops reading; the connection ends once every reply so far is written. */
  finish(): void {
    this.#closing = true;
    this.socket.pause();
    this.#maybeEnd();
  }

  /** A slot completed: the flush at the end of this tick writes what is complete from the head. */
  replied(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.listener.scheduleFlush(this);
  }

  #read(): void {
    if (this.#paused || this.#closing) return;
    const maxPending = this.#limits.maxPendingReplies;
    const now = performance.now();
    try {
      while (this.pending < maxPending) {
        const request = this.parser.next();
        if (request === undefined) break;
        if (!this.protocol.handle(this, request, now)) {
          this.finish();
          return;
        }
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.listener.protocolErrors++;
      this.answer(this.protocol.errorReply(`Protocol error: ${error.message}`, 'client'));
      this.finish();
      return;
    }
    const unread = this.socket.writableLength > this.#limits.maxReplyBufferBytes / 2;
    if (this.pending >= maxPending || unread) {
      this.#paused = true;
      this.socket.pause();
      // Nothing in flight may be left to flush (and resume): the client reading its replies does.
      if (unread) this.#resumeOnDrain();
    } else if (this.#ended) {
      // The client half-closed and every command it sent is routed: end once they are answered.
      this.#closing = true;
      this.#maybeEnd();
    }
  }

  /** Writes the complete replies at the head of the queue, in order, in one write. */
  flush(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    let head = this.#head;
    const first = queue[head];
    if (first?.reply === undefined) return;
    const socket = this.socket;
    // One reply (the unpipelined case) is written as it is; several are joined into one write.
    const firstReply = first.reply;
    let parts: Buffer[] | undefined;
    queue[head++] = undefined;
    for (let slot = queue[head]; slot?.reply !== undefined; slot = queue[head]) {
      parts ??= [firstReply];
      parts.push(slot.reply);
      queue[head++] = undefined;
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    this.#head = head;
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(parts === undefined ? firstReply : Buffer.concat(parts));
    const limits = this.#limits;
    if (socket.writableLength > limits.maxReplyBufferBytes) {
      // The client does not read its replies: like Redis' client-output-buffer-limit, close it. The error goes
      // after the replies it has not read; whether or not it reads them, the socket is gone a second later.
      this.listener.overflows++;
      this.#closing = true;
      socket.end(
        this.protocol.errorReply(
          `client reply buffer over ${limits.maxReplyBufferBytes} bytes unread, closing the connection`,
          'client',
        ),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    if (this.#paused && this.pending <= limits.maxPendingReplies / 2) {
      if (socket.writableLength > limits.maxReplyBufferBytes / 2) this.#resumeOnDrain();
      else this.#resume();
    }
    this.#maybeEnd();
  }

  #resumeOnDrain(): void {
    if (this.#drainWaiting) return;
    this.#drainWaiting = true;
    this.socket.once('drain', () => {
      this.#drainWaiting = false;
      this.#resume();
    });
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#closing) this.socket.resume();
    this.#read();
  }

  #maybeEnd(): void {
    if (this.#closing && this.pending === 0 && !this.socket.destroyed && this.socket.writable)
      this.socket.end();
  }
}

/** A listener whose clients speak a sharded protocol. */
export class ShardedListener<Request, Frame> implements Component {
  readonly name: string;
  readonly config: ListenerConfig;
  readonly pool: ShardPool<Frame>;
  readonly protocol: SessionProtocol<Request, Frame>;
  readonly #logger: Logger;
  readonly #sessions = new Set<Session<Request, Frame>>();
  readonly #accepted: { inc(): void };
  /** Counted here, read by the metrics at scrape time. */
  protocolErrors = 0;
  overflows = 0;
  refused = 0;
  #server: Server | undefined;
  #idle: (() => void) | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #dirty: Session<Request, Frame>[] = [];
  #flushScheduled = false;

  /**
   * Sessions with complete replies are flushed once per event-loop turn: replies from the chunks of every shard
   * read in one poll phase reach a client in one write.
   */
  scheduleFlush(session: Session<Request, Frame>): void {
    this.#dirty.push(session);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flushAll);
  }

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const session of dirty) session.flush();
  };

  constructor(
    config: ListenerConfig,
    pool: ShardPool<Frame>,
    protocol: SessionProtocol<Request, Frame>,
    metrics: AmbassadorMetrics,
    logger: Logger,
  ) {
    this.name = `listener ${config.name}`;
    this.config = config;
    this.pool = pool;
    this.protocol = protocol;
    this.#logger = logger.child({ listener: config.name });
    this.#accepted = metrics.tcpConnections.labels(config.name);
    metrics.trackShardedListener(this);
  }

  address(): AddressInfo | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  async start(): Promise<void> {
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) =>
      this.#onConnection(socket),
    );
    this.#server = server;
    await listen(server, this.config.listen);
    const idleMs = this.config.idleTimeoutMs;
    this.#sweep = setInterval(
      () => this.#closeIdle(idleMs),
      Math.max(10, Math.min(1000, Math.floor(idleMs / 4))),
    ).unref();
    this.#logger.info(
      { address: this.address(), cluster: this.pool.name, protocol: this.protocol.name },
      `${this.protocol.name} listener ready`,
    );
  }

  async stop(deadline: AbortSignal): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.close();
    for (const session of this.#sessions) if (session.pending === 0) session.socket.end();
    await drained(this.#sessions.size > 0, (done) => (this.#idle = done), deadline);
    clearInterval(this.#sweep);
    for (const session of this.#sessions) session.socket.destroy();
  }

  #closeIdle(idleMs: number): void {
    const now = performance.now();
    for (const session of this.#sessions) {
      if (session.active || session.pending > 0) {
        session.active = false;
        session.idleSince = now;
      } else if (now - session.idleSince >= idleMs) session.socket.destroy();
    }
  }

  #onConnection(socket: Socket): void {
    this.#accepted.inc();
    socket.on('error', () => {});
    const session = new Session<Request, Frame>(this, socket, this.config.password === undefined);
    session.idleSince = performance.now();
    this.#sessions.add(session);
    socket.on('close', () => {
      this.#sessions.delete(session);
      if (this.#sessions.size === 0) this.#idle?.();
    });
  }
}
