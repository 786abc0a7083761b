import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { Lease } from '../cluster/lease.js';
import type { ClusterConfig, RetryCondition } from '../config.js';
import {
  type AnsweredFailure,
  ClientClosedError,
  clientRequestError,
  type UpstreamFailure,
  UpstreamStatusError,
  upstreamFailure,
} from '../errors.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * What may be retried of a request: `any-failure` (idempotent method, no body or one held whole),
 * `unsent-only` (a connect failure: nothing was sent; any method, a streamed body included, since
 * undici reads a body only once connected; a tcp connect) or `never`.
 */
export type RetrySafety = 'any-failure' | 'unsent-only' | 'never';

/** How a request's body goes upstream: none, held whole (replayable), or streamed from the client. */
export type RequestBodyKind = 'none' | 'held' | 'streamed';

export function retrySafety(method: string, body: RequestBodyKind): RetrySafety {
  if (body === 'streamed') return 'unsent-only';
  return IDEMPOTENT.has(method) ? 'any-failure' : 'unsent-only';
}

/**
 * A cluster's `retries` settings: which failures are retried and how often. The retry budget is
 * the cluster's, checked when it hands out the retry's lease.
 */
export class RetryPolicy {
  readonly #on: ReadonlySet<RetryCondition>;
  readonly #attempts: number;

  constructor(retries: ClusterConfig['retries']) {
    this.#on = new Set(retries.on);
    this.#attempts = retries.attempts;
  }

