import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { ClusterConfig } from '../config.js';
import type { FailureKind } from '../errors.js';
import { H2Pool } from '../upstream/h2-pool.js';
import { RequestStats } from './recorder.js';

export type EndpointState = 'healthy' | 'unhealthy' | 'ejected' | 'draining';

/** TLS settings for https upstreams, files already read. */
export interface UpstreamTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

export function readTls(config: ClusterConfig['tls']): UpstreamTls | undefined {
  if (!config) return undefined;
  return {
    ...(config.ca ? { ca: readFileSync(config.ca) } : {}),
    ...(config.cert ? { cert: readFileSync(config.cert) } : {}),
    ...(config.key ? { key: readFileSync(config.key) } : {}),
    ...(config.serverName ? { servername: config.serverName } : {}),
    rejectUnauthorized: config.rejectUnauthorized,
  };
}

export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  return { host, port: Number(address.slice(at + 1)) };
}

/**
 * One instance of a service cluster: its connection pool, its health as seen by active checks and
 * by outlier detection, and its counters.
 */
export class Endpoint {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly origin: string;
  /** Passed active health checks (true until a check says otherwise). */
  healthy = true;
  ejectedUntil = 0;
  ejections = 0;
  draining = false;
  active = 0;
  requests = 0;
  failures = 0;
  consecutiveFailures = 0;
  /** `failures` by kind (the status page reads it). */
  readonly failuresByKind: Record<FailureKind, number> = {
    'connect-failure': 0,
    reset: 0,
    timeout: 0,
    '5xx': 0,
  };
  /** Connect failures in a row (outlierDetection.consecutiveConnectFailures). */
  consecutiveConnectFailures = 0;
  /** The current ejection is for connect failures: a passing active health check ends it. */
  ejectedForConnectFailures = false;
  readonly stats = new RequestStats();
  #pool: Pool | undefined;
  readonly #poolOptions: Pool.Options;
  #h2: H2Pool | undefined;
  readonly #config: ClusterConfig;
  readonly #tls: UpstreamTls | undefined;

  constructor(address: string, config: ClusterConfig, tls: UpstreamTls | undefined) {
    this.address = address;
    this.#config = config;
    this.#tls = tls;
    const { host, port } = splitAddress(address);
    this.host = host;
    this.port = port;
    const bracketed = host.includes(':') ? `[${host}]` : host;
    this.origin = `${tls ? 'https' : 'http'}://${bracketed}:${port}`;
    this.#poolOptions = {
      connections: config.circuitBreaker.maxConnections,
      pipelining: 1,
      headersTimeout: config.timeouts.requestMs,
      bodyTimeout: config.timeouts.idleMs,
      keepAliveTimeout: Math.min(config.timeouts.idleMs, 4000),
      keepAliveMaxTimeout: config.timeouts.idleMs,
      connect: { timeout: config.timeouts.connectMs, ...(tls ?? {}) },
    };
  }

  /** HTTP connection pool, created on first use so tcp clusters never hold one. */
  get pool(): Pool {
    this.#pool ??= new Pool(this.origin, this.#poolOptions);
    return this.#pool;
  }

  /** HTTP/2 sessions (clusters with protocol h2c or h2), created on first use. */
  get h2(): H2Pool {
    const config = this.#config;
    this.#h2 ??= new H2Pool(this.host, this.port, {
      protocol: config.protocol === 'h2' ? 'h2' : 'h2c',
      tls: this.#tls,
      connectMs: config.timeouts.connectMs,
      idleMs: config.timeouts.idleMs,
      maxSessions: config.http2.maxSessions,
    });
    return this.#h2;
  }

  get pending(): number {
    return (this.#pool?.stats.pending ?? 0) + (this.#h2?.pending ?? 0);
  }

  state(now = Date.now()): EndpointState {
    if (this.draining) return 'draining';
    if (this.ejectedUntil > now) return 'ejected';
    return this.healthy ? 'healthy' : 'unhealthy';
  }

  available(now: number): boolean {
    return this.healthy && !this.draining && this.ejectedUntil <= now;
  }

  /** Waits for requests in flight, then closes the pool; `force` destroys what is left. */
  async close(force: AbortSignal | undefined): Promise<void> {
    await Promise.all([this.#h2?.close(force), this.#closePool(force)]);
  }

  async #closePool(force: AbortSignal | undefined): Promise<void> {
    const pool = this.#pool;
    if (!pool) return;
    if (force?.aborted) return pool.destroy();
    const onAbort = () => void pool.destroy().catch(() => {});
    force?.addEventListener('abort', onAbort, { once: true });
    try {
      await pool.close();
    } catch {
      // destroyed by the deadline
    } finally {
      force?.removeEventListener('abort', onAbort);
    }
  }

  snapshot(now = Date.now()) {
    return {
      address: this.address,
      state: this.state(now),
      healthy: this.healthy,
      ejected: this.ejectedUntil > now,
      ...(this.ejectedUntil > now ? { ejectedForMs: this.ejectedUntil - now } : {}),
      ejections: this.ejections,
      active: this.active,
      pending: this.pending,
      requests: this.requests,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
    };
  }
}
