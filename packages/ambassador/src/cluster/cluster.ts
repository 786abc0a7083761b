import type { Logger } from '@sidecar-kit/core';
import type { ClusterConfig } from '../config.js';
import { type Balancer, createBalancer } from '../lb/index.js';
import type { AmbassadorMetrics } from '../metrics.js';
import { Endpoint, readTls, type UpstreamTls } from './endpoint.js';
import { RequestStats } from './recorder.js';

export type FailureKind = 'connect-failure' | 'reset' | 'timeout' | '5xx';

/**
 * A service cluster: its endpoints (from config or discovery), how requests are spread over them,
 * and what is known about their health. Listeners ask it for an endpoint and report each outcome.
 */
export class Cluster {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly tls: UpstreamTls | undefined;
  readonly #balancer: Balancer;
  readonly #metrics: AmbassadorMetrics;
  readonly #logger: Logger;
  #endpoints: Endpoint[] = [];
  #available: Endpoint[] | undefined;
  #availableUntil = 0;
  readonly #draining = new Set<Endpoint>();
  /** Requests in flight in the whole cluster (circuit breaker, retry budget). */
  active = 0;
  activeRetries = 0;
  /** Requests the ambassador answered itself (no endpoint): their latency. */
  readonly localStats = new RequestStats();
  /** Set once discovery produced a first answer (static clusters: at once). */
  discovered = false;

  constructor(config: ClusterConfig, metrics: AmbassadorMetrics, logger: Logger) {
    this.name = config.name;
    this.config = config;
    this.tls = readTls(config.tls);
    this.#balancer = createBalancer(config.lb);
    this.#metrics = metrics;
    this.#logger = logger.child({ cluster: config.name });
    if (config.endpoints) this.setEndpoints(config.endpoints);
  }

  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /**
   * Applies a new endpoint set from discovery. Kept endpoints keep their pools and state; removed
   * ones stop receiving requests and close once their requests in flight are done.
   */
  setEndpoints(addresses: readonly string[]): void {
    const wanted = new Set(addresses);
    const current = new Map(this.#endpoints.map((endpoint) => [endpoint.address, endpoint]));
    const next: Endpoint[] = [];
    for (const address of wanted) {
      next.push(current.get(address) ?? new Endpoint(address, this.config, this.tls));
    }
    const added = next.filter((endpoint) => !current.has(endpoint.address)).map((e) => e.address);
    const removed = this.#endpoints.filter((endpoint) => !wanted.has(endpoint.address));
    for (const endpoint of removed) {
      endpoint.draining = true;
      this.#draining.add(endpoint);
      void endpoint.close(undefined).finally(() => {
        this.#draining.delete(endpoint);
        if (!this.#endpoints.some((kept) => kept.address === endpoint.address))
          this.#metrics.forgetEndpoint(this.name, endpoint.address);
      });
    }
    this.#endpoints = next;
    this.#invalidate();
    this.discovered = true;
    this.#balancer.rebuild(next);
    if (added.length || removed.length)
      this.#logger.info(
        { added, removed: removed.map((e) => e.address), endpoints: next.length },
        'cluster endpoints changed',
      );
  }

  /** The endpoints requests may go to now (cached until a state change or an ejection ends). */
  available(now = Date.now()): Endpoint[] {
    if (this.#available && now < this.#availableUntil) return this.#available;
    const result: Endpoint[] = [];
    let until = Number.POSITIVE_INFINITY;
    for (const endpoint of this.#endpoints) {
      if (endpoint.available(now)) result.push(endpoint);
      else if (endpoint.ejectedUntil > now) until = Math.min(until, endpoint.ejectedUntil);
    }
    this.#available = result;
    this.#availableUntil = until;
    return result;
  }

  #invalidate(): void {
    this.#available = undefined;
  }

  /** Picks an endpoint, avoiding `tried` ones while others are available. */
  pick(key: string | undefined, tried?: ReadonlySet<Endpoint>): Endpoint | undefined {
    let available = this.available();
    if (tried?.size) {
      const untried = available.filter((endpoint) => !tried.has(endpoint));
      if (untried.length) available = untried;
    }
    return this.#balancer.pick(available, key);
  }

  /** Circuit breaker: false when the cluster has as many requests as it may queue. */
  admits(): boolean {
    const limits = this.config.circuitBreaker;
    return this.active < limits.maxConnections + limits.maxPendingRequests;
  }

  /** Retry budget: retries in flight stay under budgetPercent of requests in flight (at least 3). */
  mayRetry(): boolean {
    const budget = Math.max(3, (this.active * this.config.retries.budgetPercent) / 100);
    return this.activeRetries < budget;
  }

  recordSuccess(endpoint: Endpoint): void {
    endpoint.consecutiveFailures = 0;
  }

  /** Outlier detection: consecutive failures eject an endpoint for a growing time. */
  recordFailure(endpoint: Endpoint, kind: FailureKind): void {
    endpoint.failures++;
    endpoint.consecutiveFailures++;
    const detection = this.config.outlierDetection;
    if (!detection || endpoint.consecutiveFailures < detection.consecutiveFailures) return;
    const now = Date.now();
    if (endpoint.ejectedUntil > now || endpoint.draining) return;
    const ejected = this.#endpoints.filter((e) => e.ejectedUntil > now).length;
    const allowed = Math.floor((this.#endpoints.length * detection.maxEjectionPercent) / 100);
    if (ejected + 1 > Math.max(allowed, 0)) {
      this.#logger.warn(
        { endpoint: endpoint.address, ejected, maxEjectionPercent: detection.maxEjectionPercent },
        'endpoint failing but not ejected: maxEjectionPercent reached',
      );
      return;
    }
    endpoint.ejections++;
    endpoint.ejectedUntil = now + detection.baseEjectionMs * Math.min(endpoint.ejections, 10);
    endpoint.consecutiveFailures = 0;
    this.#invalidate();
    this.#metrics.ejections.labels(this.name, endpoint.address).inc();
    this.#logger.warn(
      { endpoint: endpoint.address, reason: kind, ejectedForMs: endpoint.ejectedUntil - now },
      'endpoint ejected',
    );
  }

  /** Active health check verdict; a recovering endpoint also returns from ejection. */
  setHealth(endpoint: Endpoint, healthy: boolean, reason?: string): void {
    if (endpoint.healthy === healthy) return;
    endpoint.healthy = healthy;
    this.#invalidate();
    if (healthy) {
      endpoint.ejectedUntil = 0;
      endpoint.consecutiveFailures = 0;
    }
    this.#logger[healthy ? 'info' : 'warn'](
      { endpoint: endpoint.address, ...(reason ? { reason } : {}) },
      healthy ? 'endpoint healthy' : 'endpoint unhealthy',
    );
  }

  snapshot() {
    const now = Date.now();
    return {
      name: this.name,
      lb: this.config.lb,
      active: this.active,
      endpoints: this.#endpoints.map((endpoint) => endpoint.snapshot(now)),
      draining: [...this.#draining].map((endpoint) => endpoint.snapshot(now)),
    };
  }

  async close(deadline: AbortSignal): Promise<void> {
    await Promise.all([...this.#endpoints, ...this.#draining].map((endpoint) => endpoint.close(deadline)));
  }
}
