import { byteSize, listenAddress, runtimeSections, z } from '@sidecar-kit/core';
import { ExpressionError, parseExpression } from './expr/expression.js';
import { PathError, parsePath } from './json/path.js';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const source = z.strictObject({
  /** The app's endpoint: an http(s) URL, normally on 127.0.0.1 inside the Pod. */
  url: z.url({ protocol: /^https?$/ }),
  format: z.enum(['prometheus', 'json']),
  timeoutMs: z.number().int().positive().default(1000),
  cacheMs: z.number().int().min(0).default(1000),
  maxBytes: byteSize.default(10 * 1024 * 1024),
  /** Series of the checked metrics kept per fetch (the rest of the page is validated, not kept). */
  maxSeries: z.number().int().positive().default(10_000),
});

const check = z.strictObject({ name: z.string().min(1), expr: z.string().min(1) });

const metric = z.strictObject({
  name: z.string(),
  help: z.string().optional(),
  type: z.enum(['gauge', 'counter', 'untyped']).default('gauge'),
  path: z.string(),
  labels: z.record(z.string(), z.string()).default({}),
  valueMap: z.record(z.string(), z.number()).optional(),
});

const endpoint = z
  .strictObject({
    path: z.string().regex(/^\/[^?#\s]*$/, 'expected a path starting with /'),
    source: source.optional(),
    checks: z.array(check).min(1).optional(),
    metrics: z.array(metric).min(1).optional(),
    proxy: z.url({ protocol: /^https?$/ }).optional(),
    timeoutMs: z.number().int().positive().default(5000),
  })
  .superRefine((value, ctx) => {
    const kinds = [value.checks && 'checks', value.metrics && 'metrics', value.proxy && 'proxy'].filter(
      Boolean,
    );
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `expected exactly one of checks, metrics or proxy, found ${kinds.length ? kinds.join(', ') : 'none'}`,
      });
      return;
    }
    if (!value.proxy && !value.source)
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'required with checks or metrics' });
    if (value.checks && value.source && value.source.format !== 'prometheus') {
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'format'],
        message: 'checks read Prometheus metrics: expected format: prometheus',
      });
    }
    if (value.metrics && value.source && value.source.format !== 'json') {
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'format'],
        message: 'metrics are computed from JSON: expected format: json',
      });
    }
    value.checks?.forEach((item, index) => {
      try {
        parseExpression(item.expr);
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        ctx.addIssue({
          code: 'custom',
          path: ['checks', index, 'expr'],
          message: `invalid expression at column ${error.column}: ${error.reason} in "${item.expr}"`,
        });
      }
    });
    value.metrics?.forEach((item, index) => {
      if (!METRIC_NAME.test(item.name)) {
        const bad = [...item.name].findIndex(
          (char, i) => !(i === 0 ? /[a-zA-Z_:]/ : /[a-zA-Z0-9_:]/).test(char),
        );
        ctx.addIssue({
          code: 'custom',
          path: ['metrics', index, 'name'],
          message: `"${item.name}" is not a valid metric name: character ${bad + 1} ("${item.name[bad] ?? ''}") is not allowed (expected [a-zA-Z_:][a-zA-Z0-9_:]*)`,
        });
      }
      for (const label of Object.keys(item.labels)) {
        if (!LABEL_NAME.test(label) || label.startsWith('__')) {
          ctx.addIssue({
            code: 'custom',
            path: ['metrics', index, 'labels', label],
            message: `"${label}" is not a valid label name (expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`,
          });
        }
      }
      try {
        parsePath(item.path);
      } catch (error) {
        if (!(error instanceof PathError)) throw error;
        ctx.addIssue({
          code: 'custom',
          path: ['metrics', index, 'path'],
          message: `invalid path at column ${error.column}: ${error.reason}`,
        });
      }
    });
  });

export const configSchema = z
  .strictObject({
    ...runtimeSections({ adminListen: '127.0.0.1:9902' }),
    /** Where the monitoring system and the kubelet call; 127.0.0.1 unless set (0.0.0.0 in a Pod). */
    listen: listenAddress.default({ host: '127.0.0.1', port: 9102 }),
    endpoints: z.array(endpoint).min(1),
  })
  .superRefine((value, ctx) => {
    const seen = new Set<string>();
    value.endpoints.forEach((item, index) => {
      if (item.path === '/healthz')
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', index, 'path'],
          message: "/healthz is the adapter's own liveness endpoint",
        });
      if (seen.has(item.path))
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', index, 'path'],
          message: `duplicate path ${item.path}`,
        });
      seen.add(item.path);
    });
  });

export type MetricsAdapterConfig = z.output<typeof configSchema>;
export type EndpointConfig = MetricsAdapterConfig['endpoints'][number];
export type SourceConfig = NonNullable<EndpointConfig['source']>;
export type MetricConfig = NonNullable<EndpointConfig['metrics']>[number];
