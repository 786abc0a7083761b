import { Pool, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  endpoints,
  type Handler,
  type RunningAmbassador,
  startAmbassador,
  startUpstreams,
  type Upstream,
  waitFor,
} from './helpers.js';

let ambassador: RunningAmbassador | undefined;
let upstreams: Upstream[] = [];
afterEach(async () => {
  await ambassador?.stop();
  for (const upstream of upstreams) await upstream.kill();
  ambassador = undefined;
  upstreams = [];
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('failure handling', () => {
  it('hides an endpoint killed under steady load: no idempotent request fails; it is ejected, then returns once healthy', async () => {
    upstreams = await startUpstreams(3);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters:
  - name: web
    endpoints: ${endpoints(upstreams)}
    healthCheck: { path: /, intervalMs: 200, timeoutMs: 200, unhealthyThreshold: 2, healthyThreshold: 2 }
    outlierDetection: { consecutiveFailures: 3, baseEjectionMs: 30000, maxEjectionPercent: 50 }
    retries: { attempts: 2, on: [connect-failure, reset, 503] }`);
    const url = `${ambassador.urls[0]}/`;
    const statuses = new Map<number, number>();
    let running = true;
    const clients = Array.from({ length: 8 }, async () => {
      while (running) {
        const response = await request(url);
        await response.body.dump();
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      }
    });
    const victim = upstreams[1] as Upstream;
    await sleep(500);
    const total = () => [...statuses.values()].reduce((sum, count) => sum + count, 0);
    const beforeKill = total();
    await victim.kill();
    const current = ambassador;
    const snapshot = async () =>
      (await current.clusters()).clusters[0]?.endpoints.find((e) => e.address === victim.address);
    const out = await waitFor(async () => {
      const endpoint = await snapshot();
      return endpoint && (endpoint.ejected || !endpoint.healthy) ? endpoint : undefined;
    }, 10_000);
    // Out of rotation means no requests: the count the snapshot showed stays put under load.
    await sleep(500);
    expect((await snapshot())?.requests).toBe(out.requests);
    const hitsWhileDown = victim.hits;
    await victim.start();
    await waitFor(async () => {
      const endpoint = await snapshot();
      return endpoint?.state === 'healthy' && victim.hits > hitsWhileDown + 10;
    }, 10_000);
    const duringOutage = total() - beforeKill;
    running = false;
    await Promise.all(clients);
    expect([...statuses.keys()]).toEqual([200]);
    // The load went on through the kill, the ejection and the return (not a rate: any machine does 50).
    expect(duringOutage).toBeGreaterThan(50);
  });

  it('ejects an endpoint that refuses connections after consecutiveConnectFailures (default 3), retried elsewhere, before the next pick; a passing active health check brings it back', async () => {
    upstreams = await startUpstreams(3);
    // Health checks never take the endpoint out here (unhealthyThreshold out of reach) and the
    // ejection would last 30 s: the ejection is outlier detection's, its end the health check's.
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters:
  - name: web
    endpoints: ${endpoints(upstreams)}
    lb: round_robin
    healthCheck: { path: /, intervalMs: 100, timeoutMs: 500, unhealthyThreshold: 1000, healthyThreshold: 1 }
    outlierDetection: { baseEjectionMs: 30000 }
    retries: { attempts: 2, on: [connect-failure] }`);
    const url = `${ambassador.urls[0]}/`;
    const victim = upstreams[1] as Upstream;
    const current = ambassador;
    const snapshot = async () =>
      (await current.clusters()).clusters[0]?.endpoints.find((e) => e.address === victim.address);
    // Killed before any request, so no pooled connection to it exists: each pick is a connect.
    await victim.kill();
    const answeredBy = async (count: number) => {
      const names = new Map<string, number>();
      for (let i = 0; i < count; i++) {
        const response = await request(url);
        expect(response.statusCode).toBe(200);
        const { upstream } = (await response.body.json()) as { upstream: string };
        names.set(upstream, (names.get(upstream) ?? 0) + 1);
      }
      return names;
    };
    const whileDead = await answeredBy(30);
    expect(whileDead.get(victim.name)).toBeUndefined();
    const ejected = await snapshot();
    expect(ejected).toMatchObject({ ejected: true, healthy: true, ejections: 1 });
    // Three attempts (refused, retried elsewhere), then never picked again.
    expect(ejected?.requests).toBe(3);
    expect(ejected?.failures).toBe(3);

    await victim.start();
    await waitFor(async () => {
      const endpoint = await snapshot();
      return endpoint?.state === 'healthy' ? endpoint : undefined;
    }, 10_000);
    expect((await answeredBy(9)).get(victim.name)).toBe(3);
  });

  it('retries a 503 on another endpoint, within the retry budget', async () => {
    upstreams = await startUpstreams(2, (name) => (_request, response) => {
      response.writeHead(name === 'u0' ? 503 : 200);
      response.end(name);
    });
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters:
  - name: web
    endpoints: ${endpoints(upstreams)}
    retries: { attempts: 1, on: [503] }`);
    for (let i = 0; i < 20; i++) {
      const response = await request(`${ambassador.urls[0]}/`);
      expect(response.statusCode).toBe(200);
      expect(await response.body.text()).toBe('u1');
    }
    const metrics = await (await request(`${ambassador.admin}/metrics`)).body.text();
    const retried = Number(/ambassador_retries_total\{cluster="web",reason="503"\} (\d+)/.exec(metrics)?.[1]);
    // Every 503 from u0 was retried once, on u1.
    expect(retried).toBe((upstreams[0] as Upstream).hits);
    expect(retried).toBeGreaterThan(0);
  });

  it('does not retry a POST with a body after a reset', async () => {
    upstreams = await startUpstreams(2, () => (request) => request.socket.destroy());
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters: [{ name: web, endpoints: ${endpoints(upstreams)}, retries: { attempts: 2, on: [reset] } }]`);
    const response = await request(`${ambassador.urls[0]}/`, { method: 'POST', body: 'payload' });
    expect(response.statusCode).toBe(502);
    expect(await response.body.json()).toMatchObject({ error: 'upstream_reset' });
    expect((upstreams[0] as Upstream).hits + (upstreams[1] as Upstream).hits).toBe(1);
  });

  it('never ejects more than maxEjectionPercent of the endpoints', async () => {
    upstreams = await startUpstreams(2, () => (_request, response) => {
      response.writeHead(500);
      response.end();
    });
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters:
  - name: web
    endpoints: ${endpoints(upstreams)}
    outlierDetection: { consecutiveFailures: 2, baseEjectionMs: 30000, maxEjectionPercent: 50 }
    retries: { attempts: 0 }`);
    for (let i = 0; i < 20; i++) await (await request(`${ambassador.urls[0]}/`)).body.dump();
    const cluster = (await ambassador.clusters()).clusters[0];
    expect(cluster?.endpoints.filter((endpoint) => endpoint.ejected)).toHaveLength(1);
  });
});

describe('a client connection kept alive after an answer that left the request body unread', () => {
  // The body is larger than the socket buffers between client, ambassador and upstream: when the
  // answer comes, much of it is still unread, while the client (a Buffer written at once) counts
  // its request as sent and reuses the connection.
  const body = Buffer.alloc(16 * 1024 * 1024, 120);
  const upstreamBehaviours: Array<[string, number, string | undefined, (name: string) => Handler]> = [
    [
      'an endpoint resets the connection mid-body (502 upstream_reset)',
      502,
      'upstream_reset',
      () => (incoming) => {
        let received = 0;
        incoming.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= 64 * 1024) incoming.socket.resetAndDestroy();
        });
      },
    ],
    [
      'an endpoint answers before reading the body (413 passed on)',
      413,
      undefined,
      () => (_incoming, response) => {
        response.writeHead(413, { 'content-length': 0 });
        response.end();
      },
    ],
  ];
  it.each(upstreamBehaviours)(
    'closes it after the answer, so the next request on the connection is answered: %s',
    async (_name, status, error, handler) => {
      upstreams = await startUpstreams(1, handler);
      ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters: [{ name: web, endpoints: ${endpoints(upstreams)}, retries: { attempts: 2, on: [connect-failure, reset] } }]`);
      // One connection: the second request goes where the first went unless that one was closed.
      // headersTimeout turns the hang this guards against (no answer, ever) into a failure.
      const client = new Pool(ambassador.urls[0] as string, { connections: 1, headersTimeout: 5000 });
      try {
        const first = await client.request({ path: '/', method: 'POST', body });
        await first.body.dump();
        expect(first.statusCode).toBe(status);
        expect(first.headers['x-ambassador-error']).toBe(error);
        upstreams[0]?.setHandler((_incoming, response) => response.end('second'));
        const second = await client.request({ path: '/', method: 'GET' });
        expect(second.statusCode).toBe(200);
        expect(await second.body.text()).toBe('second');
        expect(first.headers.connection).toBe('close');
        expect((await ambassador.clusters()).clusters[0]?.active).toBe(0);
      } finally {
        await client.destroy();
      }
    },
  );
});
