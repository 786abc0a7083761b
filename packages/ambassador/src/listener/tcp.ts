import {
  type AddressInfo,
  createServer,
  connect as netConnect,
  type OnReadOpts,
  type Server,
  type Socket,
} from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type Component, type Logger, listen } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { Lease } from '../cluster/lease.js';
import type { ListenerConfig } from '../config.js';
import { type LocalReason, UpstreamConnectError, UpstreamResetError } from '../errors.js';
import type { AmbassadorMetrics } from '../metrics.js';
import { drained } from './lifecycle.js';
import { RetryPolicy } from './retry.js';

/** Bytes read from an upstream at a time; one buffer per connection, reused while writes drain. */
const READ_BUFFER_BYTES = 64 * 1024;

/** One proxied connection. `active` is set by traffic and cleared by the idle sweep. */
interface Connection {
  client: Socket;
  active: boolean;
  idleSince: number;
}

/**
 * Copies bytes from one socket to the other with backpressure, and passes a half-close on
 * (`allowHalfOpen` sockets: the other direction keeps flowing). Leaner than stream.pipe().
 */
function forward(from: Socket, to: Socket, connection: Connection): void {
  from.on('data', (chunk: Buffer) => {
    connection.active = true;
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
}

/**
 * Read options for a plain upstream socket: Node reads straight into our buffer and calls us, which
 * skips the stream machinery per chunk (about a fifth of the tcp path's CPU in the benchmark). The
 * buffer is reused only while the client has taken each chunk synchronously: when a write is
 * queued, the queue still holds that memory, so the next read gets a fresh buffer.
 */
export function readInto(client: Socket, connection: Connection, upstream: () => Socket): OnReadOpts {
  let buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  return {
    buffer: () => buffer,
    callback: (bytes: number, into: Uint8Array) => {
      connection.active = true;
      const more = client.write((into as Buffer).subarray(0, bytes));
      if (client.writableLength > 0) buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      // false pauses the upstream socket; the client's drain resumes it
      if (!more) client.once('drain', () => upstream().resume());
      return more;
    },
  };
}

/**
 * A TCP listener: each client connection is balanced to one endpoint and bytes are piped both
 * ways. Each connection holds a lease of the cluster while it is open, so the circuit breaker
 * (`maxConnections`) and the retry budget apply as for HTTP requests. A failed connect is retried
 * on another endpoint (nothing was sent yet, so it is safe).
 */
export class TcpListener implements Component {
  readonly name: string;
  readonly #config: ListenerConfig;
  readonly #cluster: Cluster;
  readonly #metrics: AmbassadorMetrics;
  readonly #logger: Logger;
  readonly #connections = new Set<Connection>();
  readonly #retryPolicy: RetryPolicy;
  readonly #accepted: { inc(): void };
  #server: Server | undefined;
  #idle: (() => void) | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(config: ListenerConfig, cluster: Cluster, metrics: AmbassadorMetrics, logger: Logger) {
    this.name = `listener ${config.name}`;
    this.#config = config;
    this.#cluster = cluster;
    this.#metrics = metrics;
    this.#logger = logger.child({ listener: config.name });
    this.#retryPolicy = new RetryPolicy(cluster.config.retries);
    // the labelled child once, not a label lookup per connection
    this.#accepted = metrics.tcpConnections.labels(config.name);
  }

  address(): AddressInfo | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  async start(): Promise<void> {
    const server = createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (client) =>
      this.#onConnection(client),
    );
    this.#server = server;
    await listen(server, this.#config.listen);
    // One sweep closes idle connections instead of a timer per socket, which Node re-arms on every
    // read and write (a tenth of the tcp path's CPU). A connection closes after idleTimeoutMs of
    // silence in both directions, at most a quarter of that (and at most 1 s) later.
    const idleMs = this.#config.idleTimeoutMs;
    this.#sweep = setInterval(
      () => this.#closeIdle(idleMs),
      Math.max(10, Math.min(1000, Math.floor(idleMs / 4))),
    ).unref();
    this.#logger.info({ address: this.address(), cluster: this.#cluster.name }, 'tcp listener ready');
  }

  async stop(deadline: AbortSignal): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.close();
    await drained(this.#connections.size > 0, (done) => (this.#idle = done), deadline);
    clearInterval(this.#sweep);
    for (const connection of this.#connections) connection.client.destroy();
  }

  #closeIdle(idleMs: number): void {
    const now = performance.now();
    for (const connection of this.#connections) {
      if (connection.active) {
        connection.active = false;
        connection.idleSince = now;
      } else if (now - connection.idleSince >= idleMs) connection.client.destroy();
    }
  }

  #onConnection(client: Socket): void {
    this.#accepted.inc();
    const connection: Connection = { client, active: false, idleSince: performance.now() };
    this.#connections.add(connection);
    client.on('close', () => {
      this.#connections.delete(connection);
      if (this.#connections.size === 0) this.#idle?.();
    });
    client.on('error', () => {});
    const lease = this.#cluster.acquireConnection(this.#hashKey(client));
    if (lease instanceof Lease) this.#connectUpstream(connection, lease, 0, undefined);
    else this.#refuse(client, lease.reason);
  }

  #refuse(client: Socket, reason: LocalReason): void {
    this.#metrics.localErrors.labels(this.#config.name, reason).inc();
    client.destroy();
  }

  /** Connects the client to the lease's endpoint; a connect failure may retry on another one. */
  #connectUpstream(
    connection: Connection,
    lease: Lease,
    retries: number,
    tried: Set<Endpoint> | undefined,
  ): void {
    const { client } = connection;
    const cluster = this.#cluster;
    const endpoint = lease.endpoint;
    const tls = cluster.tls;
    const upstream: Socket = tls
      ? tlsConnect({ host: endpoint.host, port: endpoint.port, ...tls })
      : netConnect({
          host: endpoint.host,
          port: endpoint.port,
          noDelay: true,
          allowHalfOpen: true,
          onread: readInto(client, connection, () => upstream),
        });
    let connected = false;
    const timer = setTimeout(
      () => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
      cluster.config.timeouts.connectMs,
    );
    upstream.once(tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      clearTimeout(timer);
      lease.connected();
      forward(client, upstream, connection);
      if (tls) forward(upstream, client, connection);
      else upstream.once('end', () => client.end());
      client.resume();
    });
    upstream.on('error', (error: Error & { code?: string }) => {
      clearTimeout(timer);
      if (connected) {
        lease.release(new UpstreamResetError(error.message, { cause: error }));
        client.destroy();
        return;
      }
      const failure = new UpstreamConnectError(error.message, { cause: error });
      // Reported first (an ejection it causes applies to the retry's pick), released once the
      // retry's lease is taken (the retry budget still counts this connection).
      lease.failed(failure);
      if (client.destroyed) {
        lease.release();
        return;
      }
      if (this.#retryPolicy.retriesFailure(failure, retries, 'unsent-only')) {
        const retried = tried ?? new Set();
        retried.add(endpoint);
        const next = cluster.acquireConnection(this.#hashKey(client), retried, lease);
        lease.release();
        if (next instanceof Lease) {
          this.#metrics.retries.labels(cluster.name, failure.kind).inc();
          this.#connectUpstream(connection, next, retries + 1, retried);
          return;
        }
      }
      lease.release();
      this.#logger.warn({ endpoint: endpoint.address, error: error.message }, 'upstream connect failed');
      this.#refuse(client, 'upstream_connect_failure');
    });
    upstream.on('close', () => {
      lease.release();
      if (connected) client.end();
    });
    client.on('close', () => upstream.destroy());
  }

  #hashKey(client: Socket): string | undefined {
    return this.#cluster.config.hash?.sourceAddress ? client.remoteAddress : undefined;
  }
}
