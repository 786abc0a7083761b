import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';

/** Turns a sidecar name into a metric prefix: "log-shipper" -> "log_shipper_". */
export function metricPrefix(sidecarName: string): string {
  return `${sidecarName.replace(/[^a-zA-Z0-9_]/g, '_')}_`;
}

// prom-client exports these totals as gauges, which `promtool check metrics` flags ("non-counter
// metrics should not have _total suffix"); the same numbers are in nodejs_active_*{type} beside them.
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** A registry of its own per sidecar (never prom-client's global one), with process metrics. */
export function createRegistry(prefix: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(`${prefix}${name}`);
  return registry;
}
