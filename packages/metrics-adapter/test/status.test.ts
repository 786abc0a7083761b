import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig, Sidecar, type StatusCell, type StatusPageData } from '@sidecar-kit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, definition } from '../src/index.js';

let running: Sidecar | undefined;
const servers: Server[] = [];
afterEach(async () => {
  await running?.stop(1_000);
  running = undefined;
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const app = { ready: 1, up: true, fetches: 0, failing: false };

async function startApp(): Promise<string> {
  app.ready = 1;
  app.fetches = 0;
  app.failing = false;
  const server = createServer((request, response) => {
    app.fetches += 1;
    if (app.failing) {
      response.writeHead(500).end();
      return;
    }
    if (request.url === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(`app_ready ${app.ready}\nqueue_depth{queue="jobs"} 4\nqueue_depth{queue="mail"} 7\n`);
    } else {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          status: 'UP',
          components: { db: { status: 'UP' }, '<b>disk</b>': { status: 'DOWN' } },
        }),
      );
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function startAdapter(base: string): Promise<{ adapter: string; admin: string }> {
  const config = parseConfig(
    `listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
log: { level: silent }
endpoints:
  - path: /health
    source: { url: ${base}/metrics, format: prometheus, cacheMs: 0 }
    checks:
      - { name: ready, expr: 'app_ready == 1' }
      - { name: queues, expr: 'queue_depth < 100' }
  - path: /metrics
    source: { url: ${base}/health.json, format: json, cacheMs: 0 }
    metrics:
      - { name: app_up, path: "$.status", valueMap: { UP: 1 } }
      - { name: app_component_up, path: "$.components.*.status", labels: { component: "{key}" }, valueMap: { UP: 1, DOWN: 0 } }
      - { name: app_missing, path: "$.nothing" }
  - path: /raw
    proxy: ${base}/metrics
`,
    configSchema,
  );
  let listener: { address(): AddressInfo } | undefined;
  running = await Sidecar.start(
    {
      ...definition,
      create: async (context) => {
        const components = await definition.create(context);
        listener = components[0] as unknown as { address(): AddressInfo };
        return components;
      },
    },
    config,
  );
  return {
    adapter: `http://127.0.0.1:${listener?.address().port}`,
    admin: `http://127.0.0.1:${running.adminAddress.port}`,
  };
}

async function page(admin: string): Promise<StatusPageData> {
  return (await (await fetch(`${admin}/?format=json`)).json()) as StatusPageData;
}

function table(data: StatusPageData, title: string): StatusCell[][] {
  const section = data.sections.find((s) => s.title === title);
  if (!section || !('rows' in section)) throw new Error(`no table ${title}`);
  return section.rows;
}

describe('metrics-adapter status page', () => {
  it('before any request: every endpoint listed, nothing evaluated, nothing fetched by viewing the page', async () => {
    const base = await startApp();
    const { admin } = await startAdapter(base);
    const data = await page(admin);
    await page(admin);
    expect(app.fetches).toBe(0);
    expect(data.sidecar.name).toBe('metrics-adapter');
    expect(table(data, 'Endpoints').map((row) => row[0])).toEqual(['/health', '/metrics', '/raw']);
    expect(table(data, 'Checks of /health')).toEqual([
      [
        'ready',
        'app_ready == 1',
        null,
        { value: 'not evaluated yet', state: 'warn', detail: 'evaluated when /health is called' },
        null,
      ],
      [
        'queues',
        'queue_depth < 100',
        null,
        { value: 'not evaluated yet', state: 'warn', detail: 'evaluated when /health is called' },
        null,
      ],
    ]);
    expect(table(data, 'Upstream fetches')[0]?.[2]).toMatchObject({
      value: 'not fetched yet',
      state: 'warn',
    });
    expect(table(data, 'JSON mappings of /metrics')[0]?.[3]).toEqual({
      value: 'not served yet',
      state: 'warn',
    });
  });

  it('shows each check with its last value and verdict, the fetches, and the mappings with their values', async () => {
    const base = await startApp();
    const { admin, adapter } = await startAdapter(base);
    expect((await fetch(`${adapter}/health`)).status).toBe(200);
    await (await fetch(`${adapter}/metrics`)).text();
    let data = await page(admin);
    const checks = table(data, 'Checks of /health');
    expect(checks[0]?.slice(0, 4)).toEqual(['ready', 'app_ready == 1', '1', { value: 'pass', state: 'ok' }]);
    expect(checks[1]?.slice(0, 4)).toEqual([
      'queues',
      'queue_depth < 100',
      '4, 7',
      { value: 'pass', state: 'ok' },
    ]);
    expect(checks[0]?.[4]).toMatch(/ago$/);
    expect(table(data, 'JSON mappings of /metrics')).toEqual([
      ['app_up', '$.status', null, '1'],
      ['app_component_up', '$.components.*.status', '{component="db"}', '1'],
      ['app_component_up', '$.components.*.status', '{component="<b>disk</b>"}', '0'],
      [
        'app_missing',
        '$.nothing',
        null,
        { value: 'no match', state: 'warn', detail: 'the path matched no number' },
      ],
    ]);
    const html = await (await fetch(`${admin}/`)).text();
    expect(html).toContain('{component=&quot;&lt;b&gt;disk&lt;/b&gt;&quot;}');
    expect(html).not.toContain('<b>disk');
    const fetches = table(data, 'Upstream fetches');
    expect(fetches[0]?.slice(0, 2)).toEqual([`${base}/metrics`, '/health']);
    expect(fetches[0]?.[2]).toMatchObject({ value: 'ok', state: 'ok' });
    expect(fetches[0]?.[5]).toBe('1 / 0');

    // The gauge flips: the next /health shows it failing, with why.
    app.ready = 0;
    expect((await fetch(`${adapter}/health`)).status).toBe(503);
    data = await page(admin);
    expect(table(data, 'Checks of /health')[0]?.slice(2, 4)).toEqual([
      '0',
      { value: 'fail', state: 'bad', detail: 'app_ready == 1 is false' },
    ]);

    // The upstream fails: the fetch shows failed with the reason, and when it last succeeded.
    app.failing = true;
    expect((await fetch(`${adapter}/health`)).status).toBe(503);
    data = await page(admin);
    const failed = table(data, 'Upstream fetches')[0];
    expect(failed?.[2]).toEqual({
      value: 'failed',
      state: 'bad',
      detail: `upstream ${base}/metrics answered 500`,
    });
    expect(failed?.[4]).toMatch(/ago$/);
    expect(failed?.[5]).toBe('3 / 1');
    expect(table(data, 'Checks of /health')[0]?.[3]).toEqual({
      value: 'fail',
      state: 'bad',
      detail: `upstream ${base}/metrics answered 500`,
    });
    expect((await fetch(`${adapter}/metrics`)).status).toBe(503);
    data = await page(admin);
    expect(table(data, 'JSON mappings of /metrics')[0]).toEqual([
      'app_up',
      '$.status',
      null,
      { value: 'upstream failed', state: 'bad' },
    ]);
  });
});
