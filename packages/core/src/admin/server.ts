import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { ListenAddress } from '../config/schemas.js';
import { sendJson } from '../http/json-response.js';
import { listen } from '../net/listen.js';
import type { Readiness } from './readiness.js';
import type { StatusPage } from './status-page.js';

/** Extra admin routes a sidecar may add, e.g. the ambassador's GET /clusters. */
export type AdminRoute = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

export interface AdminServerOptions {
  listen: ListenAddress;
  registry: Registry;
  readiness: Readiness;
  routes?: Record<string, AdminRoute>;
  /** The /metrics body when it is not just the registry's (several workers: merged from all). */
  metrics?: () => Promise<string>;
  /** Served at `GET /` (HTML, or JSON with ?format=json); without it `/` lists the routes. */
  statusPage?: StatusPage;
}

/**
 * The admin port: the status page at /, /livez (alias /healthz), /readyz, /metrics and sidecar routes.
 * Liveness only says the event loop answers; readiness runs every registered check.
 */
export class AdminServer {
  readonly #server: Server;
  readonly #options: AdminServerOptions;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, { error: String(error) });
        else response.destroy();
      });
    });
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
    this.#server.keepAliveTimeout = 5_000;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      sendJson(response, 405, { error: 'method not allowed' });
      return;
    }
    switch (path) {
      case '/':
        if (!this.#options.statusPage) break;
        await this.#options.statusPage.handle(request, response);
        return;
      case '/livez':
      case '/healthz':
        sendJson(response, 200, { status: 'ok' });
        return;
      case '/readyz': {
        const report = await this.#options.readiness.report();
        sendJson(response, report.ready ? 200 : 503, {
          status: report.ready ? 'ready' : 'not ready',
          ...report,
        });
        return;
      }
      case '/metrics': {
        const registry = this.#options.registry;
        const text = await (this.#options.metrics?.() ?? registry.metrics());
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(text);
        return;
      }
    }
    const route = this.#options.routes?.[path];
    if (route) {
      await route(request, response);
      return;
    }
    sendJson(response, 404, {
      error: 'not found',
      routes: [
        ...(this.#options.statusPage ? ['/'] : []),
        '/livez',
        '/readyz',
        '/metrics',
        ...Object.keys(this.#options.routes ?? {}),
      ],
    });
  }

  async start(): Promise<AddressInfo> {
    return listen(this.#server, this.#options.listen);
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
