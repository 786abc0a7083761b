import { describe, expect, it } from 'vitest';
import { type EndpointSnapshot, mergeClusterSnapshots } from '../src/admin/clusters.js';

function endpoint(address: string, overrides: Partial<EndpointSnapshot> = {}): EndpointSnapshot {
  return {
    address,
    state: 'healthy',
    healthy: true,
    ejected: false,
    ejections: 0,
    active: 0,
    pending: 0,
    requests: 0,
    failures: 0,
    consecutiveFailures: 0,
    ...overrides,
  };
}

describe('GET /clusters with several workers', () => {
  it('sums each endpoint’s counters over the workers and shows where their views differ', () => {
    const merged = mergeClusterSnapshots([
      {
        worker: 1,
        value: {
          clusters: [
            {
              name: 'web',
              lb: 'round_robin',
              active: 2,
              endpoints: [
                endpoint('10.0.0.1:80', { requests: 10, active: 2, consecutiveFailures: 1 }),
                endpoint('10.0.0.2:80', { requests: 5 }),
              ],
              draining: [],
            },
          ],
        },
      },
      {
        worker: 2,
        value: {
          clusters: [
            {
              name: 'web',
              lb: 'round_robin',
              active: 1,
              endpoints: [
                endpoint('10.0.0.1:80', { requests: 7, active: 1, failures: 3, consecutiveFailures: 3 }),
                endpoint('10.0.0.2:80', {
                  state: 'ejected',
                  ejected: true,
                  ejectedForMs: 900,
                  ejections: 1,
                  requests: 4,
                }),
              ],
              draining: [endpoint('10.0.0.3:80', { state: 'draining', active: 1 })],
            },
          ],
        },
      },
    ]);
    expect(merged.workers).toBe(2);
    expect(merged.clusters).toEqual([
      {
        name: 'web',
        lb: 'round_robin',
        active: 3,
        endpoints: [
          {
            ...endpoint('10.0.0.1:80'),
            requests: 17,
            active: 3,
            failures: 3,
            consecutiveFailures: 3,
            states: { 1: 'healthy', 2: 'healthy' },
          },
          {
            ...endpoint('10.0.0.2:80'),
            state: 'mixed',
            ejected: true,
            ejections: 1,
            requests: 9,
            states: { 1: 'healthy', 2: 'ejected' },
          },
        ],
        draining: [{ ...endpoint('10.0.0.3:80'), state: 'draining', active: 1, states: { 2: 'draining' } }],
      },
    ]);
  });
});

describe('GET /clusters with several workers: sharding clusters', () => {
  it('sums shard counters and shows a shard live only when every worker has it live', () => {
    const shard = (live: boolean, requests: number) => ({
      server: '10.0.0.1:6379:1 a',
      address: '10.0.0.1:6379',
      name: 'a',
      weight: 1,
      live,
      ejectedForMs: live ? 0 : 5000,
      down: false,
      connected: 1,
      pending: 2,
      requests,
      errors: 1,
      failures: 1,
      consecutiveFailures: 1,
      ejections: live ? 0 : 1,
    });
    const view = (live: boolean, requests: number) => ({
      clusters: [
        {
          name: 'cache',
          lb: 'sharding',
          active: 2,
          endpoints: [],
          draining: [],
          shards: [shard(live, requests)],
        },
      ],
    });
    const merged = mergeClusterSnapshots([
      { worker: 1, value: view(true, 10) },
      { worker: 2, value: view(false, 5) },
    ]);
    const [cluster] = merged.clusters;
    expect(cluster?.active).toBe(4);
    expect(cluster && 'shards' in cluster ? cluster.shards : undefined).toEqual([
      expect.objectContaining({
        live: false,
        requests: 15,
        errors: 2,
        ejections: 1,
        pending: 4,
        connected: 2,
      }),
    ]);
  });
});
