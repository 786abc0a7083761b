import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { grpcHealthCheck } from './grpc.js';

interface Streak {
  passes: number;
  fails: number;
  /** The last check: when it finished and why it failed (undefined: it passed). */
  at: number;
  failure: string | undefined;
}

/** An endpoint's last active check, as the status page shows it. */
export interface LastCheck {
  at: number;
  failure: string | undefined;
  /** Passes or failures in a row, the last one included. */
  streak: number;
}

/**
 * Active health checks: every intervalMs each endpoint gets an HTTP GET of `path` (2xx/3xx pass)
 * or, without a path, a TCP connect. `unhealthyThreshold` failures in a row mark it unhealthy,
 * `healthyThreshold` passes in a row bring it back.
 */
export class HealthChecker {
  readonly #cluster: Cluster;
  readonly #tcpOnly: boolean;
  readonly #streaks = new WeakMap<Endpoint, Streak>();
  #timer: NodeJS.Timeout | undefined;
  #running = new Set<Promise<void>>();

  constructor(cluster: Cluster, tcpOnly: boolean) {
    this.#cluster = cluster;
    this.#tcpOnly = tcpOnly;
  }

  /** How active checks are done, or undefined when the cluster has none. */
  get kind(): 'http' | 'tcp' | undefined {
    const config = this.#cluster.config.healthCheck;
    if (!config) return undefined;
    return config.path && !this.#tcpOnly ? 'http' : 'tcp';
  }

  /** The endpoint's last check (read by the status page), undefined before its first. */
  lastCheck(endpoint: Endpoint): LastCheck | undefined {
    const streak = this.#streaks.get(endpoint);
    if (!streak) return undefined;
    return {
      at: streak.at,
      failure: streak.failure,
      streak: streak.failure === undefined ? streak.passes : streak.fails,
    };
  }

  start(): void {
    const config = this.#cluster.config.healthCheck;
    if (!config) return;
    this.#timer = setInterval(() => this.runOnce(), config.intervalMs);
    this.#timer.unref();
    this.runOnce();
  }

  /** One round of checks over every endpoint (exposed for tests). */
  runOnce(): Promise<void> {
    const round = Promise.all(this.#cluster.endpoints.map((endpoint) => this.#check(endpoint))).then(
      () => {},
    );
    this.#running.add(round);
    void round.finally(() => this.#running.delete(round));
    return round;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#running);
  }

  async #check(endpoint: Endpoint): Promise<void> {
    const config = this.#cluster.config.healthCheck;
    if (!config || endpoint.draining) return;
    const failure = await (config.grpc && !this.#tcpOnly
      ? grpcHealthCheck(endpoint, config.grpc.service, config.timeoutMs)
      : config.path && !this.#tcpOnly
        ? this.#httpCheck(endpoint, config.path, config.timeoutMs)
        : this.#connectCheck(endpoint, config.timeoutMs));
    const streak = this.#streaks.get(endpoint) ?? { passes: 0, fails: 0, at: 0, failure: undefined };
    this.#streaks.set(endpoint, streak);
    streak.at = Date.now();
    streak.failure = failure;
    if (failure === undefined) {
      streak.passes++;
      streak.fails = 0;
      if (streak.passes >= config.healthyThreshold) {
        if (!endpoint.healthy) this.#cluster.setHealth(endpoint, true);
        else this.#cluster.checksPassed(endpoint);
      }
    } else {
      streak.fails++;
      streak.passes = 0;
      if (endpoint.healthy && streak.fails >= config.unhealthyThreshold)
        this.#cluster.setHealth(endpoint, false, failure);
    }
  }

  /** Resolves to a failure reason, or undefined when the check passed. */
  async #httpCheck(endpoint: Endpoint, path: string, timeoutMs: number): Promise<string | undefined> {
    try {
      const response = await endpoint.pool.request({
        method: 'GET',
        path,
        headers: { 'user-agent': 'sidecar-kit-ambassador/health-check' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body.dump();
      return response.statusCode < 400 ? undefined : `status ${response.statusCode}`;
    } catch (error) {
      return (error as Error).name === 'TimeoutError'
        ? `timeout after ${timeoutMs}ms`
        : String((error as Error).message);
    }
  }

  #connectCheck(endpoint: Endpoint, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const tls = this.#cluster.tls;
      const socket = tls
        ? tlsConnect({ host: endpoint.host, port: endpoint.port, ...tls })
        : netConnect({ host: endpoint.host, port: endpoint.port });
      const timer = setTimeout(() => done(`connect timeout after ${timeoutMs}ms`), timeoutMs);
      const done = (failure: string | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(failure);
      };
      socket.once(tls ? 'secureConnect' : 'connect', () => done(undefined));
      socket.once('error', (error) => done(error.message));
    });
  }
}
