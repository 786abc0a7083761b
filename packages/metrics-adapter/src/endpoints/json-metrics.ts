import type { EndpointConfig, MetricConfig } from '../config.js';
import { type PathMatch, type PathSegment, parsePath, select } from '../json/path.js';
import type { AdapterMetrics } from '../metrics.js';
import { Upstream, type UpstreamState } from '../source/upstream.js';

export interface Series {
  labels: Record<string, string>;
  value: number;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Label templates: {key} is the key the last wildcard matched, {key0}, {key1}... each wildcard's, {value} the raw value. */
function renderLabel(template: string, match: PathMatch): string {
  return template.replace(/\{(key\d*|value)\}/g, (_all, name: string) => {
    if (name === 'key') return match.key;
    if (name === 'value')
      return typeof match.value === 'object' ? JSON.stringify(match.value) : String(match.value);
    return match.wildcardKeys[Number(name.slice(3))] ?? '';
  });
}

function toNumber(value: unknown, valueMap: Record<string, number> | undefined): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    if (valueMap && value in valueMap) return valueMap[value];
    if (valueMap) return undefined;
    const number = Number(value);
    return value.trim() !== '' && !Number.isNaN(number) ? number : undefined;
  }
  return undefined;
}

/** Prometheus `/metrics` computed from the app's JSON (json_exporter style). */
export class JsonMetricsEndpoint {
  readonly #upstream: Upstream<unknown>;
  readonly #metrics: Array<{ config: MetricConfig; path: PathSegment[] }>;

  constructor(
    readonly config: EndpointConfig,
    private readonly metrics: AdapterMetrics,
  ) {
    const source = config.source!;
    this.#metrics = (config.metrics ?? []).map((metric) => ({
      config: metric,
      path: parsePath(metric.path),
    }));
    this.#upstream = new Upstream({
      url: source.url,
      timeoutMs: source.timeoutMs,
      cacheMs: source.cacheMs,
      maxBytes: source.maxBytes,
      transform: (body) => JSON.parse(body) as unknown,
      onFetch: (outcome) => metrics.fetched(source.url, outcome),
    });
  }

  /** Maps a document to series; exported for tests that compare parsed output. */
  series(document: unknown): Map<string, Series[]> {
    const out = new Map<string, Series[]>();
    for (const { config, path } of this.#metrics) {
      const list: Series[] = [];
      for (const match of select(document, path)) {
        const value = toNumber(match.value, config.valueMap);
        if (value === undefined) {
          this.metrics.unmapped(config.name);
          continue;
        }
        const labels: Record<string, string> = {};
        for (const [name, template] of Object.entries(config.labels))
          labels[name] = renderLabel(template, match);
        list.push({ labels, value });
      }
      out.set(config.name, list);
    }
    return out;
  }

  #last:
    | {
        fetched: unknown;
        renderedAt: number;
        dataAt: number;
        series: Map<string, Series[]> | undefined;
        result: { status: number; body: string; type: string };
      }
    | undefined;

  async render(): Promise<{ status: number; body: string; type: string }> {
    const fetched = await this.#upstream.get();
    if (this.#last?.fetched === fetched) return this.#last.result;
    const series = fetched.ok ? this.series(fetched.value) : undefined;
    const result = this.#render(fetched, series);
    this.#last = { fetched, renderedAt: Date.now(), dataAt: fetched.fetchedAt, series, result };
    return result;
  }

  /** The mappings, in config order. */
  get mappings(): ReadonlyArray<MetricConfig> {
    return this.#metrics.map(({ config }) => config);
  }

  /**
   * The series the last request was served (undefined before the first; `series` undefined when
   * that fetch failed): read, never rendered here.
   */
  get lastRender():
    | { series: Map<string, Series[]> | undefined; renderedAt: number; dataAt: number }
    | undefined {
    const last = this.#last;
    return last && { series: last.series, renderedAt: last.renderedAt, dataAt: last.dataAt };
  }

  get upstream(): Readonly<UpstreamState> {
    return this.#upstream.state;
  }

  #render(
    fetched: Awaited<ReturnType<Upstream<unknown>['get']>>,
    all: Map<string, Series[]> | undefined,
  ): {
    status: number;
    body: string;
    type: string;
  } {
    if (!fetched.ok || !all) {
      const reason = fetched.ok ? 'no series' : fetched.reason;
      return { status: 503, body: `# ${reason}\n`, type: 'text/plain; charset=utf-8' };
    }
    const lines: string[] = [];
    for (const { config } of this.#metrics) {
      if (config.help !== undefined)
        lines.push(`# HELP ${config.name} ${config.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      lines.push(`# TYPE ${config.name} ${config.type}`);
      for (const series of all.get(config.name) ?? []) {
        const labels = Object.entries(series.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
        lines.push(
          `${config.name}${labels.length ? `{${labels.join(',')}}` : ''} ${formatValue(series.value)}`,
        );
      }
    }
    return { status: 200, body: `${lines.join('\n')}\n`, type: 'text/plain; version=0.0.4; charset=utf-8' };
  }
}
