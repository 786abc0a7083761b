import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
