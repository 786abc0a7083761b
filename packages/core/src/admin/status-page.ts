import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../http/json-response.js';
import type { Readiness, ReadinessReport } from './readiness.js';

/**
 * The status page every sidecar serves at `GET /` on its admin port: one server-rendered HTML page
 * with no external asset, readable with JavaScript off, and the same data at `GET /?format=json`.
 * A sidecar only describes what it knows as a StatusModel (sections of key/value fields or tables);
 * the header (name, version, uptime, readiness) and everything HTML are done here.
 */

/** A cell's verdict, shown by colour and by a word (OK, WARN, FAIL), never by colour alone. */
export type StatusState = 'ok' | 'warn' | 'bad';

export type StatusScalar = string | number | boolean | null;

/** A value with a verdict; `detail` is shown under it in smaller text (e.g. why it failed). */
export interface StatusValue {
  value: StatusScalar;
  state?: StatusState;
  detail?: string;
}

export type StatusCell = StatusScalar | StatusValue;

export interface StatusField {
  key: string;
  value: StatusCell;
}

/** A heading and key/value rows. */
export interface StatusFieldsSection {
  title: string;
  note?: string;
  fields: StatusField[];
}

/** A heading and a table; each row has one cell per column. */
export interface StatusTableSection {
  title: string;
  note?: string;
  columns: string[];
  rows: StatusCell[][];
  /** Shown instead of an empty table. */
  empty?: string;
}

export type StatusSection = StatusFieldsSection | StatusTableSection;

/** What a sidecar's status provider returns. */
export interface StatusModel {
  sections: StatusSection[];
}

/** Registered with SidecarContext.setStatusPage; called once per page view (keep it cheap). */
export type StatusProvider = () => StatusModel | Promise<StatusModel>;

/** The page's data: `GET /?format=json` answers exactly this. */
export interface StatusPageData {
  title: string;
  sidecar: {
    name: string;
    version: string;
    pid: number;
    startedAt: string;
    uptimeSeconds: number;
    ready: boolean;
    readiness: ReadinessReport['checks'];
  };
  generatedAt: string;
  refreshSeconds: number;
  sections: StatusSection[];
}

export interface StatusPageOptions {
  name: string;
  version: string;
  readiness: Readiness;
  /** When the sidecar started (ms since the epoch); now by default. */
  startedAt?: number;
  /** How often the page refreshes itself; 5 s by default. */
  refreshSeconds?: number;
  /** Read on every request, so a provider registered after the server started is used. */
  provider?: () => StatusProvider | undefined;
  now?: () => number;
}

export function isTableSection(section: StatusSection): section is StatusTableSection {
  return 'columns' in section;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] as string);
}

/** "3d 4h", "2h 5m", "4m 10s", "12s", "0.4s": a duration for people. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds < 0) return `-${formatDuration(-seconds)}`;
  if (seconds < 1 && seconds > 0) return `${Math.max(1, Math.round(seconds * 1000))}ms`;
  if (seconds < 10 && !Number.isInteger(seconds)) return `${Math.round(seconds * 10) / 10}s`;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${rest}s`;
  return `${rest}s`;
}

/** How long ago a time (ms since the epoch) was, e.g. "4s ago"; "never" for undefined. */
export function formatAge(at: number | undefined, now: number = Date.now()): string {
  if (at === undefined) return 'never';
  return `${formatDuration(Math.max(0, now - at) / 1000)} ago`;
}

const STATE_WORD: Record<StatusState, string> = { ok: 'OK', warn: 'WARN', bad: 'FAIL' };

