import { Counter, Gauge, Histogram, type Registry } from '@sidecar-kit/core';
import type { Cluster } from './cluster/cluster.js';
import type { Endpoint } from './cluster/endpoint.js';

type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

/** The ambassador's metrics; per-endpoint children are cached so the data path does no label hashing. */
export class AmbassadorMetrics {
  readonly requests: Counter<'cluster' | 'endpoint' | 'class'>;
  readonly duration: Histogram<'cluster' | 'endpoint'>;
  readonly retries: Counter<'cluster' | 'reason'>;
  readonly ejections: Counter<'cluster' | 'endpoint'>;
  readonly localErrors: Counter<'listener' | 'reason'>;
  readonly tcpConnections: Counter<'listener'>;
  readonly #requestChildren = new Map<
    string,
    ReturnType<Counter<'cluster' | 'endpoint' | 'class'>['labels']>
  >();
  readonly #clusters: Cluster[] = [];
  readonly #durationChildren = new Map<string, { observe(value: number): void }>();

  constructor(registry: Registry, prefix: string) {
    const registers = [registry];
    this.requests = new Counter({
      name: `${prefix}upstream_requests_total`,
      help: 'Requests answered by upstream endpoints, by status class',
      labelNames: ['cluster', 'endpoint', 'class'],
      registers,
    });
    this.duration = new Histogram({
      name: `${prefix}request_duration_seconds`,
      help: 'Time from receiving a request to the end of its response, retries included, by the endpoint that answered (none: answered by the ambassador)',
      labelNames: ['cluster', 'endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.retries = new Counter({
      name: `${prefix}retries_total`,
      help: 'Requests retried on another endpoint, by the failure that caused the retry',
      labelNames: ['cluster', 'reason'],
      registers,
    });
    this.ejections = new Counter({
      name: `${prefix}ejections_total`,
      help: 'Endpoints ejected by outlier detection',
      labelNames: ['cluster', 'endpoint'],
      registers,
    });
    this.localErrors = new Counter({
      name: `${prefix}local_errors_total`,
      help: 'Responses the ambassador made itself, by reason (no_healthy_upstream, circuit_open, timeout, upstream_reset, connect_failure, refused)',
      labelNames: ['listener', 'reason'],
      registers,
    });
    this.tcpConnections = new Counter({
      name: `${prefix}tcp_connections_total`,
      help: 'Connections accepted by tcp listeners',
      labelNames: ['listener'],
      registers,
    });
    const clusters = this.#clusters;
    /** A gauge read from every endpoint at scrape time. */
    const perEndpoint = (name: string, help: string, value: (endpoint: Endpoint) => number) =>
      new Gauge({
        name: `${prefix}${name}`,
        help,
        labelNames: ['cluster', 'endpoint'],
        registers,
        collect() {
          this.reset();
          for (const cluster of clusters)
            for (const endpoint of cluster.endpoints)
              this.labels(cluster.name, endpoint.address).set(value(endpoint));
        },
      });
    perEndpoint(
      'endpoint_active_requests',
      'Requests (or tcp connections) in flight per endpoint',
      (e) => e.active,
    );
    perEndpoint(
      'endpoint_pending_requests',
      'Requests waiting for a free connection per endpoint',
      (e) => e.pending,
    );
    new Gauge({
      name: `${prefix}endpoint_healthy`,
      help: '1 when the endpoint takes requests (healthy and not ejected), 0 otherwise',
      labelNames: ['cluster', 'endpoint', 'state'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const cluster of clusters)
          for (const endpoint of cluster.endpoints)
            this.labels(cluster.name, endpoint.address, endpoint.state(now)).set(
              endpoint.available(now) ? 1 : 0,
            );
      },
    });
    new Gauge({
      name: `${prefix}cluster_endpoints`,
      help: 'Endpoints known per cluster',
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const cluster of clusters) this.labels(cluster.name).set(cluster.endpoints.length);
      },
    });
  }

  track(cluster: Cluster): void {
    this.#clusters.push(cluster);
  }

  countResponse(cluster: string, endpoint: string, status: number): void {
    const statusClass = `${Math.min(Math.max(Math.floor(status / 100), 1), 5)}xx` as StatusClass;
    const key = `${cluster}\0${endpoint}\0${statusClass}`;
    let child = this.#requestChildren.get(key);
    if (!child) {
      child = this.requests.labels(cluster, endpoint, statusClass);
      this.#requestChildren.set(key, child);
    }
    child.inc();
  }

  observeDuration(cluster: string, endpoint: string | undefined, seconds: number): void {
    const key = `${cluster}\0${endpoint ?? 'none'}`;
    let child = this.#durationChildren.get(key);
    if (!child) {
      child = this.duration.labels(cluster, endpoint ?? 'none');
      this.#durationChildren.set(key, child);
    }
    child.observe(seconds);
  }

  /** Drops a removed endpoint's series, so endpoint churn (DNS) cannot grow the registry. */
  forgetEndpoint(cluster: string, endpoint: string): void {
    for (const key of this.#requestChildren.keys())
      if (key.startsWith(`${cluster}\0${endpoint}\0`)) this.#requestChildren.delete(key);
    for (const statusClass of ['1xx', '2xx', '3xx', '4xx', '5xx'])
      this.requests.remove(cluster, endpoint, statusClass);
    this.ejections.remove(cluster, endpoint);
    this.duration.remove(cluster, endpoint);
    this.#durationChildren.delete(`${cluster}\0${endpoint}`);
  }
}
