import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { UpstreamTls } from '../cluster/endpoint.js';
import { UpstreamConnectError } from '../errors.js';

export interface H2PoolOptions {
  /** `h2c`: cleartext with prior knowledge; `h2`: TLS with ALPN h2. */
  protocol: 'h2c' | 'h2';
  tls: UpstreamTls | undefined;
  connectMs: number;
  /** A session without streams for this long is closed. */
  idleMs: number;
  maxSessions: number;
}

interface Slot {
  readonly session: ClientHttp2Session;
  connected: boolean;
  /** GOAWAY received or closing: takes no new streams. */
  closing: boolean;
  streams: number;
  idleTimer: NodeJS.Timeout | undefined;
}

type StreamCallback = (error: UpstreamConnectError | undefined, stream?: ClientHttp2Stream) => void;

interface Waiter {
  headers: OutgoingHttpHeaders;
  endStream: boolean;
  callback: StreamCallback;
  cancelled: boolean;
}

/** Upper bound on streams per session when the peer allows "unlimited". */
const STREAM_CAP = 1000;

/**
 * The HTTP/2 sessions to one endpoint. A request gets a stream on the first session with room
 * under the peer's SETTINGS_MAX_CONCURRENT_STREAMS; another session opens only when every open one
 * is full (up to `maxSessions`), otherwise the request waits for a stream to end. A session that
 * got GOAWAY or closed takes no new streams; the streams it did not process fail as refused
 * (REFUSED_STREAM), which the caller may retry.
 */
export class H2Pool {
  readonly origin: string;
  readonly #options: H2PoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Waiter[] = [];
  #closed = false;

  constructor(host: string, port: number, options: H2PoolOptions) {
    const bracketed = host.includes(':') ? `[${host}]` : host;
    this.origin = `${options.protocol === 'h2' ? 'https' : 'http'}://${bracketed}:${port}`;
    this.#options = options;
  }

  /** Requests waiting for a stream. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Open sessions (connecting ones included). */
  get sessions(): number {
    return this.#slots.length;
  }

  /**
   * Opens a stream for `headers` (pseudo-headers included): at once when a session has room,
   * else once one does. The callback gets an `UpstreamConnectError` when no session could be
   * connected. The returned function cancels a request still waiting.
   */
  request(headers: OutgoingHttpHeaders, endStream: boolean, callback: StreamCallback): () => void {
    if (this.#closed) {
      callback(new UpstreamConnectError(`${this.origin}: pool closed`));
      return noop;
    }
    const slot = this.#free();
    const stream = slot && this.#open(slot, headers, endStream);
    if (stream) {
      callback(undefined, stream);
      return noop;
    }
    const waiter: Waiter = { headers, endStream, callback, cancelled: false };
    this.#queue.push(waiter);
    this.#grow();
    return () => {
      waiter.cancelled = true;
    };
  }

