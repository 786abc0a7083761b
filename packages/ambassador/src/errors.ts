import type { ServerResponse } from 'node:http';
import { sendJson } from '@sidecar-kit/core';

/** The failures outlier detection counts and `retries.on` names. */
export type FailureKind = 'connect-failure' | 'reset' | 'timeout' | '5xx';

/** Why the ambassador answered a request itself. */
export type LocalReason =
  | 'no_healthy_upstream'
  | 'circuit_open'
  | 'upstream_timeout'
  | 'upstream_connect_failure'
  | 'upstream_reset'
  | 'not_a_forward_proxy'
  | 'bad_request'
  | 'request_body_timeout'
  | 'request_header_fields_too_large'
  | 'uri_too_long'
  | 'request_header_timeout';

const STATUS: Record<LocalReason, number> = {
  no_healthy_upstream: 503,
  circuit_open: 503,
  upstream_timeout: 504,
  upstream_connect_failure: 502,
  upstream_reset: 502,
  not_a_forward_proxy: 403,
  bad_request: 400,
  request_body_timeout: 408,
  request_header_fields_too_large: 431,
  uri_too_long: 414,
  request_header_timeout: 408,
};

/** The status code the ambassador answers a local error with. */
export function localStatus(reason: LocalReason): number {
  return STATUS[reason];
}

/** Every failure the data path deals in; the class says what happened, not a string. */
export abstract class AmbassadorError extends Error {
  override get name(): string {
    return this.constructor.name;
  }
}

/** An endpoint failed an attempt: outlier detection counts it and the retry policy may retry it. */
export abstract class UpstreamFailure extends AmbassadorError {
  abstract readonly kind: FailureKind;
}

/** No connection: refused, unreachable, connect timeout, TLS verification failed. Nothing was sent. */
export class UpstreamConnectError extends UpstreamFailure {
  readonly kind = 'connect-failure';
  readonly reason = 'upstream_connect_failure';
}

/** The upstream closed or broke the connection before answering (or while streaming). */
export class UpstreamResetError extends UpstreamFailure {
  readonly kind = 'reset';
  readonly reason = 'upstream_reset';
}

/** No response head within `timeouts.requestMs`, or a body silent for `timeouts.idleMs`. */
export class UpstreamTimeoutError extends UpstreamFailure {
  readonly kind = 'timeout';
  readonly reason = 'upstream_timeout';
}

/** A 5xx answer: the upstream's own response, which the client gets unless it is retried. */
export class UpstreamStatusError extends UpstreamFailure {
  readonly kind = '5xx';
  readonly status: number;
  constructor(status: number) {
    super(`upstream answered ${status}`);
    this.status = status;
  }
}

/** The circuit breaker's limit is reached: the request or connection is refused at once. */
export class CircuitOpenError extends AmbassadorError {
  readonly reason = 'circuit_open';
}

/** Every endpoint is unhealthy, ejected or the cluster is empty. */
export class NoHealthyUpstreamError extends AmbassadorError {
  readonly reason = 'no_healthy_upstream';
}

/** A retry would take retries in flight beyond `retries.budgetPercent`: the failure stands. */
export class RetryBudgetExhaustedError extends AmbassadorError {}

/** The client went away: the attempt is cut, and it says nothing about the endpoint. */
export class ClientClosedError extends AmbassadorError {
  constructor() {
    super('client closed the connection');
  }
}

/**
 * The client's request cannot be forwarded as it is: the ambassador answers it (4xx) itself. It is
 * never retried and never counts against an endpoint.
 */
export abstract class ClientRequestError extends AmbassadorError {
  abstract readonly reason: Extract<
    LocalReason,
    'bad_request' | 'request_body_timeout' | 'request_header_fields_too_large' | 'uri_too_long'
  >;
}

/** A malformed request (two Host headers, `OPTIONS *`, a non-http absolute-form target...): 400. */
export class BadRequestError extends ClientRequestError {
  readonly reason = 'bad_request';
}

/** The request body was silent for `requestBodyIdleTimeoutMs`: 408. */
export class RequestBodyTimeoutError extends ClientRequestError {
  readonly reason = 'request_body_timeout';
}

/** More request headers than `maxRequestHeaders`: 431. */
export class TooManyHeadersError extends ClientRequestError {
  readonly reason = 'request_header_fields_too_large';
}

/** A request target longer than `maxUrlBytes`: 414. */
export class UriTooLongError extends ClientRequestError {
  readonly reason = 'uri_too_long';
}

/**
 * A request undici refuses to send (`UND_ERR_INVALID_ARG`: a header or path it cannot encode): the
 * request's fault, not the endpoint's.
 */
export function clientRequestError(error: Error & { code?: string }): ClientRequestError | undefined {
  if (error instanceof ClientRequestError) return error;
  if (error.code === 'UND_ERR_INVALID_ARG')
    return new BadRequestError(`request cannot be forwarded: ${error.message}`, { cause: error });
  return undefined;
}

/** Why a cluster gave no lease. */
export type Refusal = CircuitOpenError | NoHealthyUpstreamError | RetryBudgetExhaustedError;

/** The failures the ambassador answers with its own response. */
export type AnsweredFailure =
  | UpstreamConnectError
  | UpstreamResetError
  | UpstreamTimeoutError
  | CircuitOpenError
  | NoHealthyUpstreamError
  | ClientRequestError;

/** Sends the short JSON body every ambassador-made error has; the header lets tools tell them apart. */
export function sendLocalError(
  response: ServerResponse,
  reason: LocalReason,
  detail: Record<string, unknown>,
): number {
  const status = STATUS[reason];
  sendJson(response, status, { error: reason, ...detail }, { 'x-ambassador-error': reason });
  return status;
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Maps an undici (or socket) error to the failure it means; the original is the `cause`. */
export function upstreamFailure(
  error: Error & { code?: string },
): UpstreamConnectError | UpstreamResetError | UpstreamTimeoutError {
  if (error instanceof UpstreamConnectError || error instanceof UpstreamResetError) return error;
  if (error instanceof UpstreamTimeoutError) return error;
  const code = error.code ?? '';
  if (CONNECT_CODES.has(code)) return new UpstreamConnectError(error.message, { cause: error });
  if (TIMEOUT_CODES.has(code)) return new UpstreamTimeoutError(error.message, { cause: error });
  return new UpstreamResetError(error.message, { cause: error });
}
