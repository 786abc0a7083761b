import type { IncomingMessage } from 'node:http';
import type { ListenerConfig } from '../config.js';
import { BadRequestError, type ClientRequestError, TooManyHeadersError, UriTooLongError } from '../errors.js';

/** Where a request goes upstream: its origin-form path, and the authority of an absolute-form target. */
export interface RequestTarget {
  readonly path: string;
  /** Replaces the client's Host (RFC 9112 §3.2.2); undefined for origin-form targets. */
  readonly authority: string | undefined;
}

/** The listener's own names: an absolute-form target must name one of them. */
export interface ListenerIdentity {
  readonly hosts: readonly string[];
  readonly port: number;
}

/**
 * Checks what node:http accepts but cannot be forwarded as it is, before anything is sent: too many
 * headers, an over-long target, `*`, a non-http scheme. `'not_a_forward_proxy'` is an absolute-form
 * target for another host: the ambassador only ever forwards to its cluster.
 */
export function requestTarget(
  request: IncomingMessage,
  limits: Pick<ListenerConfig, 'maxRequestHeaders' | 'maxUrlBytes'>,
  identity: ListenerIdentity,
): RequestTarget | ClientRequestError | 'not_a_forward_proxy' {
  const target = request.url ?? '/';
  if (target.length > limits.maxUrlBytes)
    return new UriTooLongError(`request target of ${target.length} bytes, limit ${limits.maxUrlBytes}`);
  if (request.rawHeaders.length > limits.maxRequestHeaders * 2)
    return new TooManyHeadersError(`more than ${limits.maxRequestHeaders} request headers`);
  if (target.startsWith('/')) return { path: target, authority: undefined };
  if (target === '*')
    return new BadRequestError('the asterisk-form target (OPTIONS *) names no resource to forward');
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return new BadRequestError('request target is neither a path nor an absolute URL');
  }
  if (url.protocol !== 'http:')
    return new BadRequestError(`absolute-form target with scheme ${url.protocol} (only http: is forwarded)`);
  if (url.username || url.password) return new BadRequestError('absolute-form target with userinfo');
  const own = identity.hosts.includes(url.hostname) && Number(url.port || 80) === identity.port;
  if (!own) return 'not_a_forward_proxy';
  return { path: `${url.pathname}${url.search}`, authority: url.host };
}