  #limit(slot: Slot): number {
    const remote = slot.session.remoteSettings?.maxConcurrentStreams ?? 100;
    return Math.min(remote, STREAM_CAP);
  }

  #free(): Slot | undefined {
    for (const slot of this.#slots)
      if (slot.connected && !slot.closing && slot.streams < this.#limit(slot)) return slot;
    return undefined;
  }

  /** Opens a session when every open one is full and the queue still has waiters. */
  #grow(): void {
    if (this.#queue.length === 0 || this.#closed) return;
    const usable = this.#slots.filter((slot) => !slot.closing);
    // A session still connecting will take the waiters; a second one would race it for nothing.
    if (usable.some((slot) => !slot.connected)) return;
    if (usable.length >= this.#options.maxSessions) return;
    this.#connect();
  }

  #connect(): void {
    const options = this.#options;
    const session = connect(this.origin, {
      ...(options.protocol === 'h2' ? { ...options.tls, ALPNProtocols: ['h2'] } : {}),
      // Large windows: a proxy must not be the flow-control bottleneck; backpressure still holds,
      // since a stream's window only reopens as its data is read.
      settings: { enablePush: false, initialWindowSize: 1024 * 1024 },
      peerMaxConcurrentStreams: 100,
    });
    const slot: Slot = { session, connected: false, closing: false, streams: 0, idleTimer: undefined };
    this.#slots.push(slot);
    const timer = setTimeout(() => {
      session.destroy(
        new UpstreamConnectError(`${this.origin}: connect timeout after ${options.connectMs}ms`),
      );
    }, options.connectMs);
    session.once('connect', () => {
      clearTimeout(timer);
      slot.connected = true;
      session.setLocalWindowSize(16 * 1024 * 1024);
      this.#idle(slot);
      this.#flush();
    });
    // The peer's stream limit arrives with its SETTINGS, after 'connect'.
    session.on('remoteSettings', () => this.#flush());
    session.once('goaway', () => {
      slot.closing = true;
      this.#grow();
    });
    session.on('error', () => {});
    session.once('close', () => {
      clearTimeout(timer);
      clearTimeout(slot.idleTimer);
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots.splice(index, 1);
      if (!slot.connected) {
        // Connecting failed: the waiters fail unless another session can still take them.
        if (!this.#slots.some((other) => !other.closing)) {
          const error = new UpstreamConnectError(`${this.origin}: connect failed`);
          for (const waiter of this.#queue.splice(0)) if (!waiter.cancelled) waiter.callback(error);
        }
      } else this.#grow();
    });
    session.unref();
  }

  /** A stream on the slot's session, or undefined when the session cannot open one any more. */
  #open(slot: Slot, headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream | undefined {
    let stream: ClientHttp2Stream;
    try {
      stream = slot.session.request(headers, { endStream });
    } catch {
      // destroyed meanwhile, or out of stream ids: the next session takes the request
      slot.closing = true;
      return undefined;
    }
    slot.streams++;
    if (slot.idleTimer) {
      clearTimeout(slot.idleTimer);
      slot.idleTimer = undefined;
    }
    stream.once('close', () => {
      slot.streams--;
      if (slot.streams === 0) this.#idle(slot);
      this.#flush();
    });
    return stream;
  }

  /** Hands free streams to the waiters, in order; opens a session for those left. */
  #flush(): void {
    while (this.#queue.length) {
      const head = this.#queue[0] as Waiter;
      if (head.cancelled) {
        this.#queue.shift();
        continue;
      }
      const slot = this.#free();
      if (!slot) break;
      const stream = this.#open(slot, head.headers, head.endStream);
      if (!stream) continue;
      this.#queue.shift();
      head.callback(undefined, stream);
    }
    this.#grow();
  }

  #idle(slot: Slot): void {
    if (slot.streams > 0 || slot.closing) return;
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      slot.closing = true;
      slot.session.close();
    }, this.#options.idleMs);
    slot.idleTimer.unref();
  }

  /** Stops taking requests, lets the streams in flight finish (GOAWAY), then closes; `force` cuts them. */
  async close(force: AbortSignal | undefined): Promise<void> {
    this.#closed = true;
    const error = new UpstreamConnectError(`${this.origin}: pool closed`);
    for (const waiter of this.#queue.splice(0)) if (!waiter.cancelled) waiter.callback(error);
    const destroy = () => {
      for (const slot of [...this.#slots]) slot.session.destroy();
    };
    if (force?.aborted) return destroy();
    for (const slot of this.#slots) {
      slot.closing = true;
      clearTimeout(slot.idleTimer);
      slot.session.close();
    }
    if (this.#slots.length === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        force?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        destroy();
        done();
      };
      force?.addEventListener('abort', onAbort, { once: true });
      const poll = () => {
        if (this.#slots.length === 0) done();
        else setTimeout(poll, 20).unref();
      };
      poll();
    });
  }
}

function noop(): void {}

/** NGHTTP2 stream error codes that say the peer did not process the stream: safe to send elsewhere. */
export const UNPROCESSED_CODES: ReadonlySet<number> = new Set([constants.NGHTTP2_REFUSED_STREAM]);
