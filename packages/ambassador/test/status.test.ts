import { renderStatusPage, type StatusCell, type StatusPageData } from '@sidecar-kit/core';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestStats } from '../src/cluster/recorder.js';
import { formatLatency, latencyQuantile } from '../src/index.js';
import {
  endpoints,
  type RunningAmbassador,
  startAmbassador,
  startUpstreams,
  type Upstream,
  waitFor,
} from './helpers.js';

let running: RunningAmbassador | undefined;
let upstreams: Upstream[] = [];
afterEach(async () => {
  await running?.stop(500);
  running = undefined;
  for (const upstream of upstreams.splice(0)) await upstream.kill();
});

const cellValue = (cell: StatusCell | undefined) =>
  cell !== null && typeof cell === 'object' ? cell.value : (cell ?? null);

describe('latency quantiles from the histogram buckets', () => {
  it('interpolates within the bucket the rank falls in, as histogram_quantile does', () => {
    const stats = new RequestStats();
    expect(latencyQuantile(stats, 0.5)).toBeUndefined();
    expect(formatLatency(undefined)).toBeNull();
    for (let i = 0; i < 100; i++) stats.observe(0.003); // bucket (0.0025, 0.005]
    expect(latencyQuantile(stats, 0.5)).toBeCloseTo(0.0025 + 0.0025 * 0.5, 9);
    expect(latencyQuantile(stats, 0.99)).toBeCloseTo(0.0025 + 0.0025 * 0.99, 9);
    stats.observe(0.2); // one slow request in (0.1, 0.25]
    expect(latencyQuantile(stats, 0.5)).toBeLessThan(0.005);
    expect(latencyQuantile(stats, 1)).toBeCloseTo(0.25, 9);
    stats.observe(60); // beyond the largest bound
    expect(latencyQuantile(stats, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(formatLatency(Number.POSITIVE_INFINITY)).toBe('> 10s');
    expect(formatLatency(0.00042)).toBe('0.42ms');
    expect(formatLatency(0.0123)).toBe('12.3ms');
    expect(formatLatency(1.5)).toBe('1.50s');
  });
});

describe('ambassador status page', () => {
  it('shows listeners, clusters and endpoints from a running ambassador, one cell per column', async () => {
    upstreams = await startUpstreams(2);
    running = await startAmbassador(`
listeners:
  - { name: web, listen: 127.0.0.1:0, cluster: backend }
clusters:
  - name: backend
    endpoints: ${endpoints(upstreams)}
    healthCheck: { path: /, intervalMs: 100, unhealthyThreshold: 1, healthyThreshold: 1 }
`);
    for (let i = 0; i < 10; i++) await (await request(`${running.urls[0]}/x`)).body.text();
    await (upstreams[1] as Upstream).kill();
    const admin = running.admin;
    const data = await waitFor(async () => {
      const body = (await (await request(`${admin}/?format=json`)).body.json()) as StatusPageData;
      const rows = body.sections.find((s) => s.title === 'Endpoints of backend');
      return rows && 'rows' in rows && cellValue(rows.rows[1]?.[1]) === 'unhealthy' ? body : undefined;
    });
    const titles = data.sections.map((s) => s.title);
    expect(titles).toEqual(['Listeners', 'Clusters', 'Endpoints of backend', 'Readiness checks']);
    for (const section of data.sections)
      if ('rows' in section) for (const row of section.rows) expect(row).toHaveLength(section.columns.length);
    const listeners = data.sections[0] as { rows: StatusCell[][] };
    expect(listeners.rows[0]?.slice(0, 2)).toEqual(['web', 'http']);
    expect(listeners.rows[0]?.[2]).toBe(`127.0.0.1:${running.ports[0]}`);
    const table = data.sections[2] as { rows: StatusCell[][] };
    expect(table.rows.map((row) => row[0])).toEqual(upstreams.map((u) => u.address));
    expect(table.rows[0]?.[1]).toEqual({ value: 'healthy', state: 'ok' });
    expect(table.rows[0]?.[5]).toBeGreaterThanOrEqual(5);
    expect(String(table.rows[0]?.[8])).toMatch(/ms \/ /);
    expect(table.rows[1]?.[1]).toMatchObject({ value: 'unhealthy', state: 'bad' });
    expect(table.rows[1]?.[2]).toMatchObject({ value: 'failed', state: 'bad' });
    const clusters = data.sections[1] as { rows: StatusCell[][] };
    expect(clusters.rows[0]?.[1]).toMatchObject({ value: 'static' });
    expect(clusters.rows[0]?.[3]).toMatchObject({ value: '1 of 2', state: 'warn' });
    // The renderer escapes whatever a provider returns; the HTML holds the same cells.
    const html = renderStatusPage(data);
    expect(html).toContain('Endpoints of backend');
    expect(html).toContain(upstreams[1]?.address);
  });
});
