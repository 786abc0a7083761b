import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, parseConfig, runtimeSections, Sidecar, type SidecarDefinition, z } from '../src/index.js';

const schema = z.strictObject({ ...runtimeSections({ adminListen: '127.0.0.1:0' }) });
let healthy = true;
const definition: SidecarDefinition<typeof schema> = {
  name: 'test-sidecar',
  version: '1.0.0',
  description: 'test',
  schema,
  create: ({ readiness, registry, metricPrefix }) => {
    readiness.register('upstream', () => (healthy ? true : 'upstream 127.0.0.1:9 refused the connection'));
    new Counter({ name: `${metricPrefix}things_total`, help: 'Things done.', registers: [registry] }).inc(3);
    return [];
  },
};

let running: Sidecar | undefined;
afterEach(async () => {
  await running?.stop(1_000);
  healthy = true;
});

async function start(): Promise<string> {
  running = await Sidecar.start(definition, parseConfig('log: { level: silent }', schema));
  return `http://127.0.0.1:${running.adminAddress.port}`;
}

describe('admin server', () => {
  it('answers /livez and its alias /healthz', async () => {
    const base = await start();
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('serves /metrics as Prometheus text that a parser reads, with the sidecar prefix and process metrics', async () => {
    const base = await start();
    const response = await fetch(`${base}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const families = parsePrometheusTextFormat(await response.text());
    const names = families.map((family) => family.name);
    expect(names).toContain('test_sidecar_things_total');
    expect(names).toContain('test_sidecar_process_resident_memory_bytes');
    const things = families.find((family) => family.name === 'test_sidecar_things_total');
    expect(things?.metrics[0]).toMatchObject({ value: '3' });
  });

  it('turns /readyz 503 when a registered check fails, and names the check', async () => {
    const base = await start();
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    healthy = false;
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    const body = (await response.json()) as { checks: Record<string, { ok: boolean; reason?: string }> };
    expect(body.checks['upstream']).toEqual({
      ok: false,
      reason: 'upstream 127.0.0.1:9 refused the connection',
    });
  });

  it('reports not ready once shutdown begins', async () => {
    const base = await start();
    const sidecar = running as Sidecar;
    sidecar.readiness.setDraining();
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
  });
});
