import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, Sidecar } from '@sidecar-kit/core';
import { request } from 'undici';
import { configSchema, definition, HttpListener, TcpListener } from '../src/index.js';

export interface RunningAmbassador {
  sidecar: Sidecar;
  /** Base URL (http) or port (tcp) of each listener, in config order. */
  urls: string[];
  ports: number[];
  admin: string;
  clusters(): Promise<ClustersBody>;
  stop(graceMs?: number): Promise<void>;
}

export interface EndpointSnapshot {
  address: string;
  state: string;
  healthy: boolean;
  ejected: boolean;
  ejections: number;
  active: number;
  requests: number;
  failures: number;
}
export interface ClustersBody {
  clusters: Array<{
    name: string;
    active: number;
    endpoints: EndpointSnapshot[];
    draining: EndpointSnapshot[];
  }>;
}

/** Starts an ambassador in this process from YAML (listeners should use port 0). */
export async function startAmbassador(yaml: string): Promise<RunningAmbassador> {
  const config = parseConfig(`admin: { listen: 127.0.0.1:0 }\nlog: { level: silent }\n${yaml}`, configSchema);
  const listeners: Array<HttpListener | TcpListener> = [];
  const sidecar = await Sidecar.start(
    {
      ...definition,
      create: async (context) => {
        const components = await definition.create(context);
        for (const item of components)
          if (item instanceof HttpListener || item instanceof TcpListener) listeners.push(item);
        return components;
      },
    },
    config,
  );
  const ports = listeners.map((listener) => listener.address()?.port ?? 0);
  const admin = `http://127.0.0.1:${sidecar.adminAddress.port}`;
  return {
    sidecar,
    ports,
    urls: ports.map((port) => `http://127.0.0.1:${port}`),
    admin,
    clusters: async () => (await (await request(`${admin}/clusters`)).body.json()) as ClustersBody,
    stop: async (graceMs = 2000) => {
      await sidecar.stop(graceMs);
    },
  };
}

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** A real upstream on 127.0.0.x that answers with its name; it can be stopped and started again. */
export class Upstream {
  readonly name: string;
  readonly host: string;
  hits = 0;
  port = 0;
  #server: Server | undefined;
  #handler: Handler;

  constructor(name: string, handler?: Handler, host = '127.0.0.1') {
    this.name = name;
    this.host = host;
    this.#handler =
      handler ??
      ((_request, response) => {
        const body = JSON.stringify({ upstream: name });
        response.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        });
        response.end(body);
      });
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  setHandler(handler: Handler): void {
    this.#handler = handler;
  }

  async start(): Promise<this> {
    const server = createServer((request, response) => {
      this.hits++;
      this.#handler(request, response);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops hard, as a crashed process would: open connections are cut. */
  async kill(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

export async function startUpstreams(
  count: number,
  handler?: (name: string) => Handler,
): Promise<Upstream[]> {
  return Promise.all(
    Array.from({ length: count }, (_, index) => new Upstream(`u${index}`, handler?.(`u${index}`)).start()),
  );
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const response = await request(url, { headers });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function endpoints(upstreams: Upstream[]): string {
  return `[${upstreams.map((upstream) => `"${upstream.address}"`).join(', ')}]`;
}

/** Writes an ambassador config file in a fresh temporary folder; returns its path. */
export function writeConfig(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ambassador-cli-')), 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}
