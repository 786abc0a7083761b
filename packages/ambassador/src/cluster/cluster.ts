import { EventEmitter } from 'node:events';
import type { Logger } from '@sidecar-kit/core';
import type { ClusterConfig } from '../config.js';
import {
  CircuitOpenError,
  type FailureKind,
  NoHealthyUpstreamError,
  type Refusal,
  RetryBudgetExhaustedError,
} from '../errors.js';
import { type Balancer, createBalancer } from '../lb/index.js';
import { Endpoint, readTls, type UpstreamTls } from './endpoint.js';
import { type ClusterLoad, Lease, type LeaseOwner } from './lease.js';
import { RequestStats } from './recorder.js';

/** What a cluster tells its observers (metrics) about; they read everything else from snapshots. */
export interface ClusterEvents {
  /** Outlier detection ejected this endpoint. */
  ejection: [endpoint: Endpoint];
  /** A removed endpoint finished draining and is gone for good. */
  'endpoint-removed': [address: string];
}

/**
 * A service cluster: its endpoints (from config or discovery), how requests are spread over them,
 * and what is known about their health. Listeners take a lease per attempt (`acquire`) and report
 * its outcome through it; the lease is the only way in, so every listener gets the same limits.
 */
export class Cluster extends EventEmitter<ClusterEvents> {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly tls: UpstreamTls | undefined;
  readonly #balancer: Balancer<Endpoint>;
  readonly #logger: Logger;
  #endpoints: Endpoint[] = [];
  #available: Endpoint[] | undefined;
  #availableUntil = 0;
  readonly #draining = new Set<Endpoint>();
  readonly #load: ClusterLoad = { requests: 0, retries: 0 };
  readonly #leaseOwner: LeaseOwner = {
    load: this.#load,
    recordSuccess: (endpoint) => {
      endpoint.consecutiveFailures = 0;
      endpoint.consecutiveConnectFailures = 0;
    },
    recordFailure: (endpoint, kind) => this.#recordFailure(endpoint, kind),
  };
  /** Requests the ambassador answered itself (no endpoint): their latency. */
  readonly localStats = new RequestStats();
  /** Set once discovery produced a first answer (static clusters: at once). */
  discovered = false;
  /** When the endpoint set last changed (the first set counts), ms since the epoch. */
  endpointsChangedAt: number | undefined;

  constructor(config: ClusterConfig, logger: Logger) {
    super();
    this.name = config.name;
    this.config = config;
    this.tls = readTls(config.tls);
    this.#balancer = createBalancer<Endpoint>(config.lb);
    this.#logger = logger.child({ cluster: config.name });
    if (config.endpoints) this.setEndpoints(config.endpoints);
  }

  /** Attempts in flight in the whole cluster (circuit breaker, retry budget). */
  get active(): number {
    return this.#load.requests;
  }

  /** Retries among them. */
  get activeRetries(): number {
    return this.#load.retries;
  }

  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /** Removed endpoints still finishing their requests in flight. */
  get drainingEndpoints(): readonly Endpoint[] {
    return [...this.#draining];
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
          this.emit('endpoint-removed', endpoint.address);
      });
    }
    this.#endpoints = next;
    this.#invalidate();
    if (added.length || removed.length || !this.discovered) this.endpointsChangedAt = Date.now();
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

  /**
   * A lease for one HTTP request attempt (or upgrade tunnel): the circuit breaker admits it (requests in flight stay
   * below `maxConnections + maxPendingRequests`, the pool queues the rest), the balancer picks the
   * endpoint, avoiding `tried` ones while others are available. A retry (`tried` not empty) must
   * also fit the retry budget; `replacing` is the failed attempt's lease, if still held.
   */
  acquire(key: string | undefined): Lease | CircuitOpenError | NoHealthyUpstreamError;
  acquire(
    key: string | undefined,
    tried: ReadonlySet<Endpoint> | undefined,
    replacing?: Lease,
  ): Lease | Refusal;
  acquire(key: string | undefined, tried?: ReadonlySet<Endpoint>, replacing?: Lease): Lease | Refusal {
    const limits = this.config.circuitBreaker;
    return this.#acquire(key, tried, limits.maxConnections + limits.maxPendingRequests, replacing);
  }

  /**
   * A lease for one connection (tcp): as `acquire`, but nothing queues for a connection, so the
   * circuit breaker admits at most `maxConnections`; `replacing` as for `acquire`.
   */
  acquireConnection(key: string | undefined): Lease | CircuitOpenError | NoHealthyUpstreamError;
  acquireConnection(
    key: string | undefined,
    tried: ReadonlySet<Endpoint> | undefined,
    replacing?: Lease,
  ): Lease | Refusal;
  acquireConnection(
    key: string | undefined,
    tried?: ReadonlySet<Endpoint>,
    replacing?: Lease,
  ): Lease | Refusal {
    return this.#acquire(key, tried, this.config.circuitBreaker.maxConnections, replacing);
  }

  #acquire(
    key: string | undefined,
    tried: ReadonlySet<Endpoint> | undefined,
    limit: number,
    replacing?: Lease,
  ): Lease | Refusal {
    const load = this.#load;
    const isRetry = tried !== undefined && tried.size > 0;
    if (isRetry) {
      // A retry replaces an attempt that failed (a 5xx being drained, or an error reported with
      // its lease still held), so it takes no breaker slot of its own; the budget applies instead:
      // retries in flight stay below budgetPercent of the attempts in flight, at least 3. The
      // replaced attempt counts among the attempts (its request is still in flight); when it was
      // a retry itself, the new one takes its place among the retries rather than adding one.
      const retries = load.retries - (replacing?.held && replacing.isRetry ? 1 : 0);
      const budget = Math.max(3, (load.requests * this.config.retries.budgetPercent) / 100);
      if (retries >= budget)
        return new RetryBudgetExhaustedError(`cluster ${this.name}: ${load.retries} retries in flight`);
    } else if (load.requests >= limit) {
      return new CircuitOpenError(`cluster ${this.name}: ${load.requests} in flight, limit ${limit}`);
    }
    const endpoint = this.pick(key, tried);
    if (!endpoint) return new NoHealthyUpstreamError(`cluster ${this.name}: no endpoint available`);
    return new Lease(this.#leaseOwner, endpoint, isRetry);
  }

  /** Latency of a whole request, retries included, by the endpoint of its last attempt (if any). */
  recordLatency(endpoint: Endpoint | undefined, seconds: number): void {
    (endpoint?.stats ?? this.localStats).observe(seconds);
  }

  /**
   * Outlier detection: consecutive failures eject an endpoint for a growing time; consecutive
   * connect failures (local-origin: nothing was sent) do so sooner, before the next pick.
   */
  #recordFailure(endpoint: Endpoint, kind: FailureKind): void {
    endpoint.failures++;
    endpoint.failuresByKind[kind]++;
    endpoint.consecutiveFailures++;
    if (kind === 'connect-failure') endpoint.consecutiveConnectFailures++;
    else endpoint.consecutiveConnectFailures = 0;
    const detection = this.config.outlierDetection;
    if (!detection) return;
    const forConnectFailures = endpoint.consecutiveConnectFailures >= detection.consecutiveConnectFailures;
    if (!forConnectFailures && endpoint.consecutiveFailures < detection.consecutiveFailures) return;
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
    endpoint.consecutiveConnectFailures = 0;
    endpoint.ejectedForConnectFailures = forConnectFailures;
    this.#invalidate();
    this.emit('ejection', endpoint);
    this.#logger.warn(
      { endpoint: endpoint.address, reason: kind, ejectedForMs: endpoint.ejectedUntil - now },
      'endpoint ejected',
    );
  }

  /**
   * Active health checks passed `healthyThreshold` times in a row: an endpoint ejected for connect
   * failures takes requests again (it answers connections once more).
   */
  checksPassed(endpoint: Endpoint): void {
    if (!endpoint.ejectedForConnectFailures || endpoint.ejectedUntil <= Date.now()) return;
    endpoint.ejectedUntil = 0;
    endpoint.ejectedForConnectFailures = false;
    endpoint.consecutiveFailures = 0;
    endpoint.consecutiveConnectFailures = 0;
    this.#invalidate();
    this.#logger.info({ endpoint: endpoint.address }, 'endpoint returns from ejection: health checks pass');
  }

  /** Active health check verdict; a recovering endpoint also returns from ejection. */
  setHealth(endpoint: Endpoint, healthy: boolean, reason?: string): void {
    if (endpoint.healthy === healthy) return;
    endpoint.healthy = healthy;
    this.#invalidate();
    if (healthy) {
      endpoint.ejectedUntil = 0;
      endpoint.ejectedForConnectFailures = false;
      endpoint.consecutiveFailures = 0;
      endpoint.consecutiveConnectFailures = 0;
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
