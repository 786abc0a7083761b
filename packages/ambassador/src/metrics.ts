import { Counter, Gauge, type Registry } from '@sidecar-kit/core';
import type { Cluster } from './cluster/cluster.js';
import type { Endpoint } from './cluster/endpoint.js';
import { LATENCY_BUCKETS, type RequestStats } from './cluster/recorder.js';
import type { RequestBuffers } from './listener/body.js';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * ambassador_request_duration_seconds, exposed from the RequestStats of every endpoint at scrape
 * time (prom-client's Registry accepts any metric object with get()).
 */
class LatencyHistogram {
  readonly name: string;
  readonly help =
    'Time from receiving a request to the end of its response, retries included, by the endpoint that answered (none: answered by the ambassador)';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #clusters: Cluster[];

  constructor(name: string, clusters: Cluster[]) {
    this.name = name;
    this.#clusters = clusters;
  }

  get() {
    const values: MetricValue[] = [];
    const add = (cluster: string, endpoint: string, stats: RequestStats) => {
      if (stats.latencyCount === 0) return;
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, index) => {
        cumulative += stats.buckets[index] as number;
        values.push({
          labels: { le, cluster, endpoint },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      });
      values.push({
        labels: { le: '+Inf', cluster, endpoint },
        value: stats.latencyCount,
        metricName: `${this.name}_bucket`,
      });
      values.push({ labels: { cluster, endpoint }, value: stats.latencySum, metricName: `${this.name}_sum` });
      values.push({
        labels: { cluster, endpoint },
        value: stats.latencyCount,
        metricName: `${this.name}_count`,
      });
    };
    for (const cluster of this.#clusters) {
      for (const endpoint of cluster.endpoints) add(cluster.name, endpoint.address, endpoint.stats);
      add(cluster.name, 'none', cluster.localStats);
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {}
}

/**
 * The ambassador's metrics. What happens per request is counted in plain numbers on the cluster
 * and endpoint objects and read here at scrape time, so the data path does no label hashing.
 */
export class AmbassadorMetrics {
  readonly retries: Counter<'cluster' | 'reason'>;
  readonly ejections: Counter<'cluster' | 'endpoint'>;
  readonly localErrors: Counter<'listener' | 'reason'>;
  readonly tcpConnections: Counter<'listener'>;
  readonly #clusters: Cluster[] = [];
  readonly #buffers = new Map<string, RequestBuffers>();

  constructor(registry: Registry, prefix: string) {
    const registers = [registry];
    const clusters = this.#clusters;
    new Counter({
      name: `${prefix}upstream_requests_total`,
      help: 'Requests answered by upstream endpoints, by status class',
      labelNames: ['cluster', 'endpoint', 'class'],
      registers,
      collect() {
        this.reset();
        for (const cluster of clusters)
          for (const endpoint of cluster.endpoints)
            endpoint.stats.statusClasses.forEach((count, index) => {
              if (count > 0)
                this.labels(cluster.name, endpoint.address, STATUS_CLASSES[index] as string).inc(count);
            });
      },
    });
    new Counter({
      name: `${prefix}upstream_grpc_responses_total`,
      help: 'gRPC calls answered by upstream endpoints, by grpc-status (from the trailers or a trailers-only answer; "other" for codes above 16)',
      labelNames: ['cluster', 'endpoint', 'grpc_status'],
      registers,
      collect() {
        this.reset();
        for (const cluster of clusters)
          for (const endpoint of cluster.endpoints)
            endpoint.stats.grpcStatuses.forEach((count, code) => {
              if (count > 0)
                this.labels(cluster.name, endpoint.address, code === 17 ? 'other' : String(code)).inc(count);
            });
      },
    });
    registry.registerMetric(new LatencyHistogram(`${prefix}request_duration_seconds`, clusters) as never);
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
      help: 'Responses the ambassador made itself, by reason (no_healthy_upstream, circuit_open, upstream_timeout, upstream_reset, upstream_connect_failure, not_a_forward_proxy; client mistakes: bad_request, request_body_timeout, request_header_timeout, request_header_fields_too_large, uri_too_long)',
      labelNames: ['listener', 'reason'],
      registers,
    });
    this.tcpConnections = new Counter({
      name: `${prefix}tcp_connections_total`,
      help: 'Connections accepted by tcp listeners',
      labelNames: ['listener'],
      registers,
    });
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
      aggregator: 'min', // with several workers: 1 only if every worker in this state takes requests
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
    const buffers = this.#buffers;
    new Gauge({
      name: `${prefix}request_buffer_bytes`,
      help: 'Bytes of request bodies held for a possible retry, per listener',
      labelNames: ['listener'],
      registers,
      collect() {
        this.reset();
        for (const [listener, held] of buffers) this.labels(listener).set(held.bytes);
      },
    });
    new Gauge({
      name: `${prefix}cluster_endpoints`,
      help: 'Endpoints known per cluster',
      labelNames: ['cluster'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const cluster of clusters) this.labels(cluster.name).set(cluster.endpoints.length);
      },
    });
  }

  /** Reads a listener's held request bodies at every scrape. */
  trackBuffers(listener: string, buffers: RequestBuffers): void {
    this.#buffers.set(listener, buffers);
  }

  /** Reads the cluster at every scrape and counts what it reports (ejections, removed endpoints). */
  track(cluster: Cluster): void {
    this.#clusters.push(cluster);
    cluster.on('ejection', (endpoint) => this.ejections.labels(cluster.name, endpoint.address).inc());
    // A removed endpoint's series must go, or endpoint churn would grow the registry.
    cluster.on('endpoint-removed', (address) => this.ejections.remove(cluster.name, address));
  }
}