const STYLE = `
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--head:#f6f8fa;
--ok:#116329;--ok-bg:#dafbe1;--warn:#7d4e00;--warn-bg:#fff1c2;--bad:#a40e26;--bad-bg:#ffe3e6}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--head)}
h1{margin:0 0 6px;font-size:20px}
h1 .version{font-weight:400;color:var(--muted);font-size:15px;margin-left:6px}
.facts{display:flex;flex-wrap:wrap;gap:6px 20px;margin:0;padding:0;list-style:none;color:var(--muted)}
.facts b{color:var(--fg);font-weight:600}
main{padding:8px 24px 24px;max-width:1200px}
section{margin-top:20px}
h2{font-size:16px;margin:0 0 8px}
.note{color:var(--muted);margin:0 0 8px}
table{border-collapse:collapse;width:100%;background:var(--bg)}
th,td{text-align:left;vertical-align:top;padding:6px 10px;border:1px solid var(--line)}
th{background:var(--head);font-weight:600}
table.fields th{width:16em;font-weight:500;color:var(--muted)}
td.empty{color:var(--muted);font-style:italic}
code,.value{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;overflow-wrap:anywhere}
.none{color:var(--muted)}
.detail{display:block;color:var(--muted);font-size:12px;overflow-wrap:anywhere}
.badge{display:inline-block;min-width:3.6em;text-align:center;font:700 11px/18px system-ui,sans-serif;letter-spacing:.04em;border-radius:9px;padding:0 6px;margin-right:6px;border:1px solid currentColor}
td.ok{background:var(--ok-bg)}td.warn{background:var(--warn-bg)}td.bad{background:var(--bad-bg)}
.ok .badge,.badge.ok{color:var(--ok);background:var(--ok-bg)}
.warn .badge,.badge.warn{color:var(--warn);background:var(--warn-bg)}
.bad .badge,.badge.bad{color:var(--bad);background:var(--bad-bg)}
footer{padding:0 24px 24px;color:var(--muted);font-size:12px}
#refresh-state.stale{color:var(--bad);font-weight:600}
`.trim();

/**
 * Refreshes the page in place: fetches this same URL every refreshSeconds and swaps in the new
 * header, <main> and time. The HTML was escaped by the server and DOMParser runs no script, so nothing from the
 * data ever executes. When a refresh fails the old data stays and the footer says so.
 */
const SCRIPT = `
(() => {
  const state = document.getElementById('refresh-state');
  const every = Number(document.body.dataset.refresh) * 1000;
  if (!state || !(every > 0)) return;
  const tick = async () => {
    if (!document.hidden) {
      try {
        const response = await fetch(location.href, { cache: 'no-store', headers: { accept: 'text/html' } });
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const next = new DOMParser().parseFromString(await response.text(), 'text/html');
        const parts = ['header', 'main', '#generated'].map((selector) => [document.querySelector(selector), next.querySelector(selector)]);
        if (parts.some(([now, fresh]) => !now || !fresh)) throw new Error('unexpected answer');
        for (const [now, fresh] of parts) now.replaceWith(document.adoptNode(fresh));
        document.title = next.title;
        state.textContent = 'Live: refreshes every ' + every / 1000 + ' s.';
        state.className = '';
      } catch (error) {
        state.textContent = 'Refresh failed (' + (error instanceof Error ? error.message : error) + '): the data above may be stale.';
        state.className = 'stale';
      }
    }
    setTimeout(tick, every);
  };
  state.textContent = 'Live: refreshes every ' + every / 1000 + ' s.';
  setTimeout(tick, every);
})();
`.trim();

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The page's Content-Security-Policy: nothing may load but the one inline style and the one inline
 * script, each allowed by its hash (so no injected markup could run or style anything), fetches
 * go only to this origin (the refresh), no form, no <base>, and no page may frame it.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Every answer of the page (HTML and JSON) carries these. */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': STATUS_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

function cellParts(cell: StatusCell): StatusValue {
  return cell !== null && typeof cell === 'object' ? cell : { value: cell };
}

function renderScalar(value: StatusScalar): string {
  if (value === null || value === '') return '<span class="none">—</span>';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return `<span class="value">${escapeHtml(String(value))}</span>`;
}

function badge(state: StatusState): string {
  return `<span class="badge ${state}">${STATE_WORD[state]}</span>`;
}

function renderCell(tag: 'td', cell: StatusCell): string {
  const { value, state, detail } = cellParts(cell);
  const detailHtml = detail ? `<span class="detail">${escapeHtml(detail)}</span>` : '';
  const cls = state ? ` class="${state}"` : '';
  return `<${tag}${cls}>${state ? badge(state) : ''}${renderScalar(value)}${detailHtml}</${tag}>`;
}

function renderSection(section: StatusSection): string {
  const title = `<h2>${escapeHtml(section.title)}</h2>`;
  const note = section.note ? `<p class="note">${escapeHtml(section.note)}</p>` : '';
  if (!isTableSection(section)) {
    const rows = section.fields
      .map(
        (field) => `<tr><th scope="row">${escapeHtml(field.key)}</th>${renderCell('td', field.value)}</tr>`,
      )
      .join('');
    return `<section>${title}${note}<table class="fields"><tbody>${rows}</tbody></table></section>`;
  }
  const head = section.columns.map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('');
  const body = section.rows.length
    ? section.rows.map((row) => `<tr>${row.map((cell) => renderCell('td', cell)).join('')}</tr>`).join('')
    : `<tr><td class="empty" colspan="${Math.max(1, section.columns.length)}">${escapeHtml(section.empty ?? 'nothing yet')}</td></tr>`;
  return `<section>${title}${note}<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></section>`;
}

