import type { AddressInfo } from 'node:net';
import {
  type Counter,
  formatAge,
  formatDuration,
  type StatusCell,
  type StatusModel,
  type StatusSection,
  type StatusValue,
} from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { LATENCY_BUCKETS, RequestStats } from '../cluster/recorder.js';
import type { ListenerConfig } from '../config.js';
import type { DiscoveryAttempt } from '../discovery/dns.js';
import type { HealthChecker } from '../health/checker.js';
import type { AmbassadorMetrics } from '../metrics.js';

/** What the ambassador's status page reads: the objects that keep the data anyway. */
export interface AmbassadorStatusSources {
  listeners: ReadonlyArray<{ config: ListenerConfig; address(): AddressInfo | undefined }>;
  clusters: ReadonlyArray<{
    cluster: Cluster;
    checker: HealthChecker;
    discovery: { readonly lastAttempt: DiscoveryAttempt | undefined } | undefined;
  }>;
  metrics: Pick<AmbassadorMetrics, 'localErrors' | 'retries'>;
}

/**
 * The q-quantile (0..1) of the latencies recorded in `stats`, estimated from its buckets as
 * Prometheus' histogram_quantile does: linear within the bucket the rank falls in. Undefined with
 * no observation; Infinity when it falls in the +Inf bucket (above the largest bound).
 */
export function latencyQuantile(stats: Pick<RequestStats, 'buckets'>, q: number): number | undefined {
  let total = 0;
  for (const count of stats.buckets) total += count;
  if (total === 0) return undefined;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  let cumulative = 0;
  for (let index = 0; index < stats.buckets.length; index++) {
    const count = stats.buckets[index] as number;
    if (count === 0 || cumulative + count < rank) {
      cumulative += count;
      continue;
    }
    if (index >= LATENCY_BUCKETS.length) return Number.POSITIVE_INFINITY;
    const lower = index === 0 ? 0 : (LATENCY_BUCKETS[index - 1] as number);
    const upper = LATENCY_BUCKETS[index] as number;
    return lower + (upper - lower) * ((rank - cumulative) / count);
  }
  return Number.POSITIVE_INFINITY;
}

