import { type AddressInfo, createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Component, Logger } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { ListenerConfig } from '../config.js';
import type { AmbassadorMetrics } from '../metrics.js';
import { drained, listen } from './lifecycle.js';

/**
 * Copies bytes from one socket to the other with backpressure. Leaner than stream.pipe() on the
 * hot path (no per-chunk pipe bookkeeping), which the tcp benchmark shows.
 */
function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
}

/**
 * A TCP listener: each client connection is balanced to one endpoint and bytes are piped both
 * ways. A failed connect is retried on another endpoint (nothing was sent yet, so it is safe).
 */
export class TcpListener implements Component {
  readonly name: string;
  readonly #config: ListenerConfig;
  readonly #cluster: Cluster;
  readonly #metrics: AmbassadorMetrics;
  readonly #logger: Logger;
  readonly #connections = new Set<Socket>();
  #server: Server | undefined;
  #idle: (() => void) | undefined;

  constructor(config: ListenerConfig, cluster: Cluster, metrics: AmbassadorMetrics, logger: Logger) {
    this.name = `listener ${config.name}`;
    this.#config = config;
    this.#cluster = cluster;
    this.#metrics = metrics;
    this.#logger = logger.child({ listener: config.name });
  }

  address(): AddressInfo | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  async start(): Promise<void> {
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (client) =>
      this.#onConnection(client),
    );
    this.#server = server;
    await listen(server, this.#config.listen);
    this.#logger.info({ address: this.address(), cluster: this.#cluster.name }, 'tcp listener ready');
  }

  async stop(deadline: AbortSignal): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.close();
    await drained(this.#connections.size > 0, (done) => (this.#idle = done), deadline);
    for (const socket of this.#connections) socket.destroy();
  }

  #onConnection(client: Socket): void {
    this.#metrics.tcpConnections.labels(this.#config.name).inc();
    this.#connections.add(client);
    client.on('close', () => {
      this.#connections.delete(client);
      if (this.#connections.size === 0) this.#idle?.();
    });
    client.on('error', () => {});
    client.setTimeout(this.#config.idleTimeoutMs, () => client.destroy());
    this.#connectUpstream(client, 0, new Set());
  }

  #connectUpstream(client: Socket, attempt: number, tried: Set<Endpoint>): void {
    const cluster = this.#cluster;
    const key = cluster.config.hash?.sourceAddress ? client.remoteAddress : undefined;
    const endpoint = cluster.pick(key, tried);
    if (!endpoint || client.destroyed) {
      if (!endpoint) this.#metrics.localErrors.labels(this.#config.name, 'no_healthy_upstream').inc();
      client.destroy();
      return;
    }
    const tls = cluster.tls;
    const upstream = tls
      ? tlsConnect({ host: endpoint.host, port: endpoint.port, ...tls })
      : netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    endpoint.active++;
    endpoint.requests++;
    cluster.active++;
    let connected = false;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      endpoint.active--;
      cluster.active--;
    };
    const timer = setTimeout(
      () => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
      cluster.config.timeouts.connectMs,
    );
    upstream.once(tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      clearTimeout(timer);
      cluster.recordSuccess(endpoint);
      forward(client, upstream);
      forward(upstream, client);
      client.resume();
    });
    upstream.on('error', (error: Error & { code?: string }) => {
      clearTimeout(timer);
      release();
      if (connected) {
        cluster.recordFailure(endpoint, 'reset');
        client.destroy();
        return;
      }
      cluster.recordFailure(endpoint, 'connect-failure');
      const retries = cluster.config.retries;
      if (retries.on.includes('connect-failure') && attempt < retries.attempts) {
        tried.add(endpoint);
        this.#metrics.retries.labels(cluster.name, 'connect-failure').inc();
        this.#connectUpstream(client, attempt + 1, tried);
        return;
      }
      this.#metrics.localErrors.labels(this.#config.name, 'upstream_connect_failure').inc();
      this.#logger.warn({ endpoint: endpoint.address, error: error.message }, 'upstream connect failed');
      client.destroy();
    });
    upstream.on('close', () => {
      release();
      if (connected) client.end();
    });
    client.on('close', () => upstream.destroy());
  }
}
