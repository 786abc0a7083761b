import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  escapeHtml,
  formatAge,
  formatDuration,
  parseConfig,
  renderStatusPage,
  runtimeSections,
  Sidecar,
  type SidecarDefinition,
  STATUS_PAGE_CSP,
  type StatusPageData,
  type StatusProvider,
  z,
} from '../src/index.js';

const XSS = '<script>alert(1)</script>';
const schema = z.strictObject({ ...runtimeSections({ adminListen: '127.0.0.1:0' }) });
let provider: StatusProvider | undefined;
let running: Sidecar | undefined;
afterEach(async () => {
  await running?.stop(1_000);
  running = undefined;
  provider = undefined;
});

async function start(register = true): Promise<string> {
  const definition: SidecarDefinition<typeof schema> = {
    name: 'test-sidecar',
    version: '1.2.3',
    description: 'test',
    schema,
    create: ({ setStatusPage, readiness }) => {
      readiness.register('upstream', () => 'upstream 127.0.0.1:9 refused the connection');
      if (register) setStatusPage(() => (provider ? provider() : { sections: [] }));
      return [];
    },
  };
  running = await Sidecar.start(definition, parseConfig('log: { level: silent }', schema));
  return `http://127.0.0.1:${running.adminAddress.port}`;
}

function data(overrides: Partial<StatusPageData> = {}): StatusPageData {
  return {
    title: 'demo',
    sidecar: {
      name: 'demo',
      version: '1.0.0',
      pid: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      uptimeSeconds: 75,
      ready: true,
      readiness: { startup: { ok: true } },
    },
    generatedAt: '2026-01-01T00:01:15.000Z',
    refreshSeconds: 5,
    sections: [],
    ...overrides,
  };
}

const inline = (html: string, tag: 'script' | 'style') =>
  [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1] as string);
