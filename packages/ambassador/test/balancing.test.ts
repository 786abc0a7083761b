import { createLogger, parseConfig } from '@sidecar-kit/core';
import { parsePrometheusText } from '@sidecar-kit/metrics-adapter';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, configSchema, RingHash } from '../src/index.js';
import {
  endpoints,
  getJson,
  type RunningAmbassador,
  startAmbassador,
  startUpstreams,
  type Upstream,
} from './helpers.js';

let ambassador: RunningAmbassador | undefined;
let upstreams: Upstream[] = [];
afterEach(async () => {
  await ambassador?.stop();
  for (const upstream of upstreams) await upstream.kill();
  ambassador = undefined;
  upstreams = [];
});

function listenerYaml(lb: string, extra = '') {
  return `listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters:
  - name: web
    endpoints: ${endpoints(upstreams)}
    lb: ${lb}
${extra}`;
}

describe('load balancing', () => {
  it('round_robin spreads 300 requests evenly over 3 endpoints', async () => {
    upstreams = await startUpstreams(3);
    ambassador = await startAmbassador(listenerYaml('round_robin'));
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const { body } = await getJson(`${ambassador.urls[0]}/`);
      counts.set(String(body['upstream']), (counts.get(String(body['upstream'])) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
    // The metrics parse as Prometheus text (our strict parser, not a regex): 100 per endpoint, and
    // each endpoint's latency histogram is cumulative and ends at its count.
    const { samples, families } = parsePrometheusText(
      await (await fetch(`${ambassador.admin}/metrics`)).text(),
    );
    expect(families.get('ambassador_request_duration_seconds')?.type).toBe('histogram');
    for (const upstream of upstreams) {
      const of = (name: string) =>
        samples.filter((sample) => sample.name === name && sample.labels['endpoint'] === upstream.address);
      expect(of('ambassador_upstream_requests_total')).toEqual([
        {
          name: 'ambassador_upstream_requests_total',
          labels: { cluster: 'web', endpoint: upstream.address, class: '2xx' },
          value: 100,
        },
      ]);
      const buckets = of('ambassador_request_duration_seconds_bucket').map((sample) => sample.value);
      expect(buckets).toEqual([...buckets].sort((x, y) => x - y));
      expect(buckets.at(-1)).toBe(100);
      expect(of('ambassador_request_duration_seconds_count')[0]?.value).toBe(100);
    }
  });

  it('least_request favours a fast endpoint over a slow one', async () => {
    upstreams = await startUpstreams(2, (name) => (_request, response) => {
      setTimeout(() => response.end(JSON.stringify({ upstream: name })), name === 'u0' ? 1 : 200);
    });
    ambassador = await startAmbassador(listenerYaml('least_request'));
    const url = `${ambassador.urls[0]}/`;
    // 16 concurrent clients, 12 requests each: the slow endpoint holds requests far longer (200 ms,
    // more than a loaded machine's scheduling delay), so it is picked less. A count, not a rate.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 12; i++) await getJson(url);
      }),
    );
    const [fast, slow] = upstreams as [Upstream, Upstream];
    expect(fast.hits + slow.hits).toBe(16 * 12);
    expect(fast.hits).toBeGreaterThan(slow.hits * 2);
  });

  it('ring_hash keeps each key on one endpoint', async () => {
    upstreams = await startUpstreams(3);
    ambassador = await startAmbassador(listenerYaml('ring_hash', '    hash: { header: x-user-id }'));
    for (let user = 0; user < 30; user++) {
      const seen = new Set<unknown>();
      for (let i = 0; i < 5; i++)
        seen.add((await getJson(`${ambassador.urls[0]}/`, { 'x-user-id': `user-${user}` })).body['upstream']);
      expect(seen.size).toBe(1);
    }
  });

  it('ring_hash by cookie keeps a session on one endpoint, and random still reaches every endpoint', async () => {
    upstreams = await startUpstreams(3);
    ambassador = await startAmbassador(listenerYaml('ring_hash', '    hash: { cookie: session }'));
    for (let session = 0; session < 20; session++) {
      const seen = new Set<unknown>();
      for (let i = 0; i < 4; i++)
        seen.add(
          (await getJson(`${ambassador.urls[0]}/`, { cookie: `theme=dark; session=s${session}; x=1` })).body[
            'upstream'
          ],
        );
      expect(seen.size).toBe(1);
    }
    await ambassador.stop();
    ambassador = await startAmbassador(listenerYaml('random'));
    const seen = new Set<unknown>();
    for (let i = 0; i < 60; i++) seen.add((await getJson(`${ambassador.urls[0]}/`)).body['upstream']);
    expect(seen).toEqual(new Set(['u0', 'u1', 'u2']));
  });

  it('ring_hash moves only about 1/N of the keys when one of N endpoints goes away', () => {
    const config = parseConfig(
      `listeners: [{ name: l, listen: 127.0.0.1:0, cluster: c }]
clusters: [{ name: c, endpoints: ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80"], lb: ring_hash, hash: { header: x-k } }]`,
      configSchema,
    );
    const clusterConfig = config.clusters[0];
    if (!clusterConfig) throw new Error('no cluster');
    const cluster = new Cluster(clusterConfig, createLogger({ name: 't', level: 'silent' }));
    const keys = Array.from({ length: 10_000 }, (_, i) => `key-${i}`);
    const before = keys.map((key) => cluster.pick(key)?.address);
    const perEndpoint = new Map<string, number>();
    for (const address of before)
      perEndpoint.set(String(address), (perEndpoint.get(String(address)) ?? 0) + 1);
    // Spread: every endpoint owns a fair share (20 % ± 7 %).
    for (const count of perEndpoint.values()) expect(Math.abs(count / keys.length - 0.2)).toBeLessThan(0.07);
    cluster.setEndpoints(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80']);
    const after = keys.map((key) => cluster.pick(key)?.address);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        expect(before[i]).toBe('10.0.0.5:80');
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.13);
    expect(moved / keys.length).toBeLessThan(0.27);
    void cluster.close(AbortSignal.abort());
  });

  it('ring_hash sends the keys of an unavailable endpoint to their next endpoint only', () => {
    const ring = new RingHash();
    const make = (address: string) => ({ address }) as never;
    const all = ['a:1', 'b:1', 'c:1'].map(make);
    ring.rebuild(all);
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    const before = keys.map((key) => (ring.pick(all, key) as { address: string }).address);
    const without = all.slice(1);
    const after = keys.map((key) => (ring.pick(without, key) as { address: string }).address);
    for (let i = 0; i < keys.length; i++) if (before[i] !== 'a:1') expect(after[i]).toBe(before[i]);
  });
});
