import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Component, type Logger, listen, rawJsonResponse } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';
import { Lease } from '../cluster/lease.js';
import type { ListenerConfig } from '../config.js';
import {
  BadRequestError,
  ClientRequestError,
  clientRequestError,
  localStatus,
  sendLocalError,
  upstreamFailure,
} from '../errors.js';
import type { AmbassadorMetrics } from '../metrics.js';
import { declaredLength, RequestBuffers, readBody } from './body.js';
import { type ForwardContext, ForwardHandler } from './forward.js';
import { H2Path, ListenerFront } from './h2.js';
import { cookieValue, forwardHeaders, hasBody } from './headers.js';
import { drained } from './lifecycle.js';
import { type RetryContext, RetryHandler, RetryPolicy, retrySafety } from './retry.js';
import { type ListenerIdentity, type RequestTarget, requestTarget } from './target.js';
import { upgradeOrRelay } from './upgrade.js';

const UPGRADE_HEADERS: ReadonlySet<string> = new Set();

/**
 * The HTTP data path: a node:http server in front of one undici Pool per endpoint. Responses are
 * streamed chunk by chunk with backpressure both ways; nothing is buffered whole.
 */
export class HttpListener implements Component {
  readonly name: string;
  readonly #config: ListenerConfig;
  readonly #cluster: Cluster;
  readonly #metrics: AmbassadorMetrics;
  readonly #logger: Logger;
  readonly #forwardContext: ForwardContext;
  readonly #retryContext: RetryContext;
  readonly #tunnels = new Set<Duplex>();
  /** Request bodies held for a possible retry. */
  readonly buffers: RequestBuffers;
  #server: Server | undefined;
  /** HTTP/2 (sniffed h2c, or TLS with ALPN) in front of the HTTP/1.1 server. */
  #front: ListenerFront | undefined;
  /** Requests to an h2c/h2 cluster go the HTTP/2 way, whatever the client spoke. */
  readonly #h2Path: H2Path | undefined;
  #inFlight = 0;
  /** The names and port this listener answers to as itself (not as a forward proxy). */
  #self: ListenerIdentity | undefined;
  #idle: (() => void) | undefined;
  #stopping = false;

