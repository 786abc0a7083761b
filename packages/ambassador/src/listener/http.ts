import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Component, Logger } from '@sidecar-kit/core';
import type { Dispatcher } from 'undici';
import type { Cluster, FailureKind } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { ListenerConfig, RetryCondition } from '../config.js';
import type { AmbassadorMetrics } from '../metrics.js';
import { classify, reasonFor, sendLocalError } from './errors.js';
import { cookieValue, forwardHeaders, hasBody, responseHeaders } from './headers.js';
import { drained, listen } from './lifecycle.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
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
  readonly #retryOn: ReadonlySet<RetryCondition>;
  readonly #tunnels = new Set<Duplex>();
  #server: Server | undefined;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #stopping = false;

  constructor(config: ListenerConfig, cluster: Cluster, metrics: AmbassadorMetrics, logger: Logger) {
    this.name = `listener ${config.name}`;
    this.#config = config;
    this.#cluster = cluster;
    this.#metrics = metrics;
    this.#logger = logger.child({ listener: config.name });
    this.#retryOn = new Set(cluster.config.retries.on);
  }

  address(): AddressInfo | undefined {
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
    server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
      this.#metrics.localErrors.labels(config.name, 'not_a_forward_proxy').inc();
      const body = '{"error":"not_a_forward_proxy","message":"CONNECT is not supported"}\n';
      socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    this.#server = server;
    await listen(server, config.listen);
    this.#logger.info({ address: this.address(), cluster: this.#cluster.name }, 'http listener ready');
  }

  async stop(deadline: AbortSignal): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#stopping = true;
    server.close();
    server.closeIdleConnections();
    await drained(this.#inFlight > 0, (done) => (this.#idle = done), deadline);
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

  /** The request target as a path; undefined when it names another host (an open-proxy attempt). */
  #originForm(request: IncomingMessage): string | undefined {
    const target = request.url ?? '/';
    if (target.startsWith('/') || target === '*') return target;
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return undefined;
    }
    const own = this.address();
    const hostOk = ['127.0.0.1', 'localhost', '[::1]', this.#config.listen.host].includes(url.hostname);
    const portOk = Number(url.port || 80) === (own?.port ?? this.#config.listen.port);
    return hostOk && portOk ? `${url.pathname}${url.search}` : undefined;
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    const path = this.#originForm(request);
    if (path === undefined) {
      this.#metrics.localErrors.labels(this.#config.name, 'not_a_forward_proxy').inc();
      sendLocalError(response, 'not_a_forward_proxy', {
        message: 'absolute-form requests for other hosts are refused: this is not a forward proxy',
      });
      return;
    }
    if (this.#stopping) response.shouldKeepAlive = false;
    this.#inFlight++;
    new Exchange(this, request, response, path).start();
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = this.#originForm(request);
    const fail = (status: string, reason: string) => {
      this.#metrics.localErrors.labels(this.#config.name, reason).inc();
      const body = `{"error":"${reason}"}\n`;
      socket.end(
        `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    if (path === undefined) {
      fail('403 Forbidden', 'not_a_forward_proxy');
      return;
    }
    const endpoint = this.#cluster.pick(this.#hashKey(request));
    if (!endpoint) {
      fail('503 Service Unavailable', 'no_healthy_upstream');
      return;
    }
    const protocol = request.headers.upgrade ?? 'websocket';
    const { headers } = forwardHeaders(request, UPGRADE_HEADERS);
    endpoint.active++;
    this.#tunnels.add(socket);
    socket.on('error', () => {});
    endpoint.pool
      .upgrade({ path, method: request.method ?? 'GET', headers, protocol })
      .then(({ headers: upstreamHeaders, socket: upstream }) => {
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
        };
        upstream.on('error', close).on('close', close);
        socket.on('close', close);
        socket.pipe(upstream).pipe(socket);
        this.#cluster.recordSuccess(endpoint);
      })
      .catch((error: Error & { code?: string }) => {
        this.#tunnels.delete(socket);
        this.#cluster.recordFailure(endpoint, classify(error));
        this.#logger.warn({ endpoint: endpoint.address, error: error.message }, 'upgrade failed');
        fail('502 Bad Gateway', 'upstream_upgrade_failed');
      })
      .finally(() => endpoint.active--);
  }

  /** @internal called by Exchange once its response is closed */
  exchangeClosed(): void {
    if (--this.#inFlight === 0 && this.#idle) this.#idle();
  }

  #sharedContext: ExchangeContext | undefined;

  /** @internal shared with Exchange */
  get context(): ExchangeContext {
    this.#sharedContext ??= {
      cluster: this.#cluster,
      metrics: this.#metrics,
      logger: this.#logger,
      retryOn: this.#retryOn,
      listener: this.#config,
      hashKey: (request: IncomingMessage) => this.#hashKey(request),
      closed: () => this.exchangeClosed(),
    };
    return this.#sharedContext;
  }
}

interface ExchangeContext {
  cluster: Cluster;
  metrics: AmbassadorMetrics;
  logger: Logger;
  retryOn: ReadonlySet<RetryCondition>;
  listener: ListenerConfig;
  hashKey: (request: IncomingMessage) => string | undefined;
  closed: () => void;
}

/** One client request through the ambassador, with its attempts (a DispatchHandler per attempt). */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #context: ExchangeContext;
  readonly #request: IncomingMessage;
  readonly #response: ServerResponse;
  readonly #path: string;
  readonly #headers: string[];
  readonly #requestId: string;
  readonly #started = performance.now();
  readonly #retryable: boolean;
  readonly #key: string | undefined;
  #tried: Set<Endpoint> | undefined;
  #endpoint: Endpoint | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  #attempt = 0;
  #discard = false;
  #status = 0;
  #done = false;
  #isRetry = false;
  #counted = false;

  constructor(listener: HttpListener, request: IncomingMessage, response: ServerResponse, path: string) {
    this.#context = listener.context;
    this.#request = request;
    this.#response = response;
    this.#path = path;
    const forwarded = forwardHeaders(request);
    this.#headers = forwarded.headers;
    this.#requestId = forwarded.requestId;
    this.#retryable = !hasBody(request);
    this.#key = this.#context.cluster.config.hash ? this.#context.hashKey(request) : undefined;
  }

  start(): void {
    const { cluster } = this.#context;
    this.#response.once('close', () => {
      this.#context.closed();
      if (!this.#response.writableFinished)
        this.#controller?.abort(new Error('client closed the connection'));
    });
    if (!cluster.admits()) {
      this.#localError('circuit_open', { cluster: cluster.name });
      return;
    }
    cluster.active++;
    this.#counted = true;
    this.#dispatch();
  }

  #dispatch(): void {
    const { cluster } = this.#context;
    const endpoint = cluster.pick(this.#key, this.#tried);
    if (!endpoint) {
      this.#localError('no_healthy_upstream', { cluster: cluster.name });
      return;
    }
    this.#endpoint = endpoint;
    endpoint.active++;
    endpoint.requests++;
    this.#discard = false;
    const body = this.#retryable ? null : this.#request;
    endpoint.pool.dispatch(
      { path: this.#path, method: this.#request.method ?? 'GET', headers: this.#headers, body },
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#response.destroyed) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    const endpoint = this.#endpoint as Endpoint;
    if (statusCode >= 500) {
      const kind: FailureKind = '5xx';
      this.#context.cluster.recordFailure(endpoint, kind);
      if (this.#mayRetryStatus(statusCode)) {
        this.#discard = true;
        this.#status = statusCode;
        return;
      }
    } else {
      this.#context.cluster.recordSuccess(endpoint);
    }
    this.#status = statusCode;
    endpoint.stats.countStatus(statusCode);
    if (this.#response.destroyed) return;
    this.#response.writeHead(statusCode, statusMessage, responseHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#discard || this.#response.destroyed) return;
    if (!this.#response.write(chunk)) {
      controller.pause();
      this.#response.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#releaseEndpoint();
    if (this.#discard) {
      this.#retry(String(this.#status));
      return;
    }
    this.#response.end();
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error & { code?: string }): void {
    const endpoint = this.#endpoint as Endpoint;
    this.#releaseEndpoint();
    if (this.#response.destroyed) {
      this.#finish();
      return;
    }
    const kind = classify(error);
    this.#context.cluster.recordFailure(endpoint, kind);
    if (!this.#response.headersSent) {
      if (this.#mayRetry(kind)) {
        this.#retry(kind);
        return;
      }
      this.#context.logger.warn(
        { endpoint: endpoint.address, error: error.message, code: error.code, requestId: this.#requestId },
        'upstream request failed',
      );
      this.#localError(reasonFor(kind), {
        cluster: this.#context.cluster.name,
        endpoint: endpoint.address,
        message: error.message,
      });
      return;
    }
    // Headers were already passed on: the only honest signal left is to cut the connection.
    this.#response.destroy(error);
    this.#finish();
  }

  #releaseEndpoint(): void {
    if (this.#endpoint) this.#endpoint.active--;
    if (this.#isRetry) {
      this.#context.cluster.activeRetries--;
      this.#isRetry = false;
    }
  }

  #mayRetryStatus(status: number): boolean {
    const on = this.#context.retryOn;
    const matches = on.has('5xx') || on.has(String(status) as RetryCondition);
    return matches && this.#canRetry(IDEMPOTENT.has(this.#request.method ?? 'GET'));
  }

  #mayRetry(kind: FailureKind): boolean {
    if (kind === '5xx' || !this.#context.retryOn.has(kind)) return false;
    return this.#canRetry(kind === 'connect-failure' || IDEMPOTENT.has(this.#request.method ?? 'GET'));
  }

  #canRetry(safe: boolean): boolean {
    const { cluster } = this.#context;
    return safe && this.#retryable && this.#attempt < cluster.config.retries.attempts && cluster.mayRetry();
  }

  #retry(reason: string): void {
    const { cluster, metrics } = this.#context;
    this.#attempt++;
    this.#tried ??= new Set();
    if (this.#endpoint) this.#tried.add(this.#endpoint);
    metrics.retries.labels(cluster.name, reason).inc();
    cluster.activeRetries++;
    this.#isRetry = true;
    this.#controller = undefined;
    this.#dispatch();
  }

  #localError(reason: Parameters<typeof sendLocalError>[1], detail: Record<string, unknown>): void {
    this.#context.metrics.localErrors.labels(this.#context.listener.name, reason).inc();
    if (!this.#response.destroyed && !this.#response.headersSent)
      this.#status = sendLocalError(this.#response, reason, { ...detail, requestId: this.#requestId });
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    const { cluster, listener, logger } = this.#context;
    if (this.#counted) cluster.active--;
    const seconds = (performance.now() - this.#started) / 1000;
    (this.#endpoint?.stats ?? cluster.localStats).observe(seconds);
    if (listener.accessLog)
      logger.info(
        {
          access: true,
          method: this.#request.method,
          path: this.#path,
          status: this.#response.destroyed && !this.#response.writableFinished ? 0 : this.#status,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          endpoint: this.#endpoint?.address,
          attempts: this.#attempt + 1,
          requestId: this.#requestId,
          client: this.#request.socket.remoteAddress,
        },
        'request',
      );
  }
}
