import { connect } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  endpoints,
  getJson,
  type RunningAmbassador,
  startAmbassador,
  startUpstreams,
  type Upstream,
  Upstream as UpstreamServer,
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

const echoHeaders =
  () => (request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse) => {
    const body = JSON.stringify({ headers: request.headers, url: request.url });
    response.writeHead(200, {
      'content-type': 'application/json',
      connection: 'keep-alive, x-hop',
      'x-hop': 'should not pass',
      'keep-alive': 'timeout=5',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  };

function yaml(extraListener = '', extraCluster = '') {
  return `listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web${extraListener} }]
clusters:
  - name: web
    endpoints: ${endpoints(upstreams)}
${extraCluster}`;
}

/** Sends raw bytes and returns everything the ambassador answers until it closes the socket. */
function rawExchange(
  port: number,
  text: string,
  waitMs = 3000,
): Promise<{ answer: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closed: false });
    }, waitMs);
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, closed: true });
    });
    socket.on('error', () => {});
    socket.write(text);
  });
}

describe('http proxying', () => {
  it('adds X-Forwarded-*, generates x-request-id, strips hop-by-hop headers both ways', async () => {
    upstreams = [await new UpstreamServer('echo', echoHeaders()).start()];
    ambassador = await startAmbassador(yaml());
    const { status, headers, body } = await getJson(`${ambassador.urls[0]}/path?q=1`, {
      'x-custom': 'kept',
      'x-forwarded-for': '203.0.113.9',
    });
    expect(status).toBe(200);
    const seen = body['headers'] as Record<string, string>;
    expect(body['url']).toBe('/path?q=1');
    expect(seen['x-custom']).toBe('kept');
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe(`127.0.0.1:${ambassador.ports[0]}`);
    expect(seen['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers['x-hop']).toBeUndefined();
    expect(headers['keep-alive']).not.toBe('timeout=5');
  });

  it('drops the headers a client lists in Connection', async () => {
    upstreams = [await new UpstreamServer('echo', echoHeaders()).start()];
    ambassador = await startAmbassador(yaml());
    const { answer } = await rawExchange(
      ambassador.ports[0] as number,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close, x-secret\r\nX-Secret: dropped\r\nX-Kept: yes\r\n\r\n',
    );
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
      headers: Record<string, string>;
    };
    expect(body.headers['x-kept']).toBe('yes');
    expect(body.headers['x-secret']).toBeUndefined();
  });

  it('passes repeated response headers (several set-cookie) and drops those the upstream lists in Connection', async () => {
    upstreams = [
      await new UpstreamServer('cookies', (_request, response) => {
        response.setHeader('set-cookie', ['a=1', 'b=2']);
        response.setHeader('x-hop-only', 'dropped');
        response.setHeader('connection', 'keep-alive, x-hop-only');
        response.end('ok');
      }).start(),
    ];
    ambassador = await startAmbassador(yaml());
    const response = await request(`${ambassador.urls[0]}/`);
    await response.body.dump();
    expect(response.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(response.headers['x-hop-only']).toBeUndefined();
  });

  it('passes a client x-request-id on unchanged', async () => {
    upstreams = [await new UpstreamServer('echo', echoHeaders()).start()];
    ambassador = await startAmbassador(yaml());
    const { body } = await getJson(`${ambassador.urls[0]}/`, { 'x-request-id': 'req-42' });
    expect((body['headers'] as Record<string, string>)['x-request-id']).toBe('req-42');
  });

  it('streams a request body to the upstream and its response back', async () => {
    upstreams = [
      await new UpstreamServer('sum', (request, response) => {
        let bytes = 0;
        request.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        request.on('end', () => response.end(JSON.stringify({ bytes, method: request.method })));
      }).start(),
    ];
    ambassador = await startAmbassador(yaml());
    const payload = Buffer.alloc(5 * 1024 * 1024, 7);
    const response = await request(`${ambassador.urls[0]}/upload`, { method: 'POST', body: payload });
    expect(await response.body.json()).toEqual({ bytes: payload.length, method: 'POST' });
  });

  it('refuses absolute-form requests for other hosts (not an open proxy)', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(yaml());
    const { answer } = await rawExchange(
      ambassador.ports[0] as number,
      'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    expect(answer).toContain('"error":"not_a_forward_proxy"');
    expect(upstreams[0]?.hits).toBe(0);
  });

  it('accepts absolute-form naming the ambassador itself', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(yaml());
    const port = ambassador.ports[0] as number;
    const { answer } = await rawExchange(
      port,
      `GET http://127.0.0.1:${port}/x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
  });

  it('refuses CONNECT', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(yaml());
    const { answer } = await rawExchange(
      ambassador.ports[0] as number,
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 405/);
    expect(answer).toContain('not_a_forward_proxy');
  });

  it('cuts off a slowloris client that never finishes its request head', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(yaml(', headersTimeoutMs: 500'));
    const started = Date.now();
    const socket = connect(ambassador.ports[0] as number, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 100);
    await new Promise((resolve) => socket.on('close', resolve));
    clearInterval(drip);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(upstreams[0]?.hits).toBe(0);
  });

  it('rejects request heads larger than maxHeaderBytes with 431', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(yaml(', maxHeaderBytes: 1kb'));
    const { answer } = await rawExchange(
      ambassador.ports[0] as number,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 431/);
  });

  it('answers 503 no_healthy_upstream as JSON when every endpoint is down', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(
      yaml('', '    healthCheck: { path: /, intervalMs: 50, timeoutMs: 200, unhealthyThreshold: 1 }'),
    );
    await upstreams[0]?.kill();
    const current = ambassador;
    await waitFor(async () => (await current.clusters()).clusters[0]?.endpoints[0]?.healthy === false);
    const { status, headers, body } = await getJson(`${ambassador.urls[0]}/`);
    expect(status).toBe(503);
    expect(headers['x-ambassador-error']).toBe('no_healthy_upstream');
    expect(body).toMatchObject({ error: 'no_healthy_upstream', cluster: 'web' });
  });

  it('answers 502 upstream_connect_failure when the only endpoint refuses connections', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(yaml());
    await upstreams[0]?.kill();
    const { status, body } = await getJson(`${ambassador.urls[0]}/`);
    expect(status).toBe(502);
    expect(body['error']).toBe('upstream_connect_failure');
  });

  it('answers 504 upstream_timeout when the upstream is slower than requestMs', async () => {
    upstreams = [
      await new UpstreamServer('slow', (_q, response) =>
        setTimeout(() => response.end('late'), 1500),
      ).start(),
    ];
    ambassador = await startAmbassador(
      yaml('', '    timeouts: { requestMs: 200 }\n    retries: { attempts: 0 }'),
    );
    const { status, body } = await getJson(`${ambassador.urls[0]}/`);
    expect(status).toBe(504);
    expect(body['error']).toBe('upstream_timeout');
  });

  it('answers 503 circuit_open beyond maxConnections + maxPendingRequests', async () => {
    upstreams = [
      await new UpstreamServer('slow', (_q, response) => setTimeout(() => response.end('ok'), 400)).start(),
    ];
    ambassador = await startAmbassador(
      yaml('', '    circuitBreaker: { maxConnections: 2, maxPendingRequests: 1 }'),
    );
    const url = `${ambassador.urls[0]}/`;
    const results = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const response = await request(url);
        await response.body.dump();
        return { status: response.statusCode };
      }),
    );
    const statuses = results.map((result) => result.status).sort();
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
    expect(statuses.filter((status) => status === 503)).toHaveLength(3);
  });

  it('aborts the upstream request when the client goes away, leaving nothing active', async () => {
    let upstreamClosed = false;
    upstreams = [
      await new UpstreamServer('hang', (request, response) => {
        response.writeHead(200);
        response.write('partial');
        request.socket.on('close', () => {
          upstreamClosed = true;
        });
      }).start(),
    ];
    ambassador = await startAmbassador(yaml());
    const controller = new AbortController();
    const response = await request(`${ambassador.urls[0]}/`, { signal: controller.signal });
    expect(response.statusCode).toBe(200);
    controller.abort();
    await waitFor(() => upstreamClosed);
    const current = ambassador;
    await waitFor(async () => {
      const cluster = (await current.clusters()).clusters[0];
      return cluster?.active === 0 && cluster.endpoints[0]?.active === 0;
    });
  });

  it('passes WebSocket upgrades through (echo)', async () => {
    const upstream = await new UpstreamServer('ws').start();
    upstreams = [upstream];
    // Attach a WebSocket server to a second plain server so the upgrade reaches a real ws endpoint.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.on('listening', resolve));
    wss.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo:${data}`)));
    const wsPort = (wss.address() as { port: number }).port;
    ambassador = await startAmbassador(`listeners: [{ name: ws, listen: 127.0.0.1:0, cluster: ws }]
clusters: [{ name: ws, endpoints: ["127.0.0.1:${wsPort}"] }]`);
    const client = new WebSocket(`ws://127.0.0.1:${ambassador.ports[0]}/chat`);
    const reply = await new Promise<string>((resolve, reject) => {
      client.on('open', () => client.send('hello'));
      client.on('message', (data) => resolve(String(data)));
      client.on('error', reject);
    });
    expect(reply).toBe('echo:hello');
    client.close();
    await new Promise((resolve) => wss.close(resolve));
  });

  it('counts an open WebSocket tunnel as a request in flight until it closes, and refuses upgrades beyond the circuit breaker', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.on('listening', resolve));
    wss.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo:${data}`)));
    const wsPort = (wss.address() as { port: number }).port;
    ambassador = await startAmbassador(`listeners: [{ name: ws, listen: 127.0.0.1:0, cluster: ws }]
clusters: [{ name: ws, endpoints: ["127.0.0.1:${wsPort}"], circuitBreaker: { maxConnections: 1, maxPendingRequests: 0 } }]`);
    const url = `ws://127.0.0.1:${ambassador.ports[0]}/chat`;
    const client = new WebSocket(url);
    await new Promise<string>((resolve, reject) => {
      client.on('open', () => client.send('hello'));
      client.on('message', (data) => resolve(String(data)));
      client.on('error', reject);
    });
    const current = ambassador;
    const cluster = async () => (await current.clusters()).clusters[0];
    expect((await cluster())?.active).toBe(1);
    expect((await cluster())?.endpoints[0]?.active).toBe(1);
    const refused = await new Promise<number>((resolve) => {
      const second = new WebSocket(url);
      second.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      second.on('error', () => {});
    });
    expect(refused).toBe(503);
    client.close();
    await waitFor(async () => (await cluster())?.active === 0);
    expect((await cluster())?.endpoints[0]?.active).toBe(0);
    await new Promise((resolve) => wss.close(resolve));
  });

  it('on stop, finishes a request in flight before closing', async () => {
    upstreams = [
      await new UpstreamServer('slow', (_q, response) => setTimeout(() => response.end('done'), 500)).start(),
    ];
    ambassador = await startAmbassador(yaml());
    const pending = request(`${ambassador.urls[0]}/`).then(async (response) => ({
      status: response.statusCode,
      text: await response.body.text(),
    }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopping = ambassador.stop(5000);
    ambassador = undefined;
    expect(await pending).toEqual({ status: 200, text: 'done' });
    await stopping;
  });
});