  constructor(config: ListenerConfig, cluster: Cluster, metrics: AmbassadorMetrics, logger: Logger) {
    this.name = `listener ${config.name}`;
    this.#config = config;
    this.#cluster = cluster;
    this.#metrics = metrics;
    this.#logger = logger.child({ listener: config.name });
    this.buffers = new RequestBuffers(config.requestBufferBytes, config.requestBufferTotalBytes);
    metrics.trackBuffers(config.name, this.buffers);
    this.#forwardContext = {
      cluster,
      listener: config,
      logger: this.#logger,
      localErrors: metrics.localErrors,
      closed: () => {
        if (--this.#inFlight === 0 && this.#idle) this.#idle();
      },
    };
    this.#retryContext = {
      cluster,
      policy: new RetryPolicy(cluster.config.retries),
      countRetry: (reason) => metrics.retries.labels(cluster.name, reason).inc(),
    };
    if (cluster.config.protocol !== 'http1')
      this.#h2Path = new H2Path({
        config,
        cluster,
        logger: this.#logger,
        localErrors: metrics.localErrors,
        countRetry: this.#retryContext.countRetry,
      });
  }

  address(): AddressInfo | undefined {
    if (this.#front) return this.#front.address();
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address : undefined;
  }

  async start(): Promise<void> {
    const config = this.#config;
    const server = createServer(
      {
        maxHeaderSize: config.maxHeaderBytes,
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: 0,
        keepAliveTimeout: config.idleTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
      },
      (request, response) => this.#onRequest(request, response),
    );
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(request, socket, head),
    );
    server.on('clientError', (error: Error & { code?: string }, socket: Duplex) =>
      this.#onClientError(error, socket),
    );
    server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
      this.#metrics.localErrors.labels(config.name, 'not_a_forward_proxy').inc();
      socket.end(rawJsonResponse(405, { error: 'not_a_forward_proxy', message: 'CONNECT is not supported' }));
    });
    this.#server = server;
    if (config.http2 || config.tls) {
      this.#front = new ListenerFront({
        config,
        logger: this.#logger,
        http: server,
        h2Path: this.#h2Path,
        compat: this.#h2Path
          ? undefined
          : (request, response) =>
              this.#onRequest(request as unknown as IncomingMessage, response as unknown as ServerResponse),
      });
      await this.#front.listen();
    } else await listen(server, config.listen);
    this.#logger.info({ address: this.address(), cluster: this.#cluster.name }, 'http listener ready');
  }

  async stop(deadline: AbortSignal): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#stopping = true;
    server.close();
    server.closeIdleConnections();
    await Promise.all([
      this.#front?.stop(deadline),
      drained(this.#inFlight > 0, (done) => (this.#idle = done), deadline),
    ]);
    server.closeAllConnections();
    for (const tunnel of this.#tunnels) tunnel.destroy();
  }

  #hashKey(request: IncomingMessage): string | undefined {
    const hash = this.#cluster.config.hash;
    if (!hash) return undefined;
    if (hash.header) {
      const value = request.headers[hash.header];
      return Array.isArray(value) ? value.join(',') : value;
    }
    if (hash.cookie) return cookieValue(request.headers.cookie, hash.cookie);
    if (hash.path) return request.url;
    return request.socket.remoteAddress;
  }

  /** Where the request goes, or why it cannot be forwarded. */
  #target(request: IncomingMessage): ReturnType<typeof requestTarget> {
    // Known once listening (port 0 becomes the real port); asking the socket per request costs ~3% CPU.
    this.#self ??= {
      hosts: ['127.0.0.1', 'localhost', '[::1]', this.#config.listen.host],
      port: this.address()?.port ?? this.#config.listen.port,
    };
    return requestTarget(request, this.#config, this.#self);
  }

  /** What node:http refuses itself (malformed or smuggling-shaped heads, oversized heads, slowloris). */
  #onClientError(error: Error & { code?: string }, socket: Duplex): void {
    const code = error.code ?? '';
    const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
      socket.destroy();
      return;
    }
    const reason =
      code === 'HPE_HEADER_OVERFLOW'
        ? 'request_header_fields_too_large'
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'request_header_timeout'
          : 'bad_request';
    this.#metrics.localErrors.labels(this.#config.name, reason).inc();
    const status = localStatus(reason);
    socket.end(rawJsonResponse(status, { error: reason }, { 'x-ambassador-error': reason }), () =>
      socket.destroy(),
    );
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    const target = this.#target(request);
    if (target === 'not_a_forward_proxy') {
      this.#metrics.localErrors.labels(this.#config.name, 'not_a_forward_proxy').inc();
      sendLocalError(response, 'not_a_forward_proxy', {
        message: 'absolute-form requests for other hosts are refused: this is not a forward proxy',
      });
      return;
    }
    if (this.#stopping) response.shouldKeepAlive = false;
    this.#inFlight++;
    const path = target instanceof ClientRequestError ? (request.url ?? '') : target.path;
    const { headers, requestId, hostHeaders } = forwardHeaders(
      request,
      undefined,
      forwardedAuthority(target),
    );
    const problem =
      target instanceof ClientRequestError
        ? target
        : hostHeaders > 1
          ? new BadRequestError(`${hostHeaders} Host headers (RFC 9112 §3.2 allows one)`)
          : undefined;
    if (this.#h2Path && !problem) {
      response.on('close', this.#forwardContext.closed);
      this.#h2Path.http1(request, response, path, hasBody(request));
      return;
    }
    const forward = new ForwardHandler(this.#forwardContext, request, response, path, requestId);
    if (problem) {
      forward.fail(problem);
      return;
    }
    const method = request.method ?? 'GET';
    const key = this.#hashKey(request);
    if (!hasBody(request)) {
      const options = { path, method, headers, body: null };
      new RetryHandler(this.#retryContext, forward, options, key, retrySafety(method, 'none')).dispatch();
      return;
    }
    const send = (body: Buffer | IncomingMessage) =>
      new RetryHandler(
        this.#retryContext,
        forward,
        { path, method, headers, body },
        key,
        retrySafety(method, body === request ? 'streamed' : 'held'),
      ).dispatch();
    forward.watchBody(this.#config.requestBodyIdleTimeoutMs);
    // A body that fits the buffers is held whole, so a failed attempt can be replayed on another endpoint.
    const length = declaredLength(request);
    if (length === undefined || !this.buffers.reserve(length)) {
      send(request);
      return;
    }
    response.once('close', () => this.buffers.release(length));
    readBody(request, length, (body) => {
      if (body && !forward.clientGone) send(body);
    });
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = this.#target(request);
    const fail = (status: number, reason: string) => {
      this.#metrics.localErrors.labels(this.#config.name, reason).inc();
      socket.end(rawJsonResponse(status, { error: reason }));
    };
    if (target === 'not_a_forward_proxy') {
      fail(403, 'not_a_forward_proxy');
      return;
    }
    const { headers, hostHeaders } = forwardHeaders(request, UPGRADE_HEADERS, forwardedAuthority(target));
    if (target instanceof ClientRequestError || hostHeaders > 1) {
      const reason = target instanceof ClientRequestError ? target.reason : 'bad_request';
      fail(localStatus(reason), reason);
      return;
    }
    const path = target.path;
    // The tunnel holds its lease until it closes: it counts as a request in flight meanwhile.
    const lease = this.#cluster.acquire(this.#hashKey(request));
    if (!(lease instanceof Lease)) {
      fail(503, lease.reason);
      return;
    }
    const endpoint = lease.endpoint;
    const protocol = request.headers.upgrade ?? 'websocket';
    this.#tunnels.add(socket);
    socket.on('error', () => {});
    upgradeOrRelay(lease, { path, method: request.method ?? 'GET', headers, protocol }, request, socket)
      .then((upgraded) => {
        if (!upgraded) {
          // declined (a plain answer, e.g. to h2c): relayed as an ordinary response
          this.#tunnels.delete(socket);
          return;
        }
        const { headers: upstreamHeaders, socket: upstream } = upgraded;
        lease.connected();
        if (socket.destroyed) {
          // the client left during the handshake: its 'close' has passed, nothing would end the tunnel
          upstream.destroy();
          this.#tunnels.delete(socket);
          lease.release();
          return;
        }
        const lines = ['HTTP/1.1 101 Switching Protocols', 'connection: Upgrade', `upgrade: ${protocol}`];
        for (const [name, value] of Object.entries(upstreamHeaders)) {
          if (name === 'connection' || name === 'upgrade' || value === undefined) continue;
          for (const item of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${item}`);
        }
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length) upstream.write(head);
        this.#tunnels.add(upstream);
        const close = () => {
          socket.destroy();
          upstream.destroy();
          this.#tunnels.delete(socket);
          this.#tunnels.delete(upstream);
          lease.release();
        };
        upstream.on('error', close).on('close', close);
        socket.on('close', close);
        socket.pipe(upstream).pipe(socket);
      })
      .catch((error: Error & { code?: string }) => {
        this.#tunnels.delete(socket);
        const clientError = clientRequestError(error);
        if (clientError || socket.destroyed) {
          lease.release();
          if (clientError) fail(400, clientError.reason);
          return;
        }
        lease.release(upstreamFailure(error));
        this.#logger.warn({ endpoint: endpoint.address, error: error.message }, 'upgrade failed');
        fail(502, 'upstream_upgrade_failed');
      });
  }
}

function forwardedAuthority(target: RequestTarget | ClientRequestError): string | undefined {
  return target instanceof ClientRequestError ? undefined : target.authority;
}
