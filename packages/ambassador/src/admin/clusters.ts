import type { WorkerAnswer } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';
import type { ShardPoolSnapshot } from '../sharding/pool.js';

export type ClusterSnapshot = ReturnType<Cluster['snapshot']> & { shards?: ShardPoolSnapshot['shards'] };
type ShardSnapshot = ShardPoolSnapshot['shards'][number];

/** Shards of a sharding cluster over the workers: counters summed, live only if live in every worker. */
function mergeShards(views: ShardSnapshot[][]): ShardSnapshot[] {
  const merged = new Map<string, ShardSnapshot>();
  for (const shards of views)
    for (const shard of shards) {
      const seen = merged.get(shard.server);
      if (!seen) {
        merged.set(shard.server, { ...shard });
        continue;
      }
      merged.set(shard.server, {
        ...seen,
        live: seen.live && shard.live,
        down: seen.down || shard.down,
        ejectedForMs: Math.max(seen.ejectedForMs, shard.ejectedForMs),
        connected: seen.connected + shard.connected,
        pending: seen.pending + shard.pending,
        requests: seen.requests + shard.requests,
        errors: seen.errors + shard.errors,
        failures: seen.failures + shard.failures,
        consecutiveFailures: Math.max(seen.consecutiveFailures, shard.consecutiveFailures),
        ejections: seen.ejections + shard.ejections,
      });
    }
  return [...merged.values()];
}
export type EndpointSnapshot = ClusterSnapshot['endpoints'][number];

export interface MergedEndpoint extends Omit<EndpointSnapshot, 'state' | 'ejectedForMs'> {
  /** The state all workers agree on, or "mixed" (see `states`). */
  state: EndpointSnapshot['state'] | 'mixed';
  /** Each worker's own view: every worker checks health and ejects outliers on its own. */
  states: Record<string, EndpointSnapshot['state']>;
}

export interface MergedCluster extends Omit<ClusterSnapshot, 'endpoints' | 'draining'> {
  endpoints: MergedEndpoint[];
  draining: MergedEndpoint[];
}

function mergeEndpoints(views: Array<{ worker: number; endpoints: EndpointSnapshot[] }>): MergedEndpoint[] {
  const merged = new Map<string, MergedEndpoint>();
  for (const { worker, endpoints } of views) {
    for (const endpoint of endpoints) {
      const { ejectedForMs: _, ...counters } = endpoint;
      const seen = merged.get(endpoint.address);
      if (!seen) {
        merged.set(endpoint.address, { ...counters, states: { [worker]: endpoint.state } });
        continue;
      }
      seen.states[worker] = endpoint.state;
      if (seen.state !== endpoint.state) seen.state = 'mixed';
      seen.healthy &&= endpoint.healthy;
      seen.ejected ||= endpoint.ejected;
      seen.ejections += endpoint.ejections;
      seen.active += endpoint.active;
      seen.pending += endpoint.pending;
      seen.requests += endpoint.requests;
      seen.failures += endpoint.failures;
      seen.consecutiveFailures = Math.max(seen.consecutiveFailures, endpoint.consecutiveFailures);
    }
  }
  return [...merged.values()];
}

/**
 * GET /clusters with several workers: one entry per cluster and endpoint, counters summed over the
 * workers, and each worker's view of the endpoint's state.
 */
export function mergeClusterSnapshots(answers: WorkerAnswer[]): {
  workers: number;
  clusters: MergedCluster[];
} {
  const byName = new Map<string, Array<{ worker: number; cluster: ClusterSnapshot }>>();
  for (const answer of answers) {
    const { clusters } = answer.value as { clusters: ClusterSnapshot[] };
    for (const cluster of clusters) {
      const list = byName.get(cluster.name) ?? [];
      list.push({ worker: answer.worker, cluster });
      byName.set(cluster.name, list);
    }
  }
  const clusters = [...byName.values()].map((views) => {
    const first = (views[0] as { cluster: ClusterSnapshot }).cluster;
    return {
      name: first.name,
      lb: first.lb,
      active: views.reduce((sum, view) => sum + view.cluster.active, 0),
      endpoints: mergeEndpoints(views.map((v) => ({ worker: v.worker, endpoints: v.cluster.endpoints }))),
      draining: mergeEndpoints(views.map((v) => ({ worker: v.worker, endpoints: v.cluster.draining }))),
      ...(first.shards ? { shards: mergeShards(views.map((v) => v.cluster.shards ?? [])) } : {}),
    };
  });
  return { workers: answers.length, clusters };
}