const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe('status page rendering', () => {
  it('escapes every text it is given: titles, keys, values, details, columns, notes', () => {
    const html = renderStatusPage(
      data({
        title: XSS,
        sidecar: {
          ...data().sidecar,
          version: XSS,
          ready: false,
          readiness: { [XSS]: { ok: false, reason: XSS } },
        },
        sections: [
          { title: XSS, note: XSS, fields: [{ key: XSS, value: { value: XSS, state: 'bad', detail: XSS } }] },
          {
            title: 'table',
            columns: [XSS, '"quoted" & \'single\''],
            rows: [[XSS, `"><img src=x onerror=alert(1)>`]],
          },
          { title: 'empty', columns: ['a'], rows: [], empty: XSS },
        ],
      }),
    );
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&quot;quoted&quot; &amp; &#39;single&#39;');
    expect(inline(html, 'script')).toHaveLength(1);
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('shows a state by colour class and by word, and null as a dash', () => {
    const html = renderStatusPage(
      data({
        sections: [
          {
            title: 'checks',
            columns: ['name', 'verdict', 'value'],
            rows: [
              ['a', { value: 'pass', state: 'ok' }, 1],
              ['b', { value: 'slow', state: 'warn' }, true],
              ['c', { value: 'fail', state: 'bad', detail: 'x is false' }, null],
            ],
          },
        ],
      }),
    );
    expect(html).toContain('<td class="ok"><span class="badge ok">OK</span>');
    expect(html).toContain('<td class="warn"><span class="badge warn">WARN</span>');
    expect(html).toContain('<td class="bad"><span class="badge bad">FAIL</span>');
    expect(html).toContain('<span class="detail">x is false</span>');
    expect(html).toContain('<td>yes</td>');
    expect(html).toContain('<td><span class="none">—</span></td>');
    expect(html).toContain('uptime <b>1m 15s</b>');
  });

  it('has no inline style or handler attribute, and its CSP allows exactly its one style and one script', () => {
    const html = renderStatusPage(data({ sections: [{ title: 't', fields: [{ key: 'k', value: 'v' }] }] }));
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toMatch(/\son[a-z]+=/);
    const [style] = inline(html, 'style');
    const [script] = inline(html, 'script');
    expect(STATUS_PAGE_CSP).toBe(
      `default-src 'none'; style-src ${hash(style as string)}; script-src ${hash(script as string)}; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>');
  });

  it('formats durations and ages for people', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(0.004)).toBe('4ms');
    expect(formatDuration(2.345)).toBe('2.3s');
    expect(formatDuration(59)).toBe('59s');
    expect(formatDuration(61)).toBe('1m 1s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3h 2m');
    expect(formatDuration(2 * 86_400 + 3600)).toBe('2d 1h');
    expect(formatAge(undefined)).toBe('never');
    expect(formatAge(1_000, 5_000)).toBe('4s ago');
    expect(formatAge(6_000, 5_000)).toBe('0s ago');
  });
});

describe('status page on the admin port', () => {
  it('serves the HTML page at GET / with the security headers', async () => {
    provider = () => ({ sections: [{ title: 'Things', fields: [{ key: 'hostile', value: XSS }] }] });
    const base = await start();
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(STATUS_PAGE_CSP);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const html = await response.text();
    expect(html).toContain('<h1>test-sidecar<span class="version">1.2.3</span></h1>');
    expect(html).toContain('<b>not ready</b>');
    expect(html).toContain('upstream: upstream 127.0.0.1:9 refused the connection');
    expect(html).toContain('<h2>Things</h2>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain(XSS);
  });

  it('answers ?format=json with the same data, provider sections first, then readiness', async () => {
    provider = async () => ({
      sections: [{ title: 'Queue', columns: ['name', 'depth'], rows: [['jobs', { value: 3, state: 'ok' }]] }],
    });
    const base = await start();
    const response = await fetch(`${base}/?format=json`);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('content-security-policy')).toBe(STATUS_PAGE_CSP);
    const body = (await response.json()) as StatusPageData;
    expect(body.title).toBe('test-sidecar');
    expect(body.sidecar).toMatchObject({
      name: 'test-sidecar',
      version: '1.2.3',
      pid: process.pid,
      ready: false,
    });
    expect(body.sidecar.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(body.sidecar.readiness['upstream']).toEqual({
      ok: false,
      reason: 'upstream 127.0.0.1:9 refused the connection',
    });
    expect(body.refreshSeconds).toBe(5);
    expect(body.sections[0]).toEqual({
      title: 'Queue',
      columns: ['name', 'depth'],
      rows: [['jobs', { value: 3, state: 'ok' }]],
    });
    expect(body.sections[1]).toMatchObject({ title: 'Readiness checks', columns: ['check', 'state'] });
    expect((await fetch(`${base}/?format=xml`)).status).toBe(400);
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('still serves the page when the provider throws, saying why', async () => {
    provider = () => {
      throw new Error(`provider broke: ${XSS}`);
    };
    const base = await start();
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain(
      '<td class="bad"><span class="badge bad">FAIL</span><span class="value">provider broke: &lt;script&gt;',
    );
  });

  it('gives a sidecar without a provider a page with its header and readiness', async () => {
    const base = await start(false);
    const body = (await (await fetch(`${base}/?format=json`)).json()) as StatusPageData;
    expect(body.sections.map((section) => section.title)).toEqual(['Readiness checks']);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe('status page with several workers', () => {
  it("shows every worker's sections, titled with its number", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'status-workers-')), 'config.yaml');
    writeFileSync(file, 'admin: { listen: 127.0.0.1:0 }\n');
    const fixture = new URL('./fixtures/status-workers-sidecar.mjs', import.meta.url).pathname;
    const child = spawn(process.execPath, [fixture, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const admin = await new Promise<string>((resolve, reject) => {
        let out = '';
        const onData = (chunk: Buffer) => {
          out += chunk.toString();
          const match = /"admin":"(127\.0\.0\.1:\d+)".*"role":"primary"/.exec(out);
          if (match) resolve(`http://${match[1]}`);
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', (code) => reject(new Error(`fixture exited ${code}: ${out}`)));
      });
      const body = (await (await fetch(`${admin}/?format=json`)).json()) as StatusPageData;
      const titles = body.sections.map((section) => section.title).sort();
      expect(titles).toEqual(['Readiness checks', 'Worker 1: Process', 'Worker 2: Process']);
      const pids = body.sections
        .filter((section) => section.title.startsWith('Worker'))
        .map((section) => ('fields' in section ? section.fields[0]?.value : undefined));
      expect(new Set(pids).size).toBe(2);
      expect(pids).not.toContain(child.pid);
      expect(body.sidecar.pid).toBe(child.pid);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
