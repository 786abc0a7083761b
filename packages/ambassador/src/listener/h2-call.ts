import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders as Http2IncomingHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Readable } from 'node:stream';
import { type Counter, jsonBody, type Logger } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { Lease } from '../cluster/lease.js';
import type { ListenerConfig } from '../config.js';
import {
  type AnsweredFailure,
  CircuitOpenError,
  localStatus,
  NoHealthyUpstreamError,
  UpstreamConnectError,
  type UpstreamFailure,
  UpstreamResetError,
  UpstreamTimeoutError,
} from '../errors.js';
import {
  encodeGrpcMessage,
  formatGrpcTimeout,
  GRPC_STATUS_OF,
  GrpcStatus,
  grpcStatusOf,
  isGrpc,
  parseGrpcTimeout,
} from './grpc.js';
import { newRequestId } from './headers.js';
import { type RetryPolicy, type RetrySafety, retrySafety } from './retry.js';

const {
  NGHTTP2_CANCEL,
  NGHTTP2_FLAG_END_STREAM,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
} = constants;

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2) or that describe one hop; `te` is let through as `trailers` only. */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
  'expect',
  'trailer',
]);

/** What every HTTP/2-path call of one listener shares. */
export interface CallContext {
  readonly cluster: Cluster;
  readonly listener: ListenerConfig;
  readonly logger: Logger;
  readonly policy: RetryPolicy;
  readonly localErrors: Counter<'listener' | 'reason'>;
  countRetry(reason: string): void;
  /** The grpc-status codes `retries.grpcOn` names. */
  readonly grpcOn: ReadonlySet<number>;
  /** Called once per call when it is over (draining). */
  closed(): void;
}

/** The client side of a call: an HTTP/2 stream, or an HTTP/1.1 request/response pair. */
interface Downstream {
  readonly body: Readable | undefined;
  readonly gone: boolean;
  readonly remoteAddress: string | undefined;
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void;
  write(chunk: Buffer): boolean;
  onDrain(callback: () => void): void;
  end(trailers: OutgoingHttpHeaders | undefined): void;
  /** Cuts the response: a truncated body must not look complete. */
  abort(): void;
  /** The response is complete but the client is still sending: ask it to stop (RST_STREAM NO_ERROR). */
  stopReading(): void;
  onClose(callback: () => void): void;
}

