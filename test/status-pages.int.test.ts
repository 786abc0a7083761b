import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The metrics-adapter's status page in a real headless Chromium (Debian's `chromium`, installed by
// scripts/test-deps.sh integration), against the real adapter process fed by a real upstream app
// on 127.0.0.1. Screenshots go to test/artifacts/ (gitignored; CI keeps them as artifacts).

const root = join(import.meta.dirname, '..');
const artifacts = join(root, 'test', 'artifacts');
const chromium = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const XSS = '<script>alert(1)</script>';
const XSS_CHECK = '<img src=x onerror=alert(2)>';
/** The page's refresh interval (the framework's default) plus the upstream cache and some slack. */
const REFRESH_WAIT_MS = 5_000 + 3_000;

// The app: Prometheus text with a gauge the test flips, and a JSON health document whose component
// names come from "the app" (one of them hostile markup).
const app = { ready: 1, queue: 12 };
const upstream: Server = createServer((request, response) => {
  if (request.url === '/metrics') {
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    response.end(
      `# TYPE app_ready gauge\napp_ready ${app.ready}\n# TYPE queue_depth gauge\nqueue_depth{queue="jobs"} ${app.queue}\nqueue_depth{queue="mail"} 3\n`,
    );
    return;
  }
  if (request.url === '/actuator/health') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        status: app.ready ? 'UP' : 'DOWN',
        components: { db: { status: 'UP' }, [XSS]: { status: 'DOWN' } },
      }),
    );
    return;
  }
  response.writeHead(404).end();
});

let work: string;
let child: ChildProcess | undefined;
let admin: string;
let adapter: string;
let browser: Browser;
let traffic: NodeJS.Timeout | undefined;
const log: string[] = [];

function startAdapter(config: string): Promise<{ admin: string; listen: string }> {
  const file = join(work, 'adapter.yaml');
  writeFileSync(file, config);
  const bin = join(root, 'packages', 'metrics-adapter', 'bin', 'metrics-adapter.js');
  const started = spawn(process.execPath, [bin, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = started;
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const adminMatch = /"admin":"(127\.0\.0\.1:\d+)"/.exec(out);
      const listenMatch = /"listen":"(127\.0\.0\.1:\d+)"/.exec(out);
      if (adminMatch && listenMatch)
        resolve({ admin: `http://${adminMatch[1]}`, listen: `http://${listenMatch[1]}` });
    };
    started.stdout.on('data', onData);
    started.stderr.on('data', onData);
    started.once('exit', (code) => reject(new Error(`metrics-adapter exited ${code}: ${out.slice(-2000)}`)));
  });
}

