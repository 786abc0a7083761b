import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Component,
  jsonBody,
  type ListenAddress,
  type Logger,
  listen,
  type StatusModel,
} from '@sidecar-kit/core';
import type { MetricsAdapterConfig } from './config.js';
import { HealthEndpoint } from './endpoints/health.js';
import { JsonMetricsEndpoint } from './endpoints/json-metrics.js';
import { ProxyEndpoint } from './endpoints/proxy.js';
import type { AdapterMetrics } from './metrics.js';
import { adapterStatus } from './status.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<number>;

function send(response: ServerResponse, status: number, body: string, type: string): number {
  response.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  response.end(body);
  return status;
}

/** The listener the monitoring system and the kubelet call: one route per configured endpoint, plus /healthz. */
export class AdapterServer implements Component {
  readonly name = 'adapter-listener';
  readonly #server: Server;
  readonly #routes = new Map<string, Handler>();
  readonly #listen: ListenAddress;
  readonly #health: HealthEndpoint[] = [];
  readonly #json: JsonMetricsEndpoint[] = [];
  readonly #proxies: Array<{ path: string; url: string }> = [];

  constructor(
    config: MetricsAdapterConfig,
    metrics: AdapterMetrics,
    private readonly logger: Logger,
  ) {
    this.#listen = config.listen;
    for (const endpoint of config.endpoints) {
      if (endpoint.proxy) {
        const proxy = new ProxyEndpoint(endpoint.proxy, endpoint.timeoutMs);
        this.#proxies.push({ path: endpoint.path, url: endpoint.proxy });
        this.#routes.set(endpoint.path, (request, response) => proxy.handle(request, response));
      } else if (endpoint.checks) {
        const health = new HealthEndpoint(endpoint, metrics);
        this.#health.push(health);
        this.#routes.set(endpoint.path, async (_request, response) => {
          const { status, text } = await health.evaluate();
          return send(response, status, text, 'application/health+json');
        });
      } else {
        const json = new JsonMetricsEndpoint(endpoint, metrics);
        this.#json.push(json);
        this.#routes.set(endpoint.path, async (_request, response) => {
          const { status, body, type } = await json.render();
          return send(response, status, body, type);
        });
      }
    }
    this.#routes.set('/healthz', async (_request, response) =>
      send(response, 200, jsonBody({ status: 'pass' }), 'application/health+json'),
    );
    this.#server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0] ?? '/';
      const route = this.#routes.get(path);
      const done = (code: number) =>
        metrics.requests.inc({ path: route ? path : 'other', code: String(code) });
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        done(send(response, 405, jsonBody({ error: 'method not allowed' }), 'application/json'));
        return;
      }
      if (!route) {
        done(
          send(
            response,
            404,
            jsonBody({ error: 'not found', paths: [...this.#routes.keys()] }),
            'application/json',
          ),
        );
        return;
      }
      route(request, response).then(done, (error: unknown) => {
        this.logger.error({ err: error, path }, 'request failed');
        if (!response.headersSent)
          done(send(response, 500, jsonBody({ error: 'internal error' }), 'application/json'));
        else response.destroy();
      });
    });
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
    this.#server.maxHeadersCount = 100;
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** The status page's sections (admin port, GET /): read from the endpoints' last results. */
  status(now: number = Date.now()): StatusModel {
    const address = this.#server.listening ? this.address() : undefined;
    const listen =
      address &&
      (address.family === 'IPv6'
        ? `[${address.address}]:${address.port}`
        : `${address.address}:${address.port}`);
    return adapterStatus({ listen, health: this.#health, json: this.#json, proxies: this.#proxies }, now);
  }

  async start(): Promise<void> {
    const { address, port } = await listen(this.#server, this.#listen);
    this.logger.info({ listen: `${address}:${port}`, paths: [...this.#routes.keys()] }, 'adapter listening');
  }

  async stop(deadline: AbortSignal): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    deadline.addEventListener('abort', () => this.#server.closeAllConnections(), { once: true });
    await closed;
  }
}
