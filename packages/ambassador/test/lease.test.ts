import { createLogger, parseConfig } from '@sidecar-kit/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CircuitOpenError,
  Cluster,
  configSchema,
  type Endpoint,
  Lease,
  NoHealthyUpstreamError,
  RetryBudgetExhaustedError,
  UpstreamConnectError,
} from '../src/index.js';

let cluster: Cluster | undefined;
afterEach(() => {
  void cluster?.close(AbortSignal.abort());
  cluster = undefined;
});

function makeCluster(extra: string): Cluster {
  const config = parseConfig(
    `listeners: [{ name: l, listen: 127.0.0.1:0, cluster: c }]
clusters: [{ name: c, endpoints: ["127.0.0.1:1", "127.0.0.1:2"]${extra} }]`,
    configSchema,
  );
  const clusterConfig = config.clusters[0];
  if (!clusterConfig) throw new Error('no cluster');
  cluster = new Cluster(clusterConfig, createLogger({ name: 't', level: 'silent' }));
  return cluster;
}

function leased(result: unknown): Lease {
  if (!(result instanceof Lease)) throw new Error(`no lease: ${String(result)}`);
  return result;
}

describe('cluster leases', () => {
  it('count an attempt in the cluster and on its endpoint until released, once', () => {
    const c = makeCluster('');
    const lease = leased(c.acquire(undefined));
    expect([c.active, lease.endpoint.active, lease.endpoint.requests]).toEqual([1, 1, 1]);
    lease.release();
    lease.release();
    expect([c.active, lease.endpoint.active, lease.endpoint.requests]).toEqual([0, 0, 1]);
  });

  it('refuse requests beyond maxConnections + maxPendingRequests and connections beyond maxConnections', () => {
    const c = makeCluster(', circuitBreaker: { maxConnections: 1, maxPendingRequests: 1 }');
    const first = leased(c.acquireConnection(undefined));
    expect(c.acquireConnection(undefined)).toBeInstanceOf(CircuitOpenError);
    const second = leased(c.acquire(undefined));
    expect(c.acquire(undefined)).toBeInstanceOf(CircuitOpenError);
    second.release();
    leased(c.acquire(undefined));
    first.release();
  });

  it('admit retries on an untried endpoint while retries in flight stay within the budget', () => {
    const c = makeCluster(', retries: { attempts: 5, budgetPercent: 0 }');
    const retries: Lease[] = [];
    for (let i = 0; i < 3; i++) {
      const first = leased(c.acquire(undefined));
      const retry = leased(c.acquire(undefined, new Set<Endpoint>([first.endpoint])));
      expect(retry.endpoint).not.toBe(first.endpoint);
      expect(retry.isRetry).toBe(true);
      first.release(new UpstreamConnectError('refused'));
      retries.push(retry);
    }
    expect(c.activeRetries).toBe(3);
    const fourth = leased(c.acquire(undefined));
    expect(c.acquire(undefined, new Set([fourth.endpoint]))).toBeInstanceOf(RetryBudgetExhaustedError);
    (retries[0] as Lease).release();
    expect(leased(c.acquire(undefined, new Set([fourth.endpoint]))).isRetry).toBe(true);
  });

  it('count the attempt a retry replaces among the attempts, and a replaced retry not twice among the retries', () => {
    // budgetPercent 100: retries in flight may be as many as the requests in flight, so a request
    // whose attempts all fail is never refused its next retry for lack of budget.
    const c = makeCluster(', retries: { attempts: 5, budgetPercent: 100 }');
    const requests = Array.from({ length: 5 }, () => leased(c.acquire(undefined)));
    // Every request fails and is retried, each retry replacing its failed attempt.
    const retries = requests.map((attempt) => {
      const retry = leased(c.acquire(undefined, new Set([attempt.endpoint]), attempt));
      attempt.release();
      return retry;
    });
    expect(c.activeRetries).toBe(5);
    expect(c.active).toBe(5);
    // All five in flight are retries: each may still be retried once more in its own place.
    const again = retries.map((retry) => {
      const next = leased(c.acquire(undefined, new Set([retry.endpoint]), retry));
      retry.release();
      expect(next.isRetry).toBe(true);
      return next;
    });
    expect(c.activeRetries).toBe(5);
    // Released before the next lease is asked for, a failed retry leaves 4 requests with 4 retries
    // in flight, and its own retry is refused: why the failed attempt's lease is handed in, held.
    const failed = again[0] as Lease;
    failed.release();
    expect(c.acquire(undefined, new Set([failed.endpoint]))).toBeInstanceOf(RetryBudgetExhaustedError);
  });

  it('report failures to outlier detection, which ejects the endpoint and says so', () => {
    const c = makeCluster(
      ', outlierDetection: { consecutiveFailures: 2, baseEjectionMs: 30000, maxEjectionPercent: 50 }',
    );
    const ejected: string[] = [];
    c.on('ejection', (endpoint) => ejected.push(endpoint.address));
    const target = c.endpoints[0] as Endpoint;
    const onTarget = () => {
      for (;;) {
        const lease = leased(c.acquire(undefined));
        if (lease.endpoint === target) return lease;
        lease.release();
      }
    };
    onTarget().release(new UpstreamConnectError('refused'));
    const answered = onTarget();
    answered.answered(200);
    answered.release();
    expect(target.consecutiveFailures).toBe(0);
    onTarget().release(new UpstreamConnectError('refused'));
    onTarget().answered(503);
    expect(ejected).toEqual([target.address]);
    expect(c.available()).not.toContain(target);
  });

  it('say when no endpoint is available', () => {
    const c = makeCluster('');
    for (const endpoint of c.endpoints) c.setHealth(endpoint, false);
    expect(c.acquire(undefined)).toBeInstanceOf(NoHealthyUpstreamError);
    expect(c.active).toBe(0);
  });
});
