import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';

/** Turns a sidecar name into a metric prefix: "log-shipper" -> "log_shipper_". */
export function metricPrefix(sidecarName: string): string {
  return `${sidecarName.replace(/[^a-zA-Z0-9_]/g, '_')}_`;
}

/** A registry of its own per sidecar (never prom-client's global one), with process metrics. */
export function createRegistry(prefix: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}
