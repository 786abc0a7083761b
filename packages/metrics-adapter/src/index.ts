import { createRequire } from 'node:module';
import type { SidecarDefinition } from '@sidecar-kit/core';
import { configSchema } from './config.js';
import { AdapterMetrics } from './metrics.js';
import { AdapterServer } from './server.js';

export { configSchema, type EndpointConfig, type MetricsAdapterConfig } from './config.js';
export { type HealthBody, HealthEndpoint } from './endpoints/health.js';
export { JsonMetricsEndpoint } from './endpoints/json-metrics.js';
export { type Expression, ExpressionError, evaluate, parseExpression } from './expr/expression.js';
export { parsePath, select } from './json/path.js';
export {
  type ExpositionFormat,
  formatOf,
  type MetricFamilyInfo,
  type ParsedMetrics,
  ParseError,
  type ParseOptions,
  parsePrometheusText,
  type Sample,
  SampleLimitError,
} from './prometheus/parser.js';
export { AdapterServer } from './server.js';
export { Upstream, type UpstreamState } from './source/upstream.js';
export { adapterStatus } from './status.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export const definition: SidecarDefinition<typeof configSchema> = {
  name: 'metrics-adapter',
  version,
  description: "serves the monitoring interface a system expects, computed from the app's own",
  schema: configSchema,
  help: 'Config reference: https://github.com/sidecar-kit/sidecar-kit/tree/main/packages/metrics-adapter#configuration',
  create: ({ config, logger, registry, metricPrefix, readiness, setStatusPage }) => {
    const server = new AdapterServer(config, new AdapterMetrics(registry, metricPrefix), logger);
    readiness.register('listener', () => (server.address() ? true : 'listener not started'));
    setStatusPage(() => server.status());
    return [server];
  },
};
