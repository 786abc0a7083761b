import type { ServerResponse } from 'node:http';
import type { FailureKind } from '../cluster/cluster.js';

/** Why the ambassador answered a request itself. */
export type LocalReason =
  | 'no_healthy_upstream'
  | 'circuit_open'
  | 'upstream_timeout'
  | 'upstream_connect_failure'
  | 'upstream_reset'
  | 'not_a_forward_proxy';

const STATUS: Record<LocalReason, number> = {
  no_healthy_upstream: 503,
  circuit_open: 503,
  upstream_timeout: 504,
  upstream_connect_failure: 502,
  upstream_reset: 502,
  not_a_forward_proxy: 403,
};

export function reasonFor(kind: FailureKind): LocalReason {
  return kind === 'timeout'
    ? 'upstream_timeout'
    : kind === 'connect-failure'
      ? 'upstream_connect_failure'
      : 'upstream_reset';
}

/** Sends the short JSON body every ambassador-made error has; the header lets tools tell them apart. */
export function sendLocalError(
  response: ServerResponse,
  reason: LocalReason,
  detail: Record<string, unknown>,
): number {
  const status = STATUS[reason];
  const body = `${JSON.stringify({ error: reason, ...detail })}\n`;
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-ambassador-error': reason,
  });
  response.end(body);
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

/** Maps an undici error to the failure kinds retries and outlier detection speak of. */
export function classify(error: Error & { code?: string }): FailureKind {
  const code = error.code ?? '';
  if (CONNECT_CODES.has(code)) return 'connect-failure';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  return 'reset';
}
