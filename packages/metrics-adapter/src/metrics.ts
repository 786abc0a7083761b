import { Counter, Gauge, Histogram, type Registry } from '@sidecar-kit/core';

/** The adapter's own metrics (prefixed metrics_adapter_). Label sets are bounded by the config. */
export class AdapterMetrics {
  readonly requests: Counter<'path' | 'code'>;
  readonly #fetchSeconds: Histogram<'url'>;
  readonly #fetchErrors: Counter<'url'>;
  readonly #checks: Gauge<'endpoint' | 'check'>;
  readonly #unmapped: Counter<'metric'>;

  constructor(registry: Registry, prefix: string) {
    const registers = [registry];
    this.requests = new Counter({
      name: `${prefix}requests_total`,
      help: 'Requests served, by endpoint path and status code.',
      labelNames: ['path', 'code'],
      registers,
    });
    this.#fetchSeconds = new Histogram({
      name: `${prefix}upstream_fetch_duration_seconds`,
      help: 'Time to fetch (and parse) the app endpoint.',
      labelNames: ['url'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#fetchErrors = new Counter({
      name: `${prefix}upstream_errors_total`,
      help: 'Upstream fetches that failed (refused, timeout, bad status, malformed).',
      labelNames: ['url'],
      registers,
    });
    this.#checks = new Gauge({
      name: `${prefix}check_passing`,
      help: '1 when the check passed at its last evaluation, 0 when it failed.',
      labelNames: ['endpoint', 'check'],
      registers,
    });
    this.#unmapped = new Counter({
      name: `${prefix}unmapped_values_total`,
      help: 'JSON values that matched a path but could not be turned into a number.',
      labelNames: ['metric'],
      registers,
    });
  }

  fetched(url: string, outcome: { ok: boolean; seconds: number }): void {
    this.#fetchSeconds.observe({ url }, outcome.seconds);
    if (!outcome.ok) this.#fetchErrors.inc({ url });
  }

  checkResult(endpoint: string, check: string, pass: boolean): void {
    this.#checks.set({ endpoint, check }, pass ? 1 : 0);
  }

  unmapped(metric: string): void {
    this.#unmapped.inc({ metric });
  }
}
