import { readFileSync } from 'node:fs';
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import {
  constants,
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
  Http2ServerResponse,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { type Counter, type Logger, listen } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';
import { GRPC_CODES, type ListenerConfig } from '../config.js';
import {
  Call,
  type CallContext,
  type CallRequest,
  requestFromMessage,
  requestFromStream,
} from './h2-call.js';
import { cookieValue } from './headers.js';
import { RetryPolicy } from './retry.js';

/** The HTTP/2 connection preface a prior-knowledge (h2c) client starts with. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const compatWriteHead = Http2ServerResponse.prototype.writeHead;

/**
 * HTTP/2 has no reason phrase: the HTTP/1.1 data path passes undici's on, which node:http2 would
 * warn about. Assigned to each compatibility response (one property, no closure).
 */
function writeHeadWithoutReason(
  this: Http2ServerResponse,
  status: number,
  reason?: string | OutgoingHttpHeaders | Array<string | string[]>,
  headers?: OutgoingHttpHeaders | Array<string | string[]>,
): Http2ServerResponse {
  const list = typeof reason === 'string' ? headers : reason;
  return (compatWriteHead as (status: number, headers?: unknown) => Http2ServerResponse).call(
    this,
    status,
    list,
  );
}

/** What the HTTP/2 path needs of the listener that owns it. */
export interface H2PathOptions {
  config: ListenerConfig;
  cluster: Cluster;
  logger: Logger;
  localErrors: Counter<'listener' | 'reason'>;
  countRetry(reason: string): void;
}

/**
 * Requests to an h2c or h2 cluster: HTTP/2 client streams, and HTTP/1.1 requests handed over by
 * the HTTP/1.1 listener. Each request is a `Call` with its own lease: balancing is per request
 * (per stream), not per connection.
 */
export class H2Path {
  readonly #context: CallContext;
  readonly #config: ListenerConfig;
  readonly #cluster: Cluster;

  constructor(options: H2PathOptions) {
    this.#config = options.config;
    this.#cluster = options.cluster;
    this.#context = {
      cluster: options.cluster,
      listener: options.config,
      logger: options.logger,
      policy: new RetryPolicy(options.cluster.config.retries),
      localErrors: options.localErrors,
      countRetry: options.countRetry,
      grpcOn: new Set(options.cluster.config.retries.grpcOn.map((name) => GRPC_CODES[name])),
      // Draining waits for the client sessions (HTTP/2) or the HTTP/1.1 requests, not for calls.
      closed: () => {},
    };
  }

  #hashKey(headers: IncomingHttpHeaders, path: string, remote: string | undefined): string | undefined {
    const hash = this.#cluster.config.hash;
    if (!hash) return undefined;
    if (hash.header) {
      const value = headers[hash.header];
      return Array.isArray(value) ? value.join(',') : value;
    }
    if (hash.cookie) return cookieValue(headers.cookie, hash.cookie);
    if (hash.path) return path;
    return remote;
  }

  /** An HTTP/2 client stream. */
  stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const socket = stream.session?.socket;
    const encrypted = (socket as { encrypted?: boolean } | undefined)?.encrypted === true;
    if (headers[':method'] === 'CONNECT') {
      this.#context.localErrors.labels(this.#config.name, 'not_a_forward_proxy').inc();
      stream.respond({ ':status': 405, 'x-ambassador-error': 'not_a_forward_proxy' }, { endStream: true });
      return;
    }
    const request = requestFromStream(headers, socket?.remoteAddress, encrypted);
    request.hashKey = this.#hashKey(headers, request.path, socket?.remoteAddress);
    this.#start(Call.fromStream(this.#context, stream, request));
  }

  /** An HTTP/1.1 request for this h2c/h2 cluster. */
  http1(request: IncomingMessage, response: ServerResponse, path: string, withBody: boolean): void {
    const call: CallRequest = requestFromMessage(request, path);
    call.hashKey = this.#hashKey(request.headers, path, request.socket.remoteAddress);
    this.#start(Call.fromMessage(this.#context, request, response, call, withBody));
  }

  #start(call: Call): void {
    call.start();
  }
}

export interface FrontOptions {
  config: ListenerConfig;
  logger: Logger;
  /** The HTTP/1.1 server: connections that are not HTTP/2 go to it. */
  http: HttpServer;
  /** HTTP/2 streams for h2c/h2 clusters. */
  h2Path: H2Path | undefined;
  /** HTTP/2 requests for http1 clusters, through node:http2's compatibility API. */
  compat: ((request: Http2ServerRequest, response: Http2ServerResponse) => void) | undefined;
}

