import { jsonBody } from '@sidecar-kit/core';
import type { EndpointConfig } from '../config.js';
import { type Expression, evaluate, parseExpression } from '../expr/expression.js';
import type { AdapterMetrics } from '../metrics.js';
import { formatOf, parsePrometheusText, type Sample } from '../prometheus/parser.js';
import { Upstream, type UpstreamState } from '../source/upstream.js';

export interface HealthBody {
  status: 'pass' | 'fail';
  output?: string;
  checks: Record<
    string,
    Array<{
      status: 'pass' | 'fail';
      observedValue: number | number[] | null;
      observedUnit?: string;
      output?: string;
      time: string;
    }>
  >;
}

/** `/health` from Prometheus metrics: 200 + pass when every check passes, else 503 + fail (IETF health draft shape). */
export class HealthEndpoint {
  readonly #upstream: Upstream<Sample[]>;
  readonly #checks: Array<{ name: string; expression: Expression }>;
  /** The last evaluation, reused while the upstream answer is the same cached one. */
  #last:
    | {
        fetched: unknown;
        evaluatedAt: number;
        dataAt: number;
        result: { status: number; body: HealthBody; text: string };
      }
    | undefined;

  constructor(
    readonly config: EndpointConfig,
    private readonly metrics: AdapterMetrics,
  ) {
    const source = config.source!;
    this.#checks = (config.checks ?? []).map((check) => ({
      name: check.name,
      expression: parseExpression(check.expr),
    }));
    const checked = new Set(this.#checks.map(({ expression }) => expression.metric));
    this.#upstream = new Upstream({
      url: source.url,
      timeoutMs: source.timeoutMs,
      cacheMs: source.cacheMs,
      maxBytes: source.maxBytes,
      // Only the series the checks read are kept: the cache holds what they need, not the whole page.
      // The grammar is the one the upstream's Content-Type announces (OpenMetrics or Prometheus text).
      transform: (body, contentType) =>
        parsePrometheusText(body, {
          keep: (name) => checked.has(name),
          maxSamples: source.maxSeries,
          format: formatOf(contentType),
        }).samples,
      onFetch: (outcome) => metrics.fetched(source.url, outcome),
    });
  }

  async evaluate(): Promise<{ status: number; body: HealthBody; text: string }> {
    const fetched = await this.#upstream.get();
    if (this.#last?.fetched === fetched) return this.#last.result;
    const evaluated = this.#evaluate(fetched);
    const result = { ...evaluated, text: jsonBody(evaluated.body) };
    this.#last = { fetched, evaluatedAt: Date.now(), dataAt: fetched.fetchedAt, result };
    return result;
  }

  /** The checks and their expressions, in config order. */
  get checks(): ReadonlyArray<{ name: string; source: string }> {
    return this.#checks.map(({ name, expression }) => ({ name, source: expression.source }));
  }

  /** The last evaluation a request got (undefined before the first): read, never evaluated here. */
  get lastEvaluation(): { body: HealthBody; evaluatedAt: number; dataAt: number } | undefined {
    const last = this.#last;
    return last && { body: last.result.body, evaluatedAt: last.evaluatedAt, dataAt: last.dataAt };
  }

  get upstream(): Readonly<UpstreamState> {
    return this.#upstream.state;
  }

  #evaluate(fetched: Awaited<ReturnType<Upstream<Sample[]>['get']>>): { status: number; body: HealthBody } {
    const time = new Date(fetched.fetchedAt).toISOString();
    if (!fetched.ok) {
      const checks: HealthBody['checks'] = {};
      for (const { name } of this.#checks) {
        checks[name] = [{ status: 'fail', observedValue: null, output: fetched.reason, time }];
        this.metrics.checkResult(this.config.path, name, false);
      }
      return { status: 503, body: { status: 'fail', output: fetched.reason, checks } };
    }
    const checks: HealthBody['checks'] = {};
    let pass = true;
    for (const { name, expression } of this.#checks) {
      const outcome = evaluate(expression, fetched.value);
      pass &&= outcome.pass;
      this.metrics.checkResult(this.config.path, name, outcome.pass);
      checks[name] = [
        {
          status: outcome.pass ? 'pass' : 'fail',
          observedValue: outcome.observedValue,
          ...(outcome.output
            ? { output: outcome.output }
            : outcome.pass
              ? {}
              : { output: `${expression.source} is false` }),
          time,
        },
      ];
    }
    return { status: pass ? 200 : 503, body: { status: pass ? 'pass' : 'fail', checks } };
  }
}
