import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';

export interface DemoAppOptions {
  host?: string;
  port?: number;
  /** Name returned by GET /, so a caller can tell replicas apart. */
  instance?: string;
  /** File the app appends its log lines to (a shared volume in a Pod). */
  logFile?: string | undefined;
  /** A heartbeat line every this many ms; 0 for none. */
  logIntervalMs?: number;
  /** Where GET /call sends its request: the ambassador in a Pod. */
  upstreamUrl?: string | undefined;
}

export interface DemoApp {
  url: string;
  server: Server;
  log(message: string): void;
  setReady(ready: boolean): void;
  close(): Promise<void>;
}

/**
 * A small app that behaves like the ones sidecars are put next to: it writes log lines to a file,
 * exposes Prometheus /metrics and a Spring Boot actuator-shaped /actuator/health, and calls an
 * upstream through whatever listens at upstreamUrl.
 */
export async function startDemoApp(options: DemoAppOptions = {}): Promise<DemoApp> {
  const instance = options.instance ?? 'demo-app';
  const registry = new Registry();
  const ready = new Gauge({ name: 'app_ready', help: '1 when the app can serve.', registers: [registry] });
  const queueDepth = new Gauge({
    name: 'queue_depth',
    help: 'Jobs waiting.',
    labelNames: ['queue'],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'Requests served.',
    labelNames: ['path', 'status'],
    registers: [registry],
  });
  ready.set(1);
  queueDepth.set({ queue: 'jobs' }, 3);
  queueDepth.set({ queue: 'mail' }, 0);
  let sequence = 0;

  if (options.logFile) mkdirSync(dirname(options.logFile), { recursive: true });
  const log = (message: string) => {
    sequence += 1;
    const line = JSON.stringify({
      time: new Date().toISOString(),
      level: 'info',
      instance,
      seq: sequence,
      msg: message,
    });
    if (options.logFile) appendFileSync(options.logFile, `${line}\n`);
  };

  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://app.local');
    const reply = (status: number, body: unknown, type = 'application/json') => {
      requests.inc({ path: url.pathname, status: String(status) });
      const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
      response.writeHead(status, { 'content-type': type });
      response.end(text);
    };
    try {
      switch (url.pathname) {
        case '/':
          log(`GET / from ${request.socket.remoteAddress}`);
          return reply(200, { instance, message: 'hello from the app' });
        case '/metrics':
          return reply(200, await registry.metrics(), registry.contentType);
        case '/actuator/health': {
          const up = (await ready.get()).values[0]?.value === 1;
          return reply(up ? 200 : 503, {
            status: up ? 'UP' : 'DOWN',
            components: {
              db: { status: up ? 'UP' : 'DOWN' },
              diskSpace: { status: 'UP', details: { free: 1_000_000 } },
            },
          });
        }
        case '/admin/ready': {
          const value = url.searchParams.get('value') === '0' ? 0 : 1;
          ready.set(value);
          log(`readiness set to ${value}`);
          return reply(200, { ready: value });
        }
        case '/call': {
          if (!options.upstreamUrl) return reply(501, { error: 'no upstreamUrl configured' });
          const upstream = await fetch(options.upstreamUrl, { signal: AbortSignal.timeout(5_000) });
          const body = await upstream.text();
          log(`called upstream: ${upstream.status}`);
          return reply(upstream.status, body, upstream.headers.get('content-type') ?? 'text/plain');
        }
        default:
          return reply(404, { error: 'not found' });
      }
    } catch (error) {
      return reply(502, { error: String(error) });
    }
  });

  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', resolve),
  );
  const address = server.address() as AddressInfo;
  const interval = options.logIntervalMs ?? 0;
  const heartbeat = interval > 0 ? setInterval(() => log('heartbeat'), interval) : undefined;
  log(`started on ${address.address}:${address.port}`);

  return {
    url: `http://${address.address}:${address.port}`,
    server,
    log,
    setReady: (value) => ready.set(value ? 1 : 0),
    close: async () => {
      if (heartbeat) clearInterval(heartbeat);
      log('stopping');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}