/** A page that records every console message of level error/warning, page error and dialog. */
async function openPage(javaScript: boolean): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn')
      problems.push(`console.${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${String(error)}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  await page.setJavaScriptEnabled(javaScript);
  await page.setViewport({ width: 1280, height: 900 });
  return { page, problems };
}

/** The verdict cell's text ("OK pass", "FAIL fail...") of a check row, by check name. */
function verdictOf(page: Page, check: string): Promise<string | undefined> {
  return page.$$eval(
    'main section table tbody tr',
    (rows, name) => {
      const row = rows.find((r) => r.querySelector('td')?.textContent === name);
      return row?.querySelectorAll('td')[3]?.textContent ?? undefined;
    },
    check,
  );
}

beforeAll(async () => {
  if (!existsSync(chromium))
    throw new Error(
      `no Chromium at ${chromium}: run 'bash scripts/test-deps.sh integration' (apt-get install chromium)`,
    );
  work = mkdtempSync(join(tmpdir(), 'status-pages-'));
  mkdirSync(artifacts, { recursive: true });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const app = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  ({ admin, listen: adapter } = await startAdapter(
    [
      'listen: 127.0.0.1:0',
      'admin: { listen: 127.0.0.1:0 }',
      'log: { level: info }',
      'endpoints:',
      '  - path: /health',
      `    source: { url: ${app}/metrics, format: prometheus, cacheMs: 200 }`,
      '    checks:',
      "      - { name: ready, expr: 'app_ready == 1' }",
      `      - { name: queue, expr: 'max(queue_depth{queue=~"jobs|mail"}) < 100' }`,
      `      - { name: '${XSS_CHECK}', expr: 'count(queue_depth) >= 1' }`,
      '  - path: /metrics',
      `    source: { url: ${app}/actuator/health, format: json, cacheMs: 200 }`,
      '    metrics:',
      '      - { name: app_up, path: "$.status", valueMap: { UP: 1, DOWN: 0 } }',
      '      - { name: app_component_up, path: "$.components.*.status", labels: { component: "{key}" }, valueMap: { UP: 1, DOWN: 0 } }',
      '  - path: /raw',
      `    proxy: ${app}/metrics`,
      '',
    ].join('\n'),
  ));
  // Real traffic, as the kubelet and Prometheus would call: bounded in count, stopped in afterAll.
  let calls = 0;
  traffic = setInterval(() => {
    if (++calls > 2_000) return clearInterval(traffic);
    for (const path of ['/health', '/metrics'])
      fetch(`${adapter}${path}`)
        .then((response) => response.arrayBuffer())
        .catch((error: unknown) => log.push(`traffic ${path}: ${String(error)}`));
  }, 250);
  await fetch(`${adapter}/health`);
  await fetch(`${adapter}/metrics`);
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true, // --headless=new
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  await browser?.close();
  child?.kill('SIGTERM');
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  upstream.closeAllConnections();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('metrics-adapter status page in Chromium', () => {
  it('serves a strict-CSP page that renders live values, refreshes in place, and shows markup as text', async () => {
    app.ready = 1;
    const { page, problems } = await openPage(true);
    const response = await page.goto(`${admin}/`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    const headers = response?.headers() ?? {};
    expect(headers['content-type']).toBe('text/html; charset=utf-8');
    expect(headers['content-security-policy']).toMatch(/^default-src 'none'; /);
    expect(headers['content-security-policy']).toContain("script-src 'sha256-");
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['content-security-policy']).not.toContain('unsafe');
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['referrer-policy']).toBe('no-referrer');

    // The header, the sections, and the checks' live values.
    expect(await page.$eval('h1', (h) => h.textContent)).toMatch(/^metrics-adapter\d+\.\d+\.\d+/);
    const visible = () =>
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a person sees
      page.$eval('body', (body) => body.innerText);
    const text = await visible();
    expect(text).toContain('ready');
    expect(text).toMatch(/uptime \d+s/);
    for (const heading of [
      'Endpoints',
      'Checks of /health',
      'Upstream fetches',
      'JSON mappings of /metrics',
      'Readiness checks',
    ])
      expect(text).toContain(heading);
    expect(text).toContain('app_ready == 1');
    expect(await verdictOf(page, 'ready')).toBe('OKpass');
    expect(await verdictOf(page, 'queue')).toBe('OKpass');

    // Hostile text from the config and from the app is shown as text, never run or parsed.
    expect(text).toContain(XSS_CHECK);
    expect(text).toContain(`component="${XSS}"`);
    expect(await page.$$eval('script', (scripts) => scripts.length)).toBe(1);
    expect(await page.$$eval('img', (images) => images.length)).toBe(0);

    // Flip the app's gauge: the open page shows the check failing, refreshed in place (no reload).
    // (Strings: the page's globals are not in this Node program's types.)
    await page.evaluate('window.marker = 42');
    app.ready = 0;
    await page.waitForFunction(
      `[...document.querySelectorAll('main section table tbody tr')]
        .find((r) => r.querySelector('td')?.textContent === 'ready')
        ?.querySelectorAll('td')[3]?.textContent?.startsWith('FAIL')`,
      { timeout: REFRESH_WAIT_MS, polling: 200 },
    );
    expect(await verdictOf(page, 'ready')).toMatch(/^FAILfailapp_ready == 1 is false/);
    expect(await page.evaluate('window.marker')).toBe(42);
    expect(await page.$eval('#refresh-state', (s) => s.textContent)).toContain('Live');
    const failingRow = await page.$$eval('main section table tbody tr', (rows) => {
      const row = rows.find((r) => r.querySelector('td')?.textContent === 'ready');
      return [...(row?.querySelectorAll('td') ?? [])].map((td) => td.className);
    });
    expect(failingRow[3]).toBe('bad'); // colour as well as the word
    expect(await visible()).toContain('app_up');
    // The header was refreshed too: its uptime moved on.
    const uptime = (t: string) => Number(/uptime (\d+)s/.exec(t)?.[1]);
    expect(uptime(await visible())).toBeGreaterThan(uptime(text));

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'metrics-adapter-status.png'), fullPage: true });
    expect(problems).toEqual([]);

    // The CSP is enforced, and a violation would have shown among the problems: an injected
    // inline script is refused and reported on the console.
    await page.evaluate(
      "const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.append(s)",
    );
    expect(await page.evaluate('window.injected')).toBeUndefined();
    await expect.poll(() => problems.join('\n')).toMatch(/Content Security Policy/);
    await page.close();
  });

  it('?format=json has the same data the page shows', async () => {
    const { page, problems } = await openPage(true);
    await page.goto(`${admin}/`, { waitUntil: 'load' });
    const shown = await page.$$eval('main section', (sections) =>
      sections.map((section) => ({
        title: section.querySelector('h2')?.textContent,
        rows: [...section.querySelectorAll('tbody tr')].map((tr) =>
          [...tr.querySelectorAll('td')].map(
            (td) => td.querySelector('.value, .none')?.textContent ?? td.textContent,
          ),
        ),
      })),
    );
    const response = await fetch(`${admin}/?format=json`);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    const data = (await response.json()) as {
      sidecar: { name: string; version: string };
      sections: Array<{ title: string; columns?: string[]; rows?: unknown[][] }>;
    };
    expect(data.sidecar.name).toBe('metrics-adapter');
    expect(data.sections.map((s) => s.title)).toEqual(shown.map((s) => s.title));
    const cellText = (cell: unknown): string => {
      const value = cell !== null && typeof cell === 'object' ? (cell as { value: unknown }).value : cell;
      return value === null || value === '' ? '—' : String(value);
    };
    // Every table cell that does not move with the clock (ages, counts) is the same in both.
    for (const section of data.sections) {
      if (!section.columns || !section.rows) continue;
      const page = shown.find((s) => s.title === section.title);
      const stable = section.columns
        .map((column, index) => ({ column, index }))
        .filter(({ column }) => !/age|when|success|fetches/.test(column));
      section.rows.forEach((row, r) => {
        for (const { index } of stable) expect(page?.rows[r]?.[index]).toBe(cellText(row[index]));
      });
    }
    const checks = data.sections.find((s) => s.title === 'Checks of /health');
    expect(checks?.rows?.map((row) => cellText(row[0]))).toEqual(['ready', 'queue', XSS_CHECK]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows all the data with JavaScript off, and refreshes by <noscript> meta refresh', async () => {
    app.ready = 0;
    const { page, problems } = await openPage(false);
    await page.goto(`${admin}/`, { waitUntil: 'load' });
    const html = await page.content();
    expect(html).toContain('<meta http-equiv="refresh" content="5">');
    expect(html).toContain('app_ready == 1');
    expect(html).toContain('FAIL');
    expect(html).toContain(`component="${XSS.replaceAll('<', '&lt;').replaceAll('>', '&gt;')}"`);
    expect(await verdictOf(page, 'ready')).toMatch(/^FAIL/);
    app.ready = 1;
    await page.waitForNavigation({ timeout: REFRESH_WAIT_MS });
    await page.waitForFunction("document.readyState === 'complete'");
    expect(await verdictOf(page, 'ready')).toBe('OKpass');
    await page.screenshot({ path: join(artifacts, 'metrics-adapter-status-nojs.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
    expect(log).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The ambassador's and the log-shipper's pages, each against its real bin with real traffic.

interface Started {
  child: ChildProcess;
  admin: string;
  output: () => string;
}

const children: ChildProcess[] = [];

/** Runs a sidecar's bin with a config and resolves once its admin address is logged. */
function startBin(name: 'ambassador' | 'log-shipper', config: string, ready: RegExp): Promise<Started> {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, config);
  const bin = join(root, 'packages', name, 'bin', `${name}.js`);
  const started = spawn(process.execPath, [bin, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(started);
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const adminMatch = /"admin":"(127\.0\.0\.1:\d+)"/.exec(out);
      if (adminMatch && ready.test(out))
        resolve({ child: started, admin: `http://${adminMatch[1]}`, output: () => out });
    };
    started.stdout.on('data', onData);
    started.stderr.on('data', onData);
    started.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${out.slice(-2000)}`)));
  });
}

afterAll(async () => {
  for (const started of children) {
    if (started.exitCode !== null) continue;
    started.kill('SIGTERM');
    await new Promise((resolve) => started.once('exit', resolve));
  }
});

type Cell = string | number | boolean | null | { value: string | number | boolean | null; state?: string };
interface PageJson {
  sidecar: { name: string };
  sections: Array<{ title: string; columns?: string[]; rows?: Cell[][] }>;
}

/** The page's data; every table row has one cell per column. */
async function pageJson(admin: string): Promise<PageJson> {
  const data = (await (await fetch(`${admin}/?format=json`)).json()) as PageJson;
  for (const section of data.sections)
    for (const row of section.rows ?? []) expect(row.length, section.title).toBe(section.columns?.length);
  return data;
}

const cellValue = (cell: Cell | undefined) =>
  cell !== null && typeof cell === 'object' ? cell.value : (cell ?? null);

/** The text of every cell of the page's row whose first cell is `first`, in the section titled `title`. */
function rowOf(page: Page, title: string, first: string): Promise<string[] | undefined> {
  return page.$$eval(
    'main section',
    (sections, [title, first]) => {
      const section = sections.find((s) => s.querySelector('h2')?.textContent === title);
      const row = [...(section?.querySelectorAll('tbody tr') ?? [])].find(
        (r) => r.querySelector('td .value')?.textContent === first,
      );
      return row ? [...row.querySelectorAll('td')].map((td) => td.textContent ?? '') : undefined;
    },
    [title, first] as const,
  );
}

/** A JS expression (for waitForFunction) true once that row's column `column` starts with `prefix`. */
function cellStartsWith(title: string, first: string, column: number, prefix: string): string {
  return `(() => {
    const section = [...document.querySelectorAll('main section')].find((s) => s.querySelector('h2')?.textContent === ${JSON.stringify(title)});
    const row = [...(section?.querySelectorAll('tbody tr') ?? [])].find((r) => r.querySelector('td .value')?.textContent === ${JSON.stringify(first)});
    return row?.querySelectorAll('td')[${column}]?.textContent?.startsWith(${JSON.stringify(prefix)}) ?? false;
  })()`;
}

async function expectStrictPage(page: Page, admin: string, name: string): Promise<void> {
  const response = await page.goto(`${admin}/`, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
  const headers = response?.headers() ?? {};
  expect(headers['content-type']).toBe('text/html; charset=utf-8');
  expect(headers['content-security-policy']).toMatch(/^default-src 'none'; /);
  expect(headers['content-security-policy']).not.toContain('unsafe');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(await page.$eval('h1', (h) => h.textContent)).toMatch(new RegExp(`^${name}\\d+\\.\\d+\\.\\d+`));
}

const visibleText = (page: Page) =>
  // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a person sees
  page.$eval('body', (body) => body.innerText);

describe('ambassador status page in Chromium', () => {
  const HEALTH_INTERVAL_MS = 200;
  const UNHEALTHY_THRESHOLD = 2;
  const upstreams: Server[] = [];
  const addresses: string[] = [];
  let ambassador: Started;
  let web: string;
  let discoveryFile: string;
  let load: NodeJS.Timeout | undefined;
  const failures: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const server = createServer((request, response) => {
        const delay = request.url === '/' ? 0 : 1 + i * 4; // the endpoints differ in latency
        setTimeout(() => {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end(`upstream ${i}\n`);
        }, delay);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      upstreams.push(server);
      addresses.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
    // A discovery file whose path holds markup: the page must show it as text.
    const hostile = join(work, '<script>alert(1)<');
    mkdirSync(hostile, { recursive: true });
    discoveryFile = join(hostile, 'script>.yaml');
    writeFileSync(discoveryFile, `- ${addresses[0]}\n`);
    ambassador = await startBin(
      'ambassador',
      [
        'admin: { listen: 127.0.0.1:0 }',
        'log: { level: info }',
        'listeners:',
        '  - { name: web, listen: 127.0.0.1:0, cluster: backend }',
        '  - { name: side, listen: 127.0.0.1:0, cluster: discovered }',
        'clusters:',
        '  - name: backend',
        `    endpoints: [${addresses.join(', ')}]`,
        `    healthCheck: { path: /, intervalMs: ${HEALTH_INTERVAL_MS}, timeoutMs: 500, unhealthyThreshold: ${UNHEALTHY_THRESHOLD}, healthyThreshold: 2 }`,
        '    outlierDetection: { consecutiveFailures: 3, baseEjectionMs: 30000, maxEjectionPercent: 50 }',
        '  - name: discovered',
        `    discovery: { file: { path: ${JSON.stringify(discoveryFile)}, pollMs: 500 } }`,
        '',
      ].join('\n'),
      /http listener ready[\s\S]*http listener ready/,
    );
    const listeners = (await pageJson(ambassador.admin)).sections.find((s) => s.title === 'Listeners');
    const address = (name: string) => cellValue(listeners?.rows?.find((row) => row[0] === name)?.[2]);
    web = `http://${address('web')}`;
    const side = `http://${address('side')}`;
    expect(web).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // Real traffic through both listeners, bounded in count, a few requests in flight at a time.
    let calls = 0;
    load = setInterval(() => {
      if (++calls > 3_000) return clearInterval(load);
      for (const url of [`${web}/work`, `${web}/work`, `${side}/side`])
        fetch(url)
          .then((response) => response.arrayBuffer())
          .catch((error: unknown) => failures.push(`${url}: ${String(error)}`));
    }, 40);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  });

  afterAll(async () => {
    if (load) clearInterval(load);
    for (const server of upstreams) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('shows listeners, clusters and live endpoint health; a killed upstream turns unhealthy on the open page', async () => {
    const { page, problems } = await openPage(true);
    await expectStrictPage(page, ambassador.admin, 'ambassador');
    const text = await visibleText(page);
    for (const heading of ['Listeners', 'Clusters', 'Endpoints of backend', 'Endpoints of discovered'])
      expect(text).toContain(heading);
    expect(await rowOf(page, 'Listeners', 'web')).toEqual([
      'web',
      'http',
      web.slice('http://'.length),
      'backend',
      'none',
    ]);
    // Static and file discovery; the file's path (markup in it) is shown as text.
    const backend = await rowOf(page, 'Clusters', 'backend');
    expect(backend?.[1]).toMatch(/^static3 in the config/);
    expect(backend?.[3]).toBe('OK3 of 3');
    const discovered = await rowOf(page, 'Clusters', 'discovered');
    expect(discovered?.[1]).toContain(`file ${discoveryFile}`);
    expect(discoveryFile).toContain('<script>alert(1)</script>');
    expect(await page.$$eval('script', (scripts) => scripts.length)).toBe(1);
    // Every endpoint healthy, checked, with requests, responses and latency quantiles.
    for (const address of addresses) {
      const row = await rowOf(page, 'Endpoints of backend', address);
      expect(row?.[1]).toBe('OKhealthy');
      expect(row?.[2]).toMatch(/^OKpassed/);
      expect(Number(row?.[5])).toBeGreaterThan(0);
      expect(row?.[6]).toMatch(/^2xx \d+/);
      expect(row?.[8]).toMatch(/^\d+(\.\d+)?ms \/ \d+(\.\d+)?m?s$/);
    }

    // Kill one upstream: within its checks (interval × threshold) plus a refresh, the open page shows it unhealthy.
    const killed = addresses[2] as string;
    await page.evaluate('window.marker = 7');
    const server = upstreams[2] as Server;
    const killedAt = Date.now();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const within = HEALTH_INTERVAL_MS * (UNHEALTHY_THRESHOLD + 1) + REFRESH_WAIT_MS;
    await page.waitForFunction(cellStartsWith('Endpoints of backend', killed, 1, 'FAIL'), {
      timeout: within,
      polling: 100,
    });
    expect(Date.now() - killedAt).toBeLessThan(within);
    expect(await page.evaluate('window.marker')).toBe(7); // refreshed in place, not reloaded
    const row = await rowOf(page, 'Endpoints of backend', killed);
    expect(row?.[1]).toBe('FAILunhealthyby its health checks');
    expect(row?.[2]).toMatch(/^FAILfailed.*(ECONNREFUSED|connect)/i);
    expect(await rowOf(page, 'Clusters', 'backend').then((r) => r?.[3])).toBe('WARN2 of 3');
    const cells = await page.$$eval(
      'main section table tbody tr',
      (rows, address) => {
        const found = rows.find((r) => r.querySelector('td')?.textContent === address);
        return [...(found?.querySelectorAll('td') ?? [])].map((td) => td.className);
      },
      killed,
    );
    expect(cells[1]).toBe('bad');
    // The other endpoints still serve the traffic.
    for (const address of addresses.slice(0, 2))
      expect((await rowOf(page, 'Endpoints of backend', address))?.[1]).toBe('OKhealthy');

    await page.screenshot({ path: join(artifacts, 'ambassador-status.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('?format=json has the same sections and endpoints as the page', async () => {
    const { page, problems } = await openPage(true);
    await page.goto(`${ambassador.admin}/`, { waitUntil: 'load' });
    const titles = await page.$$eval('main section h2', (h) => h.map((x) => x.textContent));
    const data = await pageJson(ambassador.admin);
    expect(data.sidecar.name).toBe('ambassador');
    expect(data.sections.map((s) => s.title)).toEqual(titles);
    const endpoints = data.sections.find((s) => s.title === 'Endpoints of backend');
    expect(endpoints?.rows?.map((r) => r[0])).toEqual(addresses);
    expect(endpoints?.rows?.map((r) => cellValue(r[1]))).toEqual(['healthy', 'healthy', 'unhealthy']);
    const clusters = data.sections.find((s) => s.title === 'Clusters');
    expect(String(cellValue(clusters?.rows?.[1]?.[1]))).toBe(`file ${discoveryFile}`);
    expect(problems).toEqual([]);
    await page.close();
  });
});

describe('log-shipper status page in Chromium', () => {
  const HOSTILE_DIR = '<script>alert(1)<';
  let shipper: Started;
  let logs: string;
  let appLog: string;
  let hostileLog: string;

  beforeAll(async () => {
    logs = join(work, 'logs');
    mkdirSync(join(logs, HOSTILE_DIR), { recursive: true });
    appLog = join(logs, 'app.log');
    hostileLog = join(logs, HOSTILE_DIR, 'script>.log'); // …/<script>alert(1)</script>.log
    writeFileSync(appLog, 'first line\nsecond line\n');
    writeFileSync(hostileLog, `${XSS} from a file named like it\n`);
    shipper = await startBin(
      'log-shipper',
      [
        'inputs:',
        `  - paths: [${JSON.stringify(join(logs, '**', '*.log'))}]`,
        '    closeRemovedAfterMs: 120000',
        `state: { dir: ${JSON.stringify(join(work, 'state'))}, flushMs: 100 }`,
        'scanIntervalMs: 200',
        `output: { type: file, file: { path: ${JSON.stringify(join(work, 'shipped.ndjson'))} }, maxBufferedBytes: 8MiB }`,
        'admin: { listen: 127.0.0.1:0 }',
        'log: { level: info }',
        '',
      ].join('\n'),
      /tailing file[\s\S]*tailing file/,
    );
  });

  it('shows each file with a moving offset, the output and the queue against its limits; paths as text', async () => {
    const { page, problems } = await openPage(true);
    await expectStrictPage(page, shipper.admin, 'log-shipper');
    const text = await visibleText(page);
    for (const heading of ['Files', 'Output', 'Queue and memory', 'Checkpoints'])
      expect(text).toContain(heading);
    // The file named with markup is a row like any other, its name as text.
    expect(hostileLog).toContain(XSS);
    const hostileRow = await rowOf(page, 'Files', hostileLog);
    expect(hostileRow?.[1]).toBe('OKfollowing');
    expect(await page.$$eval('script', (scripts) => scripts.length)).toBe(1);
    expect(await page.$$eval('img', (images) => images.length)).toBe(0);

    // Lines appended to app.log: the open page shows its offset move (refreshed in place).
    await page.waitForFunction(cellStartsWith('Files', appLog, 3, '23'), { timeout: REFRESH_WAIT_MS });
    const before = Number((await rowOf(page, 'Files', appLog))?.[2]);
    expect(before).toBe(23);
    await page.evaluate('window.marker = 3');
    const appended = Array.from({ length: 200 }, (_, i) => `appended line ${i} ${'x'.repeat(40)}\n`).join('');
    writeFileSync(appLog, appended, { flag: 'a' });
    const after = before + Buffer.byteLength(appended);
    await page.waitForFunction(cellStartsWith('Files', appLog, 3, String(after)), {
      timeout: REFRESH_WAIT_MS,
      polling: 200,
    });
    const row = await rowOf(page, 'Files', appLog);
    expect(row?.slice(0, 6)).toEqual([
      'app.log'.length ? appLog : '',
      'OKfollowing',
      String(after),
      String(after),
      String(after),
      '0 B',
    ]);
    expect(row?.[6]).toMatch(/ago$/);
    expect(await page.evaluate('window.marker')).toBe(3);

    // Rotation: app.log renamed away from the glob is drained (shown at the path it was last seen
    // at), and the new app.log is followed from its start.
    renameSync(appLog, join(logs, 'app.log.rotated'));
    writeFileSync(appLog, 'after rotation\n');
    const statesOfAppLog = `[...[...document.querySelectorAll('main section')].find((s) => s.querySelector('h2')?.textContent === 'Files').querySelectorAll('tbody tr')]
      .filter((r) => r.querySelector('td')?.textContent === ${JSON.stringify(appLog)})
      .map((r) => [...r.querySelectorAll('td')].slice(1, 4).map((td) => [...td.children].filter((c) => !c.classList.contains('detail')).map((c) => c.textContent).join('')).join('|')).join(',')`;
    await expect
      .poll(() => page.evaluate(statesOfAppLog), { timeout: REFRESH_WAIT_MS, interval: 200 })
      .toBe(`OKfollowing|15|15,WARNdraining|${after}|${after}`);
    const output = await visibleText(page);
    expect(output).toMatch(/state\s+OK\s*ok/);
    expect(output).toMatch(/buffered \(read, not acknowledged\)\s+\S+ B\s+8\.0 MiB/);

    await page.screenshot({ path: join(artifacts, 'log-shipper-status.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('?format=json has the same files as the page', async () => {
    const data = await pageJson(shipper.admin);
    expect(data.sidecar.name).toBe('log-shipper');
    const files = data.sections.find((s) => s.title === 'Files');
    const paths = files?.rows?.map((r) => r[0]);
    expect(paths).toContain(hostileLog);
    expect(paths?.filter((path) => path === appLog)).toHaveLength(2);
    expect(files?.rows?.map((r) => cellValue(r[1]))).toEqual(['following', 'following', 'draining']);
  });
});
