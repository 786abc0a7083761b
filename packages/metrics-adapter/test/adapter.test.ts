import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, Sidecar } from '@sidecar-kit/core';
import { type DemoApp, startDemoApp } from '@sidecar-kit/demo-app';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, definition, type HealthBody, parsePrometheusText } from '../src/index.js';

const BIN = new URL('../bin/metrics-adapter.js', import.meta.url).pathname;
let running: Sidecar | undefined;
let app: DemoApp | undefined;
const servers: Server[] = [];
afterEach(async () => {
  await running?.stop(1_000);
  await app?.close();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  running = undefined;
  app = undefined;
});

async function startAdapter(yaml: string): Promise<string> {
  const config = parseConfig(
    `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nlog: { level: silent }\n${yaml}`,
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
  return `http://127.0.0.1:${listener?.address().port}`;
}

/** A stand-in app whose /metrics answer the test controls, counting every fetch. */
async function scriptedUpstream(
  answer: (count: number) => { delayMs?: number; body: string | Buffer; status?: number; type?: string },
) {
  let fetches = 0;
  const server = createServer((_request, response) => {
    fetches += 1;
    const { delayMs = 0, body, status = 200, type = 'text/plain' } = answer(fetches);
    setTimeout(() => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    }, delayMs);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`,
    fetches: () => fetches,
  };
}

const healthYaml = (url: string, extra = '') => `
endpoints:
  - path: /health
    source: { url: ${url}, format: prometheus, timeoutMs: 300, cacheMs: ${extra || 200} }
    checks:
      - { name: ready, expr: 'app_ready == 1' }
      - { name: queue, expr: 'max(queue_depth{queue=~"jobs|mail"}) < 1000' }
`;

async function health(base: string): Promise<{ status: number; body: HealthBody; type: string | null }> {
  const response = await fetch(`${base}/health`);
  return {
    status: response.status,
    body: (await response.json()) as HealthBody,
    type: response.headers.get('content-type'),
  };
}

describe("/health computed from the app's Prometheus metrics", () => {
  it('turns 503 when the app flips its gauge, and 200 again, within cacheMs', async () => {
    app = await startDemoApp({ port: 0, logIntervalMs: 0 });
    const base = await startAdapter(healthYaml(`${app.url}/metrics`));
    const first = await health(base);
    expect(first.status).toBe(200);
    expect(first.type).toBe('application/health+json');
    expect(first.body.status).toBe('pass');
    expect(first.body.checks['queue']?.[0]).toMatchObject({ status: 'pass', observedValue: 3 });

    app.setReady(false);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const failing = await health(base);
    expect(failing.status).toBe(503);
    expect(failing.body.status).toBe('fail');
    expect(failing.body.checks['ready']?.[0]).toMatchObject({ status: 'fail', observedValue: 0 });
    expect(failing.body.checks['queue']?.[0]?.status).toBe('pass');

    app.setReady(true);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await health(base)).status).toBe(200);
  });

  it('answers 503 with the reason when the upstream is stopped', async () => {
    const upstream = await scriptedUpstream(() => ({ body: 'app_ready 1\n' }));
    const base = await startAdapter(healthYaml(upstream.url));
    await new Promise((resolve) => servers[0]?.close(resolve));
    servers.length = 0;
    const result = await health(base);
    expect(result.status).toBe(503);
    expect(result.body.output).toContain('refused the connection');
    expect(result.body.checks['ready']?.[0]?.output).toContain('refused');
  });

  it('answers 503 with the reason when the upstream is slower than timeoutMs', async () => {
    const upstream = await scriptedUpstream(() => ({ delayMs: 1_000, body: 'app_ready 1\n' }));
    const base = await startAdapter(healthYaml(upstream.url));
    const result = await health(base);
    expect(result.status).toBe(503);
    expect(result.body.output).toContain('did not answer within 300 ms');
  });

  it('answers 503 with the reason when the upstream serves malformed text, and stays up itself', async () => {
    const upstream = await scriptedUpstream(() => ({ body: 'app_ready {{{ not metrics\n' }));
    const base = await startAdapter(healthYaml(upstream.url));
    const result = await health(base);
    expect(result.status).toBe(503);
    expect(result.body.output).toContain('malformed');
    const own = await fetch(`${base}/healthz`);
    expect(own.status).toBe(200);
  });

  it('reads the grammar the Content-Type announces: OpenMetrics errors are 503 with line and column, never 500', async () => {
    const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
    const valid =
      '# TYPE app_ready gauge\napp_ready 1\n# TYPE queue_depth gauge\nqueue_depth{queue="jobs"} 3\n# EOF\n';
    const bodies = [
      { body: valid, type: OPENMETRICS, status: 200, output: undefined },
      // no # EOF: fine in Prometheus text, malformed in OpenMetrics
      {
        body: valid.replace('# EOF\n', ''),
        type: 'text/plain; version=0.0.4',
        status: 200,
        output: undefined,
      },
      {
        body: valid.replace('# EOF\n', ''),
        type: OPENMETRICS,
        status: 503,
        output: 'malformed content: line 5, column 1: no "# EOF" at the end',
      },
      {
        body: valid.replace('queue_depth{queue="jobs"} 3', 'queue_depth{queue="jobs"}  3'),
        type: OPENMETRICS,
        status: 503,
        output: 'malformed content: line 4, column 27: "" is not a number',
      },
      {
        body: valid.replace('# TYPE queue_depth gauge', '# TYPE queue_depth counter'),
        type: OPENMETRICS,
        status: 503,
        output: 'malformed content: line 4, column 1: metric family queue_depth appears again',
      },
    ];
    let current = bodies[0] as (typeof bodies)[number];
    const upstream = await scriptedUpstream(() => ({ body: current.body, type: current.type }));
    const base = await startAdapter(healthYaml(upstream.url, '1'));
    for (const expected of bodies) {
      current = expected;
      await new Promise((resolve) => setTimeout(resolve, 20));
      const result = await health(base);
      expect(result.status, expected.body).toBe(expected.status);
      if (expected.output) {
        expect(result.body.output).toContain(expected.output);
        expect(result.body.checks['ready']?.[0]?.output).toContain(expected.output);
      } else {
        expect(result.body.status).toBe('pass');
      }
    }
  });

  it('answers 503 when the upstream sends bytes that are not UTF-8, even inside a metric name', async () => {
    const body = Buffer.concat([
      Buffer.from('app_ready 1\nqueue_depth{queue="jobs"} 1\napp_'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('x 1\n'),
    ]);
    const upstream = await scriptedUpstream(() => ({ body }));
    const result = await health(await startAdapter(healthYaml(upstream.url)));
    expect(result.status).toBe(503);
    expect(result.body.output).toContain('not UTF-8 at offset 44');
  });

  it('answers 503 naming source.maxSeries when the checked metrics have more series than it allows', async () => {
    const series = Array.from({ length: 21 }, (_, i) => `queue_depth{queue="q${i}"} 1`).join('\n');
    const upstream = await scriptedUpstream(() => ({ body: `app_ready 1\n${series}\n` }));
    const yaml = healthYaml(upstream.url).replace('cacheMs: 200', 'cacheMs: 200, maxSeries: 20');
    const result = await health(await startAdapter(yaml));
    expect(result.status).toBe(503);
    expect(result.body.output).toContain('more than 20 series of the checked metrics (source.maxSeries)');
  });

  it('holds only the checked series of a 9 MB page of 1.8 million tiny ones, within a 128 MB heap', async () => {
    // Before: every series was parsed into the cache; at --max-old-space-size=128 the adapter aborted.
    const filler = 'a 1\n'.repeat(1_800_000);
    const upstream = await scriptedUpstream(() => ({
      body: `${filler}app_ready 1\nqueue_depth{queue="jobs"} 1\n`,
    }));
    const dir = mkdtempSync(join(tmpdir(), 'adapter-big-'));
    const file = join(dir, 'adapter.yaml');
    writeFileSync(
      file,
      `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\n${healthYaml(upstream.url, '60000').replace('timeoutMs: 300', 'timeoutMs: 20000')}`,
    );
    const child = spawn(process.execPath, ['--max-old-space-size=128', BIN, '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /"listen":"127\.0\.0\.1:(\d+)".*"msg":"adapter listening"/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`adapter exited ${code}: ${out.slice(-2000)}`)));
      });
      const first = await health(`http://127.0.0.1:${port}`);
      expect(first.status).toBe(200);
      const again = await health(`http://127.0.0.1:${port}`);
      expect(again.status).toBe(200);
      expect(child.exitCode).toBe(null);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('makes one upstream fetch per cache window for 1,000 concurrent requests', async () => {
    const upstream = await scriptedUpstream(() => ({
      delayMs: 50,
      body: 'app_ready 1\nqueue_depth{queue="jobs"} 1\n',
    }));
    const base = await startAdapter(healthYaml(upstream.url, '60000'));
    const responses = await Promise.all(
      Array.from({ length: 1000 }, () => fetch(`${base}/health`).then((r) => r.status)),
    );
    expect(responses.every((status) => status === 200)).toBe(true);
    expect(upstream.fetches()).toBe(1);
  });
});

describe("/metrics computed from the app's JSON health", () => {
  it('maps a Spring Boot actuator-shaped document to the expected series', async () => {
    const actuator = {
      status: 'UP',
      components: {
        db: { status: 'UP', details: { database: 'PostgreSQL' } },
        diskSpace: { status: 'DOWN' },
        ping: { status: 'UP' },
      },
    };
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.spring-boot.actuator.v3+json' });
      response.end(JSON.stringify(actuator));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/actuator/health`;
    const base = await startAdapter(`
endpoints:
  - path: /metrics
    source: { url: ${url}, format: json }
    metrics:
      - { name: app_up, help: "1 when the app reports UP", path: "$.status", valueMap: { UP: 1, DOWN: 0 } }
      - { name: app_component_up, path: "$.components.*.status", labels: { component: "{key}" }, valueMap: { UP: 1, DOWN: 0 } }
`);
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    const parsed = parsePrometheusText(await response.text());
    expect(parsed.families.get('app_up')).toEqual({ type: 'gauge', help: '1 when the app reports UP' });
    expect(parsed.samples).toEqual([
      { name: 'app_up', labels: {}, value: 1 },
      { name: 'app_component_up', labels: { component: 'db' }, value: 1 },
      { name: 'app_component_up', labels: { component: 'diskSpace' }, value: 0 },
      { name: 'app_component_up', labels: { component: 'ping' }, value: 1 },
    ]);
  });
});

describe('proxy endpoints', () => {
  it('serve the one configured URL unchanged, whatever path or query is asked', async () => {
    app = await startDemoApp({ port: 0, logIntervalMs: 0 });
    const base = await startAdapter(`
endpoints:
  - path: /healthz-raw
    proxy: ${app.url}/metrics
`);
    const response = await fetch(`${base}/healthz-raw?target=http://elsewhere/`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('app_ready 1');
    expect((await fetch(`${base}/other`)).status).toBe(404);
  });
});

describe('--check-config', () => {
  const bin = new URL('../bin/metrics-adapter.js', import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), 'adapter-config-'));
  const check = (yaml: string) => {
    const file = join(dir, `c${Math.random()}.yaml`);
    writeFileSync(file, yaml);
    return {
      file,
      ...spawnSync(process.execPath, [bin, '--config', file, '--check-config'], { encoding: 'utf8' }),
    };
  };

  it('rejects a bad expression with its position', () => {
    const result = check(
      `endpoints:\n  - path: /health\n    source: { url: http://127.0.0.1:8080/metrics, format: prometheus }\n    checks:\n      - { name: ready, expr: 'app_ready = 1' }\n`,
    );
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`${result.file}:5:`);
    expect(result.stderr).toContain('endpoints[0].checks[0].expr');
    expect(result.stderr).toContain('column 11');
  });

  it('rejects a bad metric name with its position', () => {
    const result = check(
      `endpoints:\n  - path: /metrics\n    source: { url: http://127.0.0.1:8080/h, format: json }\n    metrics:\n      - { name: app-up, path: $.status }\n`,
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('endpoints[0].metrics[0].name');
    expect(result.stderr).toContain('character 4 ("-")');
  });

  it.each([
    [
      'a misspelt top-level key',
      `endpoint:\n  - path: /health\n`,
      [':1:1: endpoint: unknown key "endpoint" (did you mean "endpoints"?)', 'endpoints: required'],
    ],
    [
      'a misspelt nested key',
      `endpoints:\n  - path: /health\n    source: { url: http://127.0.0.1:8080/metrics, format: prometheus, timeotMs: 5 }\n    checks: [{ name: up, expr: 'up == 1' }]\n`,
      ['endpoints[0].source.timeotMs: unknown key "timeotMs" (did you mean "timeoutMs"?)'],
    ],
    [
      'several problems at once',
      `endpoints:\n  - path: health\n    chekcs: [{ name: up, expr: 'up == 1' }]\n    source: { url: ftp://x, format: prometheus }\n`,
      [
        ':3:5: endpoints[0].chekcs: unknown key "chekcs" (did you mean "checks"?)',
        ':2:11: endpoints[0].path: expected a path starting with /',
        'endpoints[0].source.url',
      ],
    ],
  ])('rejects %s: every problem on a line of its own, unknown keys first', (_name, yaml, expected) => {
    const result = check(yaml);
    expect(result.status).toBe(2);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const lines = result.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(expected.length);
    const [unknownKey, ...others] = expected;
    expect(lines[0]).toContain(unknownKey);
    for (const part of others) expect(lines.some((line) => line.includes(part))).toBe(true);
  });

  it('accepts the documented example', () => {
    const result = spawnSync(
      process.execPath,
      [
        bin,
        '--config',
        new URL('../../../examples/metrics-adapter/metrics-adapter.yaml', import.meta.url).pathname,
        '--check-config',
      ],
      { encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
