import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

let requestIdPrefix = '';
let requestIdCounter = 0;
/** The counter's 12 hex digits; the prefix is drawn anew when they run out. */
const REQUEST_ID_COUNTER_LIMIT = 2 ** 48;

/**
 * A generated x-request-id: UUID-shaped (8-4-4-4-12 hex), a random prefix of 74 bits drawn once
 * per process followed by a 48-bit counter, so unique within a process and, with overwhelming
 * probability, across processes. randomUUID per request cost about 1% of the HTTP path's CPU.
 */
export function newRequestId(): string {
  if (requestIdPrefix === '' || requestIdCounter >= REQUEST_ID_COUNTER_LIMIT) {
    const hex = randomBytes(16).toString('hex');
    const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
    requestIdPrefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-`;
    requestIdCounter = 0;
  }
  const counter = (requestIdCounter++).toString(16);
  return requestIdPrefix + '000000000000'.slice(counter.length) + counter;
}

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus ones undici manages. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (!value || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return undefined;
  const tokens = new Set<string>();
  for (const token of String(value).split(',')) {
    const name = token.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') tokens.add(name);
  }
  return tokens.size ? tokens : undefined;
}

export interface ForwardedRequest {
  headers: string[];
  requestId: string;
  /** How many Host headers the client sent (more than one is a bad request, RFC 9112 §3.2). */
  hostHeaders: number;
}

/**
 * The headers sent upstream, as undici's flat [name, value, ...] list: hop-by-hop headers dropped,
 * X-Forwarded-For/-Proto/-Host added, x-request-id kept or generated. `keep` names hop-by-hop
 * headers to pass anyway (Upgrade handshakes). `authority` (from an absolute-form target) replaces
 * the client's Host (RFC 9112 §3.2.2).
 */
export function forwardHeaders(
  request: Pick<IncomingMessage, 'rawHeaders' | 'headers' | 'socket'>,
  keep?: ReadonlySet<string>,
  authority?: string,
): ForwardedRequest {
  const raw = request.rawHeaders;
  const listed = connectionTokens(request.headers.connection);
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let requestId: string | undefined;
  let sawProto = false;
  let sawHost = false;
  let hostHeaders = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    // HTTP/2 requests (compatibility API) list their pseudo-headers: :authority is the Host.
    if (lower.charCodeAt(0) === 58) {
      if (lower === ':authority' && request.headers.host === undefined) {
        hostHeaders++;
        if (authority === undefined) headers.push('host', value);
      }
      continue;
    }
    if (lower === 'host') {
      hostHeaders++;
      if (authority !== undefined) continue;
    }
    if (HOP_BY_HOP.has(lower) && !keep?.has(lower)) continue;
    if (listed?.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
      continue;
    }
    if (lower === 'x-request-id') requestId ??= value;
    else if (lower === 'x-forwarded-proto') sawProto = true;
    else if (lower === 'x-forwarded-host') sawHost = true;
    headers.push(name, value);
  }
  if (authority !== undefined) headers.push('host', authority);
  const host = authority ?? request.headers.host ?? (request.headers[':authority'] as string | undefined);
  const client = request.socket.remoteAddress ?? '';
  headers.push('x-forwarded-for', forwardedFor ? `${forwardedFor}, ${client}` : client);
  if (!sawProto)
    headers.push(
      'x-forwarded-proto',
      (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    );
  if (!sawHost && host) headers.push('x-forwarded-host', host);
  if (requestId === undefined) {
    requestId = newRequestId();
    headers.push('x-request-id', requestId);
  }
  return { headers, requestId, hostHeaders };
}

/**
 * The upstream's response headers minus hop-by-hop ones, as a flat [name, value, ...] list for
 * writeHead (copying beats `delete`, which turns the object into a slow dictionary).
 */
export function responseHeaders(headers: IncomingHttpHeaders): Array<string | string[]> {
  const listed = connectionTokens(headers.connection);
  const out: Array<string | string[]> = [];
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out.push(name, value);
  }
  return out;
}

export function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}