class StreamDownstream implements Downstream {
  readonly #stream: ServerHttp2Stream;
  #trailers: OutgoingHttpHeaders | undefined;
  readonly body: Readable | undefined;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
    this.body = stream.endAfterHeaders ? undefined : stream;
    stream.on('error', () => {});
  }

  get gone(): boolean {
    return this.#stream.destroyed;
  }

  get remoteAddress(): string | undefined {
    return this.#stream.session?.socket?.remoteAddress;
  }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    if (this.#stream.destroyed) return;
    headers[':status'] = status;
    this.#stream.respond(headers, { endStream, waitForTrailers: !endStream });
    if (!endStream)
      this.#stream.once('wantTrailers', () => {
        if (!this.#stream.destroyed) this.#stream.sendTrailers(this.#trailers ?? {});
      });
  }

  write(chunk: Buffer): boolean {
    if (this.#stream.destroyed) return true;
    return this.#stream.write(chunk);
  }

  onDrain(callback: () => void): void {
    this.#stream.once('drain', callback);
  }

  end(trailers: OutgoingHttpHeaders | undefined): void {
    if (this.#stream.destroyed) return;
    this.#trailers = trailers;
    this.#stream.end();
  }

  abort(): void {
    if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  stopReading(): void {
    const stream = this.#stream;
    if (stream.destroyed || stream.readableEnded) return;
    const close = () => {
      if (!stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
    };
    // after the response's last frame is written, so that the RST_STREAM cannot overtake it
    if (stream.writableFinished) setImmediate(close);
    else stream.once('finish', () => setImmediate(close));
  }

  onClose(callback: () => void): void {
    this.#stream.once('close', callback);
  }
}

class ResponseDownstream implements Downstream {
  readonly #response: ServerResponse;
  readonly #request: IncomingMessage;
  readonly body: Readable | undefined;

  constructor(request: IncomingMessage, response: ServerResponse, withBody: boolean) {
    this.#request = request;
    this.#response = response;
    this.body = withBody ? request : undefined;
  }

  get gone(): boolean {
    return this.#response.destroyed;
  }

  get remoteAddress(): string | undefined {
    return this.#request.socket.remoteAddress;
  }

  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    if (this.#response.destroyed) return;
    this.#response.writeHead(status, headers);
    if (endStream) this.#response.end();
  }

  write(chunk: Buffer): boolean {
    if (this.#response.destroyed) return true;
    return this.#response.write(chunk);
  }

  onDrain(callback: () => void): void {
    this.#response.once('drain', callback);
  }

  end(trailers: OutgoingHttpHeaders | undefined): void {
    if (this.#response.destroyed) return;
    if (trailers && Object.keys(trailers).length)
      this.#response.addTrailers(trailers as Record<string, string>);
    this.#response.end();
  }

  abort(): void {
    this.#response.destroy();
  }

  stopReading(): void {
    // node:http reads and discards the rest of the request body, or closes the connection
  }

  onClose(callback: () => void): void {
    this.#response.once('close', callback);
  }
}

export interface CallRequest {
  method: string;
  path: string;
  authority: string | undefined;
  /** The client's headers, connection-specific ones left out; the call adds the pseudo-headers. */
  headers: OutgoingHttpHeaders;
  requestId: string;
  grpc: boolean;
  hashKey: string | undefined;
}

/** The upstream request headers of an HTTP/2 client stream, and what the call needs to know of it. */
export function requestFromStream(
  headers: Http2IncomingHeaders,
  remoteAddress: string | undefined,
  encrypted: boolean,
): CallRequest {
  return finishRequest(passedOn(headers, undefined), {
    method: String(headers[':method'] ?? 'GET'),
    path: String(headers[':path'] ?? '/'),
    authority: (headers[':authority'] ?? headers.host) as string | undefined,
    remoteAddress,
    encrypted,
  });
}

/** The same for an HTTP/1.1 request going to an HTTP/2 cluster. */
export function requestFromMessage(request: IncomingMessage, path: string): CallRequest {
  const headers: IncomingHttpHeaders = request.headers;
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase()),
  );
  return finishRequest(passedOn(headers, listed), {
    method: request.method ?? 'GET',
    path,
    authority: headers.host,
    remoteAddress: request.socket.remoteAddress,
    encrypted: (request.socket as { encrypted?: boolean }).encrypted === true,
  });
}

interface PassedOn {
  out: OutgoingHttpHeaders;
  forwardedFor: string | undefined;
  requestId: string | undefined;
}

/**
 * The client's headers that go upstream: pseudo-headers, connection-specific ones and those the
 * Connection header lists (`listed`) left out, `te` only as `trailers`; x-forwarded-for is set
 * aside for finishRequest to extend.
 */
function passedOn(
  headers: Http2IncomingHeaders | IncomingHttpHeaders,
  listed: ReadonlySet<string> | undefined,
): PassedOn {
  const out: OutgoingHttpHeaders = {};
  let forwardedFor: string | undefined;
  let requestId: string | undefined;
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */ || CONNECTION_SPECIFIC.has(name) || listed?.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (name === 'te') {
      if (value === 'trailers') out.te = 'trailers';
      continue;
    }
    if (name === 'x-forwarded-for') {
      forwardedFor = String(value);
      continue;
    }
    if (name === 'x-request-id') requestId = String(value);
    out[name] = value;
  }
  return { out, forwardedFor, requestId };
}

function finishRequest(
  { out, forwardedFor, requestId: given }: PassedOn,
  info: {
    method: string;
    path: string;
    authority: string | undefined;
    remoteAddress: string | undefined;
    encrypted: boolean;
  },
): CallRequest {
  const client = info.remoteAddress ?? '';
  out['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${client}` : client;
  out['x-forwarded-proto'] ??= info.encrypted ? 'https' : 'http';
  if (info.authority) out['x-forwarded-host'] ??= info.authority;
  const requestId = given ?? newRequestId();
  out['x-request-id'] = requestId;
  return {
    method: info.method,
    path: info.path,
    authority: info.authority,
    headers: out,
    requestId,
    grpc: isGrpc(out['content-type'] as string | undefined),
    hashKey: undefined,
  };
}

function responseHeaders(headers: Http2IncomingHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** What a gRPC client reads from an HTTP status without grpc-status (the gRPC HTTP-to-status mapping). */
function grpcFromHttp(status: number): number {
  if (status === 200) return GrpcStatus.UNKNOWN;
  if (status === 400) return GrpcStatus.INTERNAL;
  if (status === 401) return 16;
  if (status === 403) return GrpcStatus.PERMISSION_DENIED;
  if (status === 404) return 12;
  if (status === 429 || status === 502 || status === 503 || status === 504) return GrpcStatus.UNAVAILABLE;
  return GrpcStatus.UNKNOWN;
}

/**
 * One request on the HTTP/2 path (an HTTP/2 client stream, or an HTTP/1.1 request to an h2c/h2
 * cluster): a lease and a stream per attempt, the response streamed back with backpressure both
 * ways and its trailers passed on. Request body chunks are kept up to `retries.bufferBytes` so
 * that a call refused before any answer reached the client can be replayed on another endpoint.
 */
export class Call {
  readonly #context: CallContext;
  readonly #down: Downstream;
  readonly #request: CallRequest;
  readonly #scheme: string;
  readonly #started = performance.now();
  readonly #deadlineAt: number | undefined;
  readonly #grpcOn: ReadonlySet<number>;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #headTimer: NodeJS.Timeout | undefined;
  #lease: Lease | undefined;
  #endpoint: Endpoint | undefined;
  #upstream: ClientHttp2Stream | undefined;
  #cancelWait: (() => void) | undefined;
  #tried: Set<Endpoint> | undefined;
  #retries = 0;
  /** Response head passed on to the client: no retry any more. */
  #responded = false;
  #status = 0;
  #grpcStatus: number | undefined;
  #trailers: Http2IncomingHeaders | undefined;
  #done = false;
  // request body
  #kept: Buffer[] = [];
  #keptBytes = 0;
  #replayable = true;
  #bodyEnded: boolean;
  #bodyStarted = false;

  constructor(context: CallContext, down: Downstream, request: CallRequest) {
    this.#context = context;
    this.#down = down;
    this.#request = request;
    this.#scheme = context.cluster.config.protocol === 'h2' ? 'https' : 'http';
    this.#bodyEnded = down.body === undefined;
    this.#grpcOn = context.grpcOn;
    const timeout = request.grpc
      ? parseGrpcTimeout(request.headers['grpc-timeout'] as string | undefined)
      : undefined;
    if (timeout !== undefined) {
      this.#deadlineAt = performance.now() + timeout;
      this.#deadlineTimer = setTimeout(() => this.#onDeadline(), timeout);
    }
    down.onClose(() => this.#onClientClose());
  }

  static fromStream(context: CallContext, stream: ServerHttp2Stream, request: CallRequest): Call {
    return new Call(context, new StreamDownstream(stream), request);
  }

  static fromMessage(
    context: CallContext,
    request: IncomingMessage,
    response: ServerResponse,
    call: CallRequest,
    withBody: boolean,
  ): Call {
    return new Call(context, new ResponseDownstream(request, response, withBody), call);
  }

  start(): void {
    const lease = this.#context.cluster.acquire(this.#request.hashKey);
    if (lease instanceof Lease) this.#attempt(lease);
    else this.#answerLocal(lease);
  }

  #safety(): RetrySafety {
    if (!this.#replayable) return 'never';
    if (this.#request.grpc || this.#down.body) return 'unsent-only';
    return retrySafety(this.#request.method, 'none');
  }

  #attempt(lease: Lease): void {
    this.#lease = lease;
    this.#endpoint = lease.endpoint;
    const request = this.#request;
    // The same object for every attempt: only :authority and grpc-timeout change.
    const headers = request.headers;
    headers[':method'] = request.method;
    headers[':path'] = request.path;
    headers[':scheme'] = this.#scheme;
    headers[':authority'] = request.authority ?? lease.endpoint.address;
    if (this.#deadlineAt !== undefined)
      headers['grpc-timeout'] = formatGrpcTimeout(this.#deadlineAt - performance.now());
    const endStream = this.#bodyEnded && this.#kept.length === 0;
    this.#cancelWait = lease.endpoint.h2.request(headers, endStream, (error, stream) => {
      this.#cancelWait = undefined;
      if (this.#done || this.#lease !== lease) {
        stream?.close(NGHTTP2_CANCEL);
        return;
      }
      if (error || !stream) this.#failed(error ?? new UpstreamConnectError('no stream'), false);
      else this.#bind(stream, endStream);
    });
  }

  #bind(stream: ClientHttp2Stream, endStream: boolean): void {
    this.#upstream = stream;
    stream.on('error', () => {});
    if (this.#deadlineAt === undefined) {
      const ms = this.#context.cluster.config.timeouts.requestMs;
      this.#headTimer = setTimeout(() => {
        if (this.#upstream !== stream) return;
        stream.close(NGHTTP2_CANCEL);
        this.#failed(new UpstreamTimeoutError(`no response head within ${ms}ms`), false);
      }, ms);
    }
    stream.once('response', (headers, flags) => this.#onResponse(stream, headers, flags));
    stream.once('trailers', (trailers) => {
      if (this.#upstream === stream) this.#trailers = trailers;
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#upstream !== stream || !this.#responded) return;
      if (!this.#down.write(chunk)) {
        stream.pause();
        this.#down.onDrain(() => stream.resume());
      }
    });
    stream.once('end', () => this.#onEnd(stream));
    stream.once('close', () => {
      if (this.#upstream !== stream || this.#done) return;
      // Closed without END_STREAM: reset, refused or the session went away.
      const refused = stream.rstCode === NGHTTP2_REFUSED_STREAM;
      this.#failed(
        refused
          ? new UpstreamConnectError('stream refused by the upstream (not processed)')
          : new UpstreamResetError(`upstream stream closed (code ${stream.rstCode ?? 'none'})`),
        refused,
      );
    });
    if (!endStream) this.#pumpBody(stream);
  }

  /** Sends what was kept of the body, then streams the rest with backpressure. */
  #pumpBody(stream: ClientHttp2Stream): void {
    for (const chunk of this.#kept) stream.write(chunk);
    if (this.#bodyEnded) {
      stream.end();
      return;
    }
    const body = this.#down.body as Readable;
    if (!this.#bodyStarted) {
      this.#bodyStarted = true;
      const limit = this.#context.cluster.config.retries.bufferBytes;
      body.on('data', (chunk: Buffer) => {
        if (this.#replayable && !this.#responded) {
          this.#kept.push(chunk);
          this.#keptBytes += chunk.length;
          if (this.#keptBytes > limit) {
            this.#replayable = false;
            this.#kept = [];
          }
        }
        const upstream = this.#upstream;
        if (!upstream || upstream.destroyed) {
          body.pause();
          return;
        }
        if (!upstream.write(chunk)) {
          body.pause();
          upstream.once('drain', () => {
            if (this.#upstream === upstream) body.resume();
          });
        }
      });
      body.once('end', () => {
        this.#bodyEnded = true;
        if (this.#upstream && !this.#upstream.destroyed) this.#upstream.end();
      });
      body.on('error', () => {});
    } else body.resume();
  }

  #onResponse(stream: ClientHttp2Stream, headers: Http2IncomingHeaders, flags: number): void {
    if (this.#upstream !== stream || this.#done) return;
    clearTimeout(this.#headTimer);
    const status = Number(headers[':status']);
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    const lease = this.#lease as Lease;
    const { policy, cluster } = this.#context;
    // A retriable answer is reported before the retry's lease is asked for (an ejection it causes
    // applies to the retry's pick), and only once, whether or not the retry is admitted.
    let reported = false;
    if (this.#request.grpc && endStream) {
      const code = grpcStatusOf(headers);
      if (
        code !== undefined &&
        this.#grpcOn.has(code) &&
        this.#replayable &&
        this.#retries < cluster.config.retries.attempts
      ) {
        lease.answeredGrpc(status, code);
        reported = true;
        if (this.#retry(lease, String(code))) return;
      }
    } else if (
      !this.#request.grpc &&
      status >= 500 &&
      policy.retriesStatus(status, this.#retries, this.#safety())
    ) {
      lease.answered(status);
      reported = true;
      if (this.#retry(lease, String(status))) {
        stream.close(NGHTTP2_CANCEL);
        return;
      }
    }
    this.#status = status;
    this.#responded = true;
    this.#kept = [];
    if (!this.#request.grpc && !reported) lease.answered(status);
    this.#down.respond(status, responseHeaders(headers), endStream);
    if (endStream) {
      // Trailers-only (gRPC) or a bodiless answer: the call is complete with its head.
      if (this.#request.grpc) {
        this.#grpcStatus = grpcStatusOf(headers) ?? grpcFromHttp(status);
        if (!reported) lease.answeredGrpc(status, this.#grpcStatus);
      }
      lease.release();
      this.#upstream = undefined;
      stream.resume();
      this.#finish();
    }
  }

  /**
   * Takes a lease for another attempt and then releases the failed one (reported already), so that
   * the retry budget still counts this request; false when the cluster refuses one (the answer
   * stands, and `current` is still held).
   */
  #retry(current: Lease, reason: string): boolean {
    this.#tried ??= new Set();
    this.#tried.add(current.endpoint);
    const next = this.#context.cluster.acquire(this.#request.hashKey, this.#tried, current);
    if (!(next instanceof Lease)) return false;
    current.release();
    this.#upstream = undefined;
    this.#down.body?.pause();
    this.#retries++;
    this.#context.countRetry(reason);
    this.#attempt(next);
    return true;
  }

  #onEnd(stream: ClientHttp2Stream): void {
    if (this.#upstream !== stream || this.#done) return;
    const lease = this.#lease as Lease;
    if (!this.#responded) {
      // END_STREAM without a response head: not a valid answer.
      this.#failed(new UpstreamResetError('upstream ended the stream without a response'), false);
      return;
    }
    if (this.#request.grpc) {
      const code = grpcStatusOf(this.#trailers) ?? this.#grpcStatus ?? grpcFromHttp(this.#status);
      this.#grpcStatus = code;
      lease.answeredGrpc(this.#status, code);
    }
    lease.release();
    this.#upstream = undefined;
    this.#down.end(this.#trailers ? responseHeaders(this.#trailers) : undefined);
    this.#finish();
  }

  #failed(failure: UpstreamFailure, refused: boolean): void {
    if (this.#done) return;
    clearTimeout(this.#headTimer);
    const lease = this.#lease as Lease;
    this.#cancelUpstream();
    if (this.#down.gone) {
      lease.release();
      this.#finish();
      return;
    }
    // A refused stream was not processed: no fault of the endpoint (GOAWAY, stream limit).
    // Reported while the lease is held, released once a retry's lease is taken (or refused).
    if (!refused) lease.failed(failure);
    if (
      !this.#responded &&
      this.#context.policy.retriesFailure(failure, this.#retries, this.#safety()) &&
      this.#retry(lease, failure.kind)
    )
      return;
    lease.release();
    if (!this.#responded) {
      this.#context.logger.warn(
        { endpoint: this.#endpoint?.address, error: failure.message, requestId: this.#request.requestId },
        'upstream request failed',
      );
      this.#answerLocal(failure as AnsweredFailure);
      return;
    }
    // The head was passed on: a gRPC client gets UNAVAILABLE in trailers, others a cut stream.
    if (this.#request.grpc)
      this.#endWithGrpcStatus(GrpcStatus.UNAVAILABLE, `upstream reset: ${failure.message}`);
    else this.#down.abort();
    this.#finish();
  }

  #onDeadline(): void {
    if (this.#done) return;
    this.#abandonAttempt();
    this.#context.localErrors.labels(this.#context.listener.name, 'upstream_timeout').inc();
    const message = 'deadline exceeded (grpc-timeout)';
    if (this.#responded) this.#endWithGrpcStatus(GrpcStatus.DEADLINE_EXCEEDED, message);
    else this.#grpcError(GrpcStatus.DEADLINE_EXCEEDED, message, 'upstream_timeout');
    this.#finish();
  }

  #onClientClose(): void {
    if (this.#done) return;
    // The client went away (or the response is complete and this is the last event anyway).
    this.#abandonAttempt();
    this.#finish();
  }

  /** Stops the attempt in flight: no stream is waited for, the upstream's is cancelled, the lease goes back. */
  #abandonAttempt(): void {
    this.#cancelWait?.();
    this.#cancelUpstream();
    this.#lease?.release();
  }

  #cancelUpstream(): void {
    const upstream = this.#upstream;
    this.#upstream = undefined;
    if (upstream && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
  }

  /** Ends a response whose head was passed on with a gRPC status in its trailers. */
  #endWithGrpcStatus(code: number, message: string): void {
    this.#grpcStatus = code;
    this.#down.end({ 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) });
  }

  #grpcError(code: number, message: string, reason: string): void {
    this.#status = 200;
    this.#grpcStatus = code;
    this.#down.respond(
      200,
      {
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeGrpcMessage(message),
        'x-ambassador-error': reason,
      },
      true,
    );
  }

  #answerLocal(failure: AnsweredFailure): void {
    const { cluster, listener, localErrors } = this.#context;
    const reason = failure.reason;
    localErrors.labels(listener.name, reason).inc();
    if (!this.#down.gone) {
      if (this.#request.grpc)
        this.#grpcError(GRPC_STATUS_OF[reason], `${reason}: ${failure.message}`, reason);
      else {
        const refused = failure instanceof CircuitOpenError || failure instanceof NoHealthyUpstreamError;
        const detail = refused
          ? { cluster: cluster.name, requestId: this.#request.requestId }
          : {
              cluster: cluster.name,
              endpoint: this.#endpoint?.address,
              message: failure.message,
              requestId: this.#request.requestId,
            };
        const body = Buffer.from(jsonBody({ error: reason, ...detail }));
        this.#status = localStatus(reason);
        this.#down.respond(
          this.#status,
          { 'content-type': 'application/json', 'content-length': body.length, 'x-ambassador-error': reason },
          false,
        );
        this.#down.write(body);
        this.#down.end(undefined);
      }
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#headTimer);
    this.#kept = [];
    // The client may still be sending a body nobody reads: have it stop.
    if (this.#down.body && !this.#bodyEnded) {
      this.#down.body.resume();
      this.#down.stopReading();
    }
    const { cluster, listener, logger } = this.#context;
    const seconds = (performance.now() - this.#started) / 1000;
    cluster.recordLatency(this.#endpoint, seconds);
    this.#context.closed();
    if (listener.accessLog)
      logger.info(
        {
          access: true,
          method: this.#request.method,
          path: this.#request.path,
          status: this.#status,
          ...(this.#grpcStatus !== undefined ? { grpcStatus: this.#grpcStatus } : {}),
          durationMs: Math.round(seconds * 1e6) / 1e3,
          endpoint: this.#endpoint?.address,
          attempts: this.#retries + 1,
          requestId: this.#request.requestId,
          client: this.#down.remoteAddress,
        },
        'request',
      );
  }
}