/**
 * The listening socket of an http listener with HTTP/2: cleartext connections are sniffed (an h2c
 * client with prior knowledge starts with the HTTP/2 preface; anything else is HTTP/1.1) and
 * handed to a node:http2 or the node:http server with `emit('connection')`; TLS connections
 * go by the protocol ALPN negotiated.
 */
export class ListenerFront {
  readonly #config: ListenerConfig;
  readonly #logger: Logger;
  readonly #http: HttpServer;
  readonly #h2: Http2Server | undefined;
  readonly #sessions = new Set<Http2Session>();
  #server: Server | undefined;

  constructor(options: FrontOptions) {
    const config = options.config;
    this.#config = config;
    this.#logger = options.logger;
    this.#http = options.http;
    if (!config.http2) return;
    const settings = {
      maxConcurrentStreams: config.maxConcurrentStreams,
      maxHeaderListSize: config.maxHeaderBytes,
      initialWindowSize: 1024 * 1024,
    };
    const compat = options.compat;
    const h2 = compat
      ? createH2Server({ settings, maxSessionMemory: 64 }, (request, response) => {
          response.writeHead = writeHeadWithoutReason;
          compat(request, response);
        })
      : createH2Server({ settings, maxSessionMemory: 64 });
    const path = options.h2Path;
    if (!options.compat && path) h2.on('stream', (stream, headers) => path.stream(stream, headers));
    h2.on('session', (session) => this.#track(session));
    this.#h2 = h2;
  }

  /** Idle client sessions close after `idleTimeoutMs` without open streams. */
  #track(session: Http2Session): void {
    this.#sessions.add(session);
    let open = 0;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => session.close(), this.#config.idleTimeoutMs);
      timer.unref();
    };
    arm();
    session.on('stream', (stream) => {
      open++;
      clearTimeout(timer);
      stream.once('close', () => {
        if (--open === 0 && !session.closed) arm();
      });
    });
    session.on('error', () => {});
    session.once('close', () => {
      clearTimeout(timer);
      this.#sessions.delete(session);
    });
    try {
      session.setLocalWindowSize(16 * 1024 * 1024);
    } catch {
      // not ready yet: the default window stays
    }
  }

  address(): AddressInfo | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  async listen(): Promise<void> {
    const config = this.#config;
    if (config.tls) {
      const server = createTlsServer(
        {
          cert: readFileSync(config.tls.cert),
          key: readFileSync(config.tls.key),
          ALPNProtocols: config.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
          handshakeTimeout: config.headersTimeoutMs,
        },
        (socket: TLSSocket) => {
          if (socket.alpnProtocol === 'h2' && this.#h2) this.#h2.emit('connection', socket);
          else this.#http.emit('connection', socket);
        },
      );
      server.on('tlsClientError', (error) =>
        this.#logger.debug({ error: error.message }, 'tls handshake failed'),
      );
      this.#server = server;
    } else {
      this.#server = createNetServer({ noDelay: true }, (socket) => this.#sniff(socket));
    }
    await listen(this.#server, config.listen);
    // node:http starts its headersTimeout/requestTimeout checks on 'listening': the HTTP/1.1
    // server is never bound itself, so it is told here.
    this.#http.emit('listening');
  }

  /** Reads until the bytes are the HTTP/2 preface or cannot be: then hands the socket over. */
  #sniff(socket: Socket): void {
    const h2 = this.#h2;
    if (!h2) {
      this.#http.emit('connection', socket);
      return;
    }
    let seen: Buffer | undefined;
    const timer = setTimeout(() => socket.destroy(), this.#config.headersTimeoutMs);
    const onError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      seen = seen ? Buffer.concat([seen, chunk]) : chunk;
      const length = Math.min(seen.length, PREFACE.length);
      const prefix = seen.compare(PREFACE, 0, length, 0, length) === 0;
      if (prefix && length < PREFACE.length) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onError);
      const bytes = seen;
      if (prefix) {
        // node:http2 reads what is buffered on the socket when the session starts.
        socket.pause();
        socket.unshift(bytes);
        h2.emit('connection', socket);
      } else {
        // node:http listens for 'data': the bytes go straight to its parser.
        this.#http.emit('connection', socket);
        socket.unshift(bytes);
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onError);
  }

  /** Stops accepting, sends GOAWAY to every client session and waits until they closed (or the deadline). */
  async stop(deadline: AbortSignal): Promise<void> {
    this.#server?.close();
    for (const session of this.#sessions) session.close();
    if (this.#sessions.size === 0 || deadline.aborted) {
      for (const session of this.#sessions) session.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (this.#sessions.size === 0) finish();
      }, 20);
      const finish = () => {
        clearInterval(poll);
        deadline.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        for (const session of this.#sessions) session.destroy(undefined, constants.NGHTTP2_CANCEL);
        finish();
      };
      deadline.addEventListener('abort', onAbort, { once: true });
    });
  }
}
