import {
  formatAge,
  formatDuration,
  type StatusCell,
  type StatusModel,
  type StatusSection,
} from '@sidecar-kit/core';
import type { HealthEndpoint } from './endpoints/health.js';
import type { JsonMetricsEndpoint } from './endpoints/json-metrics.js';
import type { UpstreamState } from './source/upstream.js';

/** Series shown per JSON mapping; the rest are counted ("and 12 more"). */
export const MAX_SERIES_SHOWN = 20;
/** Values of a multi-series check shown; the rest are counted. */
const MAX_VALUES_SHOWN = 10;

export interface AdapterStatusSources {
  listen: string | undefined;
  health: ReadonlyArray<HealthEndpoint>;
  json: ReadonlyArray<JsonMetricsEndpoint>;
  proxies: ReadonlyArray<{ path: string; url: string }>;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function observed(value: number | number[] | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return formatNumber(value);
  const shown = value.slice(0, MAX_VALUES_SHOWN).map(formatNumber).join(', ');
  return value.length > MAX_VALUES_SHOWN ? `${shown} and ${value.length - MAX_VALUES_SHOWN} more` : shown;
}

function lastFetch(state: Readonly<UpstreamState>, now: number): StatusCell[] {
  const { last } = state;
  if (!last)
    return [
      { value: 'not fetched yet', state: 'warn', detail: 'fetched when its endpoint is first called' },
      null,
    ];
  return [
    last.ok
      ? { value: 'ok', state: 'ok', detail: `took ${formatDuration(last.seconds)}` }
      : { value: 'failed', state: 'bad', detail: last.reason },
    formatAge(last.at, now),
  ];
}

/**
 * The metrics-adapter's status page: what the last requests were answered, read from what the
 * endpoints keep anyway (their last evaluation and their upstream's last fetch). Building it
 * fetches nothing and evaluates nothing, so a page left open never adds load on the app.
 */
export function adapterStatus(sources: AdapterStatusSources, now: number = Date.now()): StatusModel {
  const sections: StatusSection[] = [];
  const endpoints: StatusCell[][] = [
    ...sources.health.map((h): StatusCell[] => [
      h.config.path,
      'checks (health from Prometheus metrics)',
      h.upstream.url,
    ]),
    ...sources.json.map((j): StatusCell[] => [
      j.config.path,
      'metrics (Prometheus from JSON)',
      j.upstream.url,
    ]),
    ...sources.proxies.map((p): StatusCell[] => [p.path, 'proxy', p.url]),
  ];
  sections.push({
    title: 'Endpoints',
    note: `Served on ${sources.listen ?? '(not listening yet)'}, with /healthz for the adapter itself.`,
    columns: ['path', 'serves', 'source'],
    rows: endpoints,
  });

  for (const health of sources.health) {
    const last = health.lastEvaluation;
    const rows = health.checks.map(({ name, source }): StatusCell[] => {
      const result = last?.body.checks[name]?.[0];
      if (!result || !last)
        return [
          name,
          source,
          null,
          {
            value: 'not evaluated yet',
            state: 'warn',
            detail: `evaluated when ${health.config.path} is called`,
          },
          null,
        ];
      return [
        name,
        source,
        observed(result.observedValue),
        result.status === 'pass'
          ? { value: 'pass', state: 'ok' }
          : { value: 'fail', state: 'bad', detail: result.output ?? `${source} is false` },
        formatAge(last.dataAt, now),
      ];
    });
    sections.push({
      title: `Checks of ${health.config.path}`,
      note: last
        ? `As last answered (${last.body.status}), ${formatAge(last.evaluatedAt, now)}; age is that of the metrics read.`
        : `Not called yet: ${health.config.path} evaluates the checks when it is called.`,
      columns: ['check', 'expression', 'last value', 'verdict', 'age'],
      rows,
    });
  }

  const upstreams = [...sources.health, ...sources.json].map((endpoint): StatusCell[] => {
    const state = endpoint.upstream;
    return [
      state.url,
      endpoint.config.path,
      ...lastFetch(state, now),
      state.last && !state.last.ok ? formatAge(state.lastOkAt, now) : null,
      `${state.fetches} / ${state.failures}`,
    ];
  });
  sections.push({
    title: 'Upstream fetches',
    note: 'One fetch per cache window (source.cacheMs) however many requests ask.',
    columns: ['url', 'for', 'last fetch', 'when', 'last success', 'fetches / failed'],
    rows: upstreams,
    empty: 'no endpoint fetches an upstream',
  });

  for (const json of sources.json) {
    const last = json.lastRender;
    const rows: StatusCell[][] = [];
    for (const mapping of json.mappings) {
      const series = last?.series?.get(mapping.name);
      if (!last) {
        rows.push([mapping.name, mapping.path, null, { value: 'not served yet', state: 'warn' }]);
        continue;
      }
      if (!series) {
        rows.push([mapping.name, mapping.path, null, { value: 'upstream failed', state: 'bad' }]);
        continue;
      }
      if (!series.length) {
        rows.push([
          mapping.name,
          mapping.path,
          null,
          { value: 'no match', state: 'warn', detail: 'the path matched no number' },
        ]);
        continue;
      }
      for (const one of series.slice(0, MAX_SERIES_SHOWN)) {
        const labels = Object.entries(one.labels)
          .map(([key, value]) => `${key}="${value}"`)
          .join(', ');
        rows.push([mapping.name, mapping.path, labels ? `{${labels}}` : null, formatNumber(one.value)]);
      }
      if (series.length > MAX_SERIES_SHOWN)
        rows.push([mapping.name, mapping.path, `and ${series.length - MAX_SERIES_SHOWN} more series`, null]);
    }
    sections.push({
      title: `JSON mappings of ${json.config.path}`,
      note: last
        ? `As last served, ${formatAge(last.renderedAt, now)}, from data fetched ${formatAge(last.dataAt, now)}.`
        : `Not called yet: ${json.config.path} fetches and maps when it is called.`,
      columns: ['metric', 'JSONPath', 'labels', 'last value'],
      rows,
    });
  }
  return { sections };
}