  /** Whether a 5xx answer may be retried after `retries` retries (checked before any allocation). */
  retriesStatus(status: number, retries: number, safety: RetrySafety): boolean {
    if (safety !== 'any-failure' || retries >= this.#attempts) return false;
    return this.#on.has('5xx') || this.#on.has(String(status) as RetryCondition);
  }

  /** Whether a failure before any response head may be retried after `retries` retries. */
  retriesFailure(failure: UpstreamFailure, retries: number, safety: RetrySafety): boolean {
    if (safety === 'never' || retries >= this.#attempts) return false;
    if (failure instanceof UpstreamStatusError || !this.#on.has(failure.kind)) return false;
    return safety === 'any-failure' || failure.kind === 'connect-failure';
  }
}

/** The handler the retry layer wraps: it passes on one response and is told which attempt it is from. */
export interface AttemptHandler
  extends Required<
    Pick<
      Dispatcher.DispatchHandler,
      'onRequestStart' | 'onResponseStart' | 'onResponseData' | 'onResponseEnd' | 'onResponseError'
    >
  > {
  /** The callbacks that follow are from this attempt (0: the first try). */
  onAttempt(endpoint: Endpoint, attempt: number): void;
  /** No attempt could be made, or none is left: answer this failure. */
  fail(failure: AnsweredFailure): void;
  /** The client went away: no retry helps, and the endpoint is not to blame. */
  readonly clientGone: boolean;
}

/** What a retry layer needs of the listener: shared by all its requests. */
export interface RetryContext {
  readonly cluster: Cluster;
  readonly policy: RetryPolicy;
  /** Counts one retry, by the failure that caused it. */
  countRetry(reason: string): void;
}

/**
 * The HTTP retry layer, in the spirit of undici's RetryHandler: it takes a lease per attempt,
 * dispatches the request to the lease's endpoint with itself as the handler, and passes the
 * callbacks on to the inner handler, unless the attempt failed in a way the policy retries and the
 * cluster admits the retry (the retry budget). A retried 5xx is drained, never shown to the client.
 */
export class RetryHandler implements Dispatcher.DispatchHandler {
  readonly #context: RetryContext;
  readonly #inner: AttemptHandler;
  readonly #options: Dispatcher.DispatchOptions;
  readonly #key: string | undefined;
  readonly #safety: RetrySafety;
  #lease: Lease | undefined;
  /** The next attempt's lease, taken at a retried 5xx's head and used once its body is drained. */
  #next: Lease | undefined;
  #drainingStatus = 0;
  #tried: Set<Endpoint> | undefined;
  #retries = 0;
  #passedOn = false;

  constructor(
    context: RetryContext,
    inner: AttemptHandler,
    options: Dispatcher.DispatchOptions,
    key: string | undefined,
    safety: RetrySafety,
  ) {
    this.#context = context;
    this.#inner = inner;
    this.#options = options;
    this.#key = key;
    this.#safety = safety;
  }

  /** Makes the first attempt. */
  dispatch(): void {
    const lease = this.#context.cluster.acquire(this.#key);
    if (lease instanceof Lease) this.#send(lease);
    else this.#inner.fail(lease);
  }

  #send(lease: Lease): void {
    this.#lease = lease;
    this.#drainingStatus = 0;
    this.#inner.onAttempt(lease.endpoint, this.#retries);
    lease.endpoint.pool.dispatch(this.#options, this);
  }

  /** The lease for a retry of the current attempt, or undefined when the cluster refuses one. */
  #admitRetry(current: Lease): Lease | undefined {
    this.#tried ??= new Set();
    this.#tried.add(current.endpoint);
    const next = this.#context.cluster.acquire(this.#key, this.#tried, current);
    return next instanceof Lease ? next : undefined;
  }

  #retryWith(next: Lease, reason: string): void {
    this.#retries++;
    this.#context.countRetry(reason);
    this.#send(next);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#inner.onRequestStart(controller, context);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    const lease = this.#lease as Lease;
    if (statusCode >= 500 && this.#context.policy.retriesStatus(statusCode, this.#retries, this.#safety)) {
      // Taken now, while this attempt still counts, so that a refusal leaves time to pass the 5xx on.
      const next = this.#admitRetry(lease);
      if (next) {
        this.#next = next;
        this.#drainingStatus = statusCode;
        return;
      }
    }
    lease.answered(statusCode);
    this.#passedOn = true;
    this.#inner.onResponseStart(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#drainingStatus === 0) this.#inner.onResponseData(controller, chunk);
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[]>,
  ): void {
    const lease = this.#lease as Lease;
    const status = this.#drainingStatus;
    if (status === 0) {
      lease.release();
      this.#inner.onResponseEnd(controller, trailers);
      return;
    }
    lease.release(new UpstreamStatusError(status));
    const next = this.#next as Lease;
    this.#next = undefined;
    if (this.#inner.clientGone) {
      next.release();
      this.#inner.onResponseError(controller, new ClientClosedError());
    } else this.#retryWith(next, String(status));
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    const lease = this.#lease as Lease;
    const next = this.#next;
    this.#next = undefined;
    // The client's fault (a request undici cannot send, a stalled body) or the client left: the
    // endpoint is not to blame and no retry helps.
    const clientError = clientRequestError(error);
    if (clientError || this.#inner.clientGone) {
      lease.release();
      next?.release();
      this.#inner.onResponseError(controller, clientError ?? error);
      return;
    }
    const failure = upstreamFailure(error);
    // Reported first, so that an ejection it causes applies to the retry's pick; released after
    // the retry's lease is taken, so that the retry budget still counts this request.
    lease.failed(failure);
    if (next) {
      // The body of a 5xx being retried broke off: the retry was admitted already.
      lease.release();
      this.#retryWith(next, String(this.#drainingStatus));
      return;
    }
    const retry =
      !this.#passedOn &&
      this.#context.policy.retriesFailure(failure, this.#retries, this.#safety) &&
      !streamedBodyRead(this.#options.body)
        ? this.#admitRetry(lease)
        : undefined;
    lease.release();
    if (retry) this.#retryWith(retry, failure.kind);
    else this.#inner.onResponseError(controller, failure);
  }
}

/** A streamed body that gave bytes away cannot be replayed (a connect failure never reads one). */
function streamedBodyRead(body: Dispatcher.DispatchOptions['body']): boolean {
  return body instanceof Readable && body.readableDidRead;
}