/** The whole HTML document for the data (pure: unit tests call it). */
export function renderStatusPage(data: StatusPageData): string {
  const { sidecar } = data;
  const readiness = Object.entries(sidecar.readiness)
    .filter(([, check]) => !check.ok)
    .map(([name, check]) => `${name}: ${check.reason ?? 'failing'}`);
  const readyState: StatusState = sidecar.ready ? 'ok' : 'bad';
  const facts = [
    `<li>readiness ${badge(readyState)}<b>${sidecar.ready ? 'ready' : 'not ready'}</b>${
      readiness.length ? ` <span class="value">(${escapeHtml(readiness.join('; '))})</span>` : ''
    }</li>`,
    `<li>uptime <b>${escapeHtml(formatDuration(sidecar.uptimeSeconds))}</b></li>`,
    `<li>started <b>${escapeHtml(sidecar.startedAt)}</b></li>`,
    `<li>pid <b>${sidecar.pid}</b></li>`,
  ].join('');
  const sections = data.sections.map(renderSection).join('');
  const refresh = Math.max(1, Math.round(data.refreshSeconds));
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<noscript><meta http-equiv="refresh" content="${refresh}"></noscript>`,
    `<title>${sidecar.ready ? '' : '(not ready) '}${escapeHtml(data.title)}</title>`,
    `<style>${STYLE}</style>`,
    `</head><body data-refresh="${refresh}">`,
    `<header><h1>${escapeHtml(data.title)}<span class="version">${escapeHtml(sidecar.version)}</span></h1>`,
    `<ul class="facts">${facts}</ul></header>`,
    `<main>${sections}</main>`,
    `<footer><span id="generated">Generated ${escapeHtml(data.generatedAt)}.</span> `,
    `<span id="refresh-state">Refreshes every ${refresh} s.</span> `,
    '<a href="?format=json">JSON</a> · <a href="/metrics">/metrics</a> · <a href="/readyz">/readyz</a></footer>',
    `<script>${SCRIPT}</script>`,
    '</body></html>',
    '',
  ].join('');
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Gathers the page's data and answers `GET /` and `GET /?format=json`. */
export class StatusPage {
  readonly #options: StatusPageOptions;
  readonly #startedAt: number;
  readonly #now: () => number;

  constructor(options: StatusPageOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#startedAt = options.startedAt ?? this.#now();
  }

  async data(): Promise<StatusPageData> {
    const { name, version, readiness } = this.#options;
    const report = await readiness.report();
    let sections: StatusSection[] = [];
    const provider = this.#options.provider?.();
    if (provider) {
      try {
        sections = (await provider()).sections;
      } catch (error) {
        sections = [
          {
            title: 'Status',
            fields: [{ key: 'status provider', value: { value: errorMessage(error), state: 'bad' } }],
          },
        ];
      }
    }
    const now = this.#now();
    return {
      title: name,
      sidecar: {
        name,
        version,
        pid: process.pid,
        startedAt: new Date(this.#startedAt).toISOString(),
        uptimeSeconds: Math.floor((now - this.#startedAt) / 1000),
        ready: report.ready,
        readiness: report.checks,
      },
      generatedAt: new Date(now).toISOString(),
      refreshSeconds: this.#options.refreshSeconds ?? 5,
      sections: [
        ...sections,
        {
          title: 'Readiness checks',
          note: 'What GET /readyz answers.',
          columns: ['check', 'state'],
          rows: Object.entries(report.checks).map(([check, outcome]) => [
            check,
            outcome.ok
              ? { value: 'passing', state: 'ok' }
              : { value: 'failing', state: 'bad', detail: outcome.reason ?? '' },
          ]),
          empty: 'no readiness check is registered',
        },
      ],
    };
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const query = new URLSearchParams((request.url ?? '/').split('?')[1] ?? '');
    const format = query.get('format') ?? 'html';
    if (format !== 'html' && format !== 'json') {
      sendJson(response, 400, { error: 'format must be html or json' }, STATUS_PAGE_HEADERS);
      return;
    }
    const data = await this.data();
    const text = format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : renderStatusPage(data);
    response.writeHead(200, {
      ...STATUS_PAGE_HEADERS,
      'content-type': format === 'json' ? 'application/json' : 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    response.end(request.method === 'HEAD' ? undefined : text);
  }
}
