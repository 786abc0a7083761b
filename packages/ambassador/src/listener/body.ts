import type { IncomingMessage } from 'node:http';

/**
 * The request bodies one listener holds so that a retry can replay them (Envoy's
 * `per_request_buffer_limit_bytes`): each at most `perRequest` bytes, all together at most `total`.
 * A body that does not fit streams to one endpoint and is not retried.
 */
export class RequestBuffers {
  readonly perRequest: number;
  readonly total: number;
  /** Bytes reserved by bodies held now (`ambassador_request_buffer_bytes`). */
  bytes = 0;

  constructor(perRequest: number, total: number) {
    this.perRequest = perRequest;
    this.total = total;
  }

  /** Reserves room for a body of `length` bytes; false when it must stream instead. */
  reserve(length: number): boolean {
    if (length > this.perRequest || this.bytes + length > this.total) return false;
    this.bytes += length;
    return true;
  }

  release(length: number): void {
    this.bytes -= length;
  }
}

/** The declared Content-Length of a request body; undefined for none, 0 or a chunked body. */
export function declaredLength(request: IncomingMessage): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined || header === '0' || request.headers['transfer-encoding'] !== undefined)
    return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length > 0 ? length : undefined;
}

/**
 * Reads a body of a known `length` (node enforces the Content-Length) into one buffer, then calls
 * `done` with it, or with undefined when the request ended early (the client left).
 */
export function readBody(
  request: IncomingMessage,
  length: number,
  done: (body: Buffer | undefined) => void,
): void {
  const body = Buffer.allocUnsafe(length);
  let at = 0;
  let finished = false;
  request.on('data', (chunk: Buffer) => {
    if (at + chunk.length <= length) chunk.copy(body, at);
    at += chunk.length;
  });
  request.once('end', () => {
    finished = true;
    done(at === length ? body : undefined);
  });
  request.once('close', () => {
    if (!finished) done(undefined);
  });
  request.on('error', () => {});
}