/** "0.42ms", "12.3ms", "1.25s"; "> 10s" for the +Inf bucket; a dash before any request. */
export function formatLatency(seconds: number | undefined): string | null {
  if (seconds === undefined) return null;
  if (!Number.isFinite(seconds)) return `> ${LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]}s`;
  if (seconds < 0.001) return `${(seconds * 1000).toFixed(2)}ms`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(1)}ms`;
  return `${seconds.toFixed(2)}s`;
}

/** The buckets of several stats added up (a cluster's latency over its endpoints). */
function combined(all: ReadonlyArray<RequestStats>): RequestStats {
  const sum = new RequestStats();
  for (const stats of all)
    stats.buckets.forEach((count, index) => {
      sum.buckets[index] = (sum.buckets[index] as number) + count;
    });
  return sum;
}

/** A counter's values by one label, e.g. local errors of one listener by reason. */
async function countsBy<L extends string>(
  counter: Counter<L>,
  match: L,
  key: L,
): Promise<Map<string, Map<string, number>>> {
  const result = new Map<string, Map<string, number>>();
  for (const { labels, value } of (await counter.get()).values) {
    if (!value) continue;
    const owner = String(labels[match] ?? '');
    const counts = result.get(owner) ?? new Map<string, number>();
    counts.set(String(labels[key] ?? ''), value);
    result.set(owner, counts);
  }
  return result;
}

function countsCell(counts: ReadonlyMap<string, number> | undefined): StatusCell {
  if (!counts?.size) return 'none';
  const text = [...counts].map(([kind, count]) => `${kind} ${count}`).join(', ');
  return { value: text, state: 'warn' };
}

const CLASS_NAMES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

function responses(stats: RequestStats): StatusCell {
  const parts = stats.statusClasses
    .map((count, index) => (count ? `${CLASS_NAMES[index]} ${count}` : ''))
    .filter(Boolean);
  return parts.length ? parts.join(' · ') : null;
}

/** "p50 / p99" of the latencies since start, a dash before the first request. */
function latencyCell(stats: RequestStats): StatusCell {
  const p50 = formatLatency(latencyQuantile(stats, 0.5));
  if (p50 === null) return null;
  return `${p50} / ${formatLatency(latencyQuantile(stats, 0.99))}`;
}

function clock(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

function stateCell(endpoint: Endpoint, cluster: Cluster, checker: HealthChecker, now: number): StatusValue {
  // Unhealthy shows before ejected (the ejection has its own column): it is the worse of the two.
  if (endpoint.draining)
    return { value: 'draining', state: 'warn', detail: 'removed by discovery; finishing its requests' };
  if (!endpoint.healthy) {
    const last = checker.lastCheck(endpoint);
    const needed = cluster.config.healthCheck?.healthyThreshold ?? 1;
    return {
      value: 'unhealthy',
      state: 'bad',
      detail:
        last && last.failure === undefined
          ? `recovering: ${last.streak} of ${needed} passing checks`
          : 'by its health checks',
    };
  }
  if (endpoint.ejectedUntil > now) return { value: 'ejected', state: 'warn', detail: 'by outlier detection' };
  return { value: 'healthy', state: 'ok' };
}

function healthCheckCell(endpoint: Endpoint, checker: HealthChecker, now: number): StatusCell {
  if (!checker.kind) return { value: 'no active check', detail: 'clusters[].healthCheck is not set' };
  const last = checker.lastCheck(endpoint);
  if (!last) return { value: 'not checked yet', state: 'warn' };
  const when = formatAge(last.at, now);
  if (last.failure === undefined)
    return { value: 'passed', state: 'ok', detail: `${when}, ${last.streak} in a row` };
  return { value: 'failed', state: 'bad', detail: `${last.failure} (${when}, ${last.streak} in a row)` };
}

function ejectionCell(endpoint: Endpoint, now: number): StatusCell {
  if (endpoint.ejectedUntil > now)
    return {
      value: `until ${clock(endpoint.ejectedUntil)} UTC`,
      state: 'warn',
      detail: `in ${formatDuration((endpoint.ejectedUntil - now) / 1000)}; ejection ${endpoint.ejections}`,
    };
  return endpoint.ejections ? `${endpoint.ejections} so far, not now` : 'never';
}

function failuresCell(endpoint: Endpoint): StatusCell {
  if (!endpoint.failures) return 0;
  const kinds = Object.entries(endpoint.failuresByKind)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(', ');
  if (!endpoint.consecutiveFailures) return { value: endpoint.failures, detail: kinds };
  return {
    value: endpoint.failures,
    state: 'warn',
    detail: `${kinds}; ${endpoint.consecutiveFailures} in a row`,
  };
}

function endpointRow(
  endpoint: Endpoint,
  cluster: Cluster,
  checker: HealthChecker,
  now: number,
): StatusCell[] {
  const stats = endpoint.stats;
  return [
    endpoint.address,
    stateCell(endpoint, cluster, checker, now),
    healthCheckCell(endpoint, checker, now),
    ejectionCell(endpoint, now),
    endpoint.pending
      ? { value: endpoint.active, detail: `${endpoint.pending} waiting for a connection` }
      : endpoint.active,
    endpoint.requests,
    responses(stats),
    failuresCell(endpoint),
    latencyCell(stats),
  ];
}

function discoveryCell(
  cluster: Cluster,
  discovery: AmbassadorStatusSources['clusters'][number]['discovery'],
  now: number,
): StatusCell {
  const config = cluster.config.discovery;
  if (!config) return { value: 'static', detail: `${cluster.config.endpoints?.length ?? 0} in the config` };
  const source = config.dns ? `dns ${config.dns.name}:${config.dns.port}` : `file ${config.file?.path ?? ''}`;
  const every = config.dns ? config.dns.refreshMs : (config.file?.pollMs ?? 0);
  const last = discovery?.lastAttempt;
  if (!last) return { value: source, state: 'warn', detail: 'not read yet' };
  if (last.error !== undefined)
    return {
      value: source,
      state: 'bad',
      detail: `${last.error} (${formatAge(last.at, now)}); keeping the known endpoints`,
    };
  return {
    value: source,
    state: 'ok',
    detail: `${config.dns ? 'looked up' : 'read'} ${formatAge(last.at, now)}, every ${formatDuration(every / 1000)}`,
  };
}

function policyNote(cluster: Cluster): string {
  const check = cluster.config.healthCheck;
  const detection = cluster.config.outlierDetection;
  const parts = [
    check
      ? `Health checks: ${check.path ? `GET ${check.path}` : 'TCP connect'} every ${formatDuration(check.intervalMs / 1000)} (timeout ${formatDuration(check.timeoutMs / 1000)}; unhealthy after ${check.unhealthyThreshold} failures, healthy after ${check.healthyThreshold} passes).`
      : 'No active health check.',
    detection
      ? `Outlier detection: ejected after ${detection.consecutiveFailures} failures in a row, for ${formatDuration(detection.baseEjectionMs / 1000)} × its ejections (at most ${detection.maxEjectionPercent}% of the endpoints).`
      : 'No outlier detection.',
    'Latency: since start, estimated from the histogram buckets.',
  ];
  return parts.join(' ');
}

/**
 * The ambassador's status page, read from what the data path counts anyway (plain numbers on the
 * clusters and endpoints, the health checker's last results, the metrics' counters): building it
 * sends nothing anywhere and costs the data path nothing.
 */
export async function ambassadorStatus(
  sources: AmbassadorStatusSources,
  now: number = Date.now(),
): Promise<StatusModel> {
  const localErrors = await countsBy(sources.metrics.localErrors, 'listener', 'reason');
  const retries = await countsBy(sources.metrics.retries, 'cluster', 'reason');
  const sections: StatusSection[] = [];
  sections.push({
    title: 'Listeners',
    columns: ['listener', 'protocol', 'address', 'cluster', 'answered by the ambassador'],
    rows: sources.listeners.map(({ config, address }): StatusCell[] => {
      const bound = address();
      return [
        config.name,
        config.protocol,
        bound
          ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
          : {
              value: 'not listening',
              state: 'bad',
              detail: `configured ${config.listen.host}:${config.listen.port}`,
            },
        config.cluster,
        countsCell(localErrors.get(config.name)),
      ];
    }),
  });
  sections.push({
    title: 'Clusters',
    note: 'Under each cluster its load balancing. Endpoints available take requests now (healthy and not ejected); in flight counts attempts, retries included; latency since start.',
    columns: [
      'cluster',
      'discovery',
      'last change',
      'endpoints available',
      'in flight',
      'retries',
      'latency p50 / p99',
    ],
    rows: sources.clusters.map(({ cluster, discovery }): StatusCell[] => {
      const total = cluster.endpoints.length;
      const available = cluster.available(now).length;
      const stats = combined([...cluster.endpoints.map((e) => e.stats), cluster.localStats]);
      return [
        { value: cluster.name, detail: cluster.config.lb },
        discoveryCell(cluster, discovery, now),
        cluster.endpointsChangedAt === undefined
          ? { value: 'no endpoints yet', state: 'warn' }
          : {
              value: formatAge(cluster.endpointsChangedAt, now),
              detail: `at ${clock(cluster.endpointsChangedAt)} UTC`,
            },
        {
          value: `${available} of ${total}`,
          state: available === 0 ? 'bad' : available < total ? 'warn' : 'ok',
          ...(cluster.drainingEndpoints.length
            ? { detail: `${cluster.drainingEndpoints.length} removed, draining` }
            : {}),
        },
        cluster.activeRetries
          ? { value: cluster.active, detail: `${cluster.activeRetries} retries` }
          : cluster.active,
        countsCell(retries.get(cluster.name)),
        latencyCell(stats),
      ];
    }),
  });
  for (const { cluster, checker } of sources.clusters) {
    sections.push({
      title: `Endpoints of ${cluster.name}`,
      note: policyNote(cluster),
      columns: [
        'endpoint',
        'state',
        'last health check',
        'ejection',
        'in flight',
        'requests',
        'responses',
        'failures',
        'latency p50 / p99',
      ],
      rows: [...cluster.endpoints, ...cluster.drainingEndpoints].map((endpoint) =>
        endpointRow(endpoint, cluster, checker, now),
      ),
      empty: cluster.discovered ? 'discovery found no endpoint' : 'discovery has not answered yet',
    });
  }
  return { sections };
}
