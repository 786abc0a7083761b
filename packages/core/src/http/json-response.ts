import { type OutgoingHttpHeaders, type ServerResponse, STATUS_CODES } from 'node:http';

/** The JSON body every sidecar-kit answer has: one line, ended by a newline. */
export function jsonBody(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/**
 * Answers `value` as JSON with its content-length; `headers` are added, and may replace the
 * content-type (e.g. application/health+json).
 */
export function sendJson(
  response: ServerResponse,
  status: number,
  value: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = jsonBody(value);
  response.writeHead(status, {
    'content-type': 'application/json',
    ...headers,
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}

/**
 * A whole HTTP/1.1 JSON response, ending the connection, for a socket that no ServerResponse
 * answers (a request the parser refused, a CONNECT or a refused upgrade).
 */
export function rawJsonResponse(
  status: number,
  value: unknown,
  headers: Readonly<Record<string, string>> = {},
): string {
  const body = jsonBody(value);
  const extra = Object.entries(headers).map(([name, text]) => `${name}: ${text}\r\n`);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n${extra.join('')}connection: close\r\n\r\n${body}`
  );
}
