// metrics-adapter: the app's JSON health document mapped to series (json-metrics endpoints), and
// the JSONPath subset of their config. Input: a path on the first line when it starts with "$",
// then the document. JSON.parse's SyntaxError and the path's PathError are the parsers' own no.
import { JsonMetricsEndpoint } from '../../packages/metrics-adapter/dist/endpoints/json-metrics.js';
import { PathError, parsePath, select } from '../../packages/metrics-adapter/dist/json/path.js';
import { check, rejectOnlyWith, text } from './harness.mjs';

/** Counts what the endpoint reports as unmapped instead of a registry (not what is fuzzed). */
const metrics = { unmapped() {}, fetched() {} };
const endpoint = new JsonMetricsEndpoint(
  {
    path: '/metrics',
    timeoutMs: 1000,
    source: {
      url: 'http://127.0.0.1:1/health',
      format: 'json',
      timeoutMs: 1000,
      cacheMs: 0,
      maxBytes: 1 << 20,
    },
    metrics: [
      { name: 'up', type: 'gauge', path: '$.status', labels: {}, valueMap: { UP: 1, DOWN: 0 } },
      { name: 'component_up', type: 'gauge', path: '$.components.*.status', labels: { component: '{key}' } },
      {
        name: 'value',
        type: 'gauge',
        path: '$[*][0].value',
        labels: { at: '{key0}/{key1}', raw: '{value}' },
      },
      { name: 'deep', type: 'gauge', path: "$['a b'].*.*", labels: { keys: '{key0}{key1}{key}' } },
    ],
  },
  metrics,
);

export function fuzz(data) {
  let input = text(data);
  if (input.startsWith('$')) {
    const newline = input.indexOf('\n');
    const path = newline < 0 ? input : input.slice(0, newline);
    input = newline < 0 ? '' : input.slice(newline + 1);
    const segments = rejectOnlyWith([PathError], () => parsePath(path));
    if (segments !== undefined) {
      const document = rejectOnlyWith([SyntaxError], () => JSON.parse(input));
      for (const match of select(document, segments))
        check(typeof match.key === 'string', 'match key is a string');
    }
    return;
  }
  const document = rejectOnlyWith([SyntaxError], () => JSON.parse(input));
  if (document === undefined) return;
  for (const [, series] of endpoint.series(document))
    for (const one of series) check(typeof one.value === 'number', 'series value is a number');
}
