import {
  constants,
  createServer as createH2Server,
  type Http2Server,
  connect as h2connect,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, connect } from 'node:net';
import { parseConfig } from '@sidecar-kit/core';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../src/index.js';
import {
  encodeGrpcMessage,
  healthCheckRequest,
  healthCheckStatus,
  parseGrpcTimeout,
} from '../src/listener/grpc.js';
import {
  endpoints,
  type RunningAmbassador,
  startAmbassador,
  startUpstreams,
  type Upstream,
} from './helpers.js';

let ambassador: RunningAmbassador | undefined;
let upstreams: Upstream[] = [];
let h2Servers: Http2Server[] = [];
afterEach(async () => {
  await ambassador?.stop();
  for (const upstream of upstreams) await upstream.kill();
  for (const server of h2Servers) server.close();
  ambassador = undefined;
  upstreams = [];
  h2Servers = [];
});

interface H2Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  trailers: Record<string, unknown> | undefined;
}

/** One request over a prior-knowledge (h2c) session. */
function h2get(port: number, path = '/', extra: Record<string, string> = {}): Promise<H2Answer> {
  const session = h2connect(`http://127.0.0.1:${port}`);
  return new Promise<H2Answer>((resolve, reject) => {
    const stream = session.request({ ':path': path, ...extra });
    let headers: Record<string, unknown> = {};
    let trailers: Record<string, unknown> | undefined;
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (head) => {
      headers = head;
    });
    stream.on('trailers', (tail) => {
      trailers = tail;
    });
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => resolve({ status: Number(headers[':status']), headers, body, trailers }));
    stream.on('error', reject);
  }).finally(() => session.close());
}

/** h2c upstreams that answer with their name and a trailer. */
async function startH2Upstreams(count: number): Promise<string[]> {
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const server = createH2Server();
    server.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'x-trailer': `h${i}` }));
      stream.end(
        JSON.stringify({ upstream: `h${i}`, path: headers[':path'], proto: headers['x-forwarded-proto'] }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    h2Servers.push(server);
    addresses.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  return addresses;
}

describe('HTTP/2 listener', () => {
  it('speaks h2c (prior knowledge) and HTTP/1.1 on the same port to an http1 cluster', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters: [{ name: web, endpoints: ${endpoints(upstreams)} }]`);
    const port = ambassador.ports[0] as number;
    const h2 = await h2get(port, '/x');
    expect(h2.status).toBe(200);
    expect(JSON.parse(h2.body)).toEqual({ upstream: 'u0' });
    const h1 = await request(`http://127.0.0.1:${port}/x`);
    expect(h1.statusCode).toBe(200);
    expect(await h1.body.json()).toEqual({ upstream: 'u0' });
    expect(upstreams[0]?.hits).toBe(2);
  });

  it('passes h2c and HTTP/1.1 requests to an h2c cluster, one stream per request spread over the endpoints', async () => {
    const addresses = await startH2Upstreams(3);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: h2 }]
clusters: [{ name: h2, protocol: h2c, endpoints: ${JSON.stringify(addresses)} }]`);
    const port = ambassador.ports[0] as number;
    // One client session, many streams: each stream is balanced on its own.
    const session = h2connect(`http://127.0.0.1:${port}`);
    const seen = new Set<string>();
    const trailers = new Set<unknown>();
    try {
      for (let i = 0; i < 6; i++) {
        const answer = await new Promise<{ body: string; trailer: unknown }>((resolve, reject) => {
          const stream = session.request({ ':path': `/s${i}` });
          let body = '';
          let trailer: unknown;
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => {
            body += chunk;
          });
          stream.on('trailers', (tail) => {
            trailer = tail['x-trailer'];
          });
          stream.on('end', () => resolve({ body, trailer }));
          stream.on('error', reject);
        });
        seen.add((JSON.parse(answer.body) as { upstream: string }).upstream);
        trailers.add(answer.trailer);
      }
    } finally {
      session.close();
    }
    expect([...seen].sort()).toEqual(['h0', 'h1', 'h2']);
    expect([...trailers].sort()).toEqual(['h0', 'h1', 'h2']);
    const h1 = await request(`http://127.0.0.1:${port}/plain`);
    expect(h1.statusCode).toBe(200);
    expect(await h1.body.json()).toMatchObject({ path: '/plain', proto: 'http' });
  });

  it.each([
    ['a 503 answer', '503'],
    ['a reset stream', 'reset'],
  ])(
    'counts the attempt a retry replaces in the retry budget: five concurrent requests failing with %s on every endpoint all get both retries',
    async (_, reason) => {
      // Every endpoint holds its streams until five are open (all requests in flight at once), then
      // fails them all. budgetPercent 100 admits as many retries as requests in flight, so each
      // failed attempt, still counted while its retry's lease is taken, gets its retry.
      const concurrent = 5;
      const held: ServerHttp2Stream[] = [];
      let streams = 0;
      let fallback: NodeJS.Timeout | undefined;
      const fail = () => {
        clearTimeout(fallback);
        for (const stream of held.splice(0)) {
          if (reason === '503') stream.respond({ ':status': 503 }, { endStream: true });
          else stream.close(constants.NGHTTP2_INTERNAL_ERROR);
        }
      };
      const addresses: string[] = [];
      for (let i = 0; i < 3; i++) {
        const server = createH2Server();
        server.on('stream', (stream) => {
          streams++;
          stream.on('error', () => {});
          held.push(stream);
          clearTimeout(fallback);
          // Without the fix a refused retry leaves fewer than five open: fail what came, later.
          if (held.length === concurrent) fail();
          else fallback = setTimeout(fail, 500);
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        h2Servers.push(server);
        addresses.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
      }
      ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: h2 }]
clusters:
  - name: h2
    protocol: h2c
    endpoints: ${JSON.stringify(addresses)}
    retries: { attempts: 2, on: ['503', reset], budgetPercent: 100 }`);
      const port = ambassador.ports[0] as number;
      const statuses = await Promise.all(
        Array.from({ length: concurrent }, async () => {
          const response = await request(`http://127.0.0.1:${port}/`);
          await response.body.dump();
          return response.statusCode;
        }),
      );
      expect(statuses).toEqual(Array(concurrent).fill(reason === '503' ? 503 : 502));
      expect(streams).toBe(concurrent * 3);
      const metrics = await (await request(`${ambassador.admin}/metrics`)).body.text();
      expect(metrics).toContain(
        `ambassador_retries_total{cluster="h2",reason="${reason}"} ${concurrent * 2}`,
      );
    },
  );

  it('tells HTTP/1.1 from h2c when the first bytes come one at a time', async () => {
    upstreams = await startUpstreams(1);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters: [{ name: web, endpoints: ${endpoints(upstreams)} }]`);
    const port = ambassador.ports[0] as number;
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('"upstream"')) {
          socket.destroy();
          resolve(text);
        }
      });
      // "P" could start the HTTP/2 preface: the sniffer waits for more before it decides.
      socket.write('P');
      setTimeout(() => socket.write('OST / HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n'), 50);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
  });

  it('answers a gRPC client itself with a trailers-only UNAVAILABLE when no endpoint is healthy', async () => {
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: h2 }]
clusters: [{ name: h2, protocol: h2c, endpoints: ["127.0.0.1:1"], retries: { attempts: 0 } }]`);
    const answer = await h2get(ambassador.ports[0] as number, '/svc/Method', {
      ':method': 'POST',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({
      'grpc-status': '14',
      'x-ambassador-error': 'upstream_connect_failure',
    });
    const plain = await h2get(ambassador.ports[0] as number, '/');
    expect(plain.status).toBe(502);
    expect(JSON.parse(plain.body)).toMatchObject({ error: 'upstream_connect_failure' });
  });

  it('keeps HTTP/1.1 only when http2 is false', async () => {
    upstreams = await startUpstreams(1);
    ambassador =
      await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web, http2: false }]
clusters: [{ name: web, endpoints: ${endpoints(upstreams)} }]`);
    const response = await request(`${ambassador.urls[0]}/`);
    expect(response.statusCode).toBe(200);
    await response.body.dump();
  });
});

describe('gRPC helpers and config', () => {
  it('reads grpc-timeout in every unit and refuses malformed values', () => {
    expect(parseGrpcTimeout('1S')).toBe(1000);
    expect(parseGrpcTimeout('250m')).toBe(250);
    expect(parseGrpcTimeout('2M')).toBe(120_000);
    expect(parseGrpcTimeout('1H')).toBe(3_600_000);
    expect(parseGrpcTimeout('5000u')).toBe(5);
    expect(parseGrpcTimeout('99000000n')).toBe(99);
    expect(parseGrpcTimeout('1s')).toBeUndefined();
    expect(parseGrpcTimeout('123456789S')).toBeUndefined();
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
  });

  it('percent-encodes grpc-message', () => {
    expect(encodeGrpcMessage('no healthy upstream')).toBe('no healthy upstream');
    expect(encodeGrpcMessage('50% é\n')).toBe('50%25 %C3%A9%0A');
  });

  it('encodes a HealthCheckRequest and reads a HealthCheckResponse', () => {
    expect(healthCheckRequest('')).toEqual(Buffer.from([0, 0, 0, 0, 0]));
    expect(healthCheckRequest('svc')).toEqual(Buffer.from([0, 0, 0, 0, 5, 0x0a, 3, 0x73, 0x76, 0x63]));
    expect(healthCheckStatus(Buffer.from([0, 0, 0, 0, 2, 0x08, 1]))).toBe(1);
    expect(healthCheckStatus(Buffer.from([0, 0, 0, 0, 2, 0x08, 2]))).toBe(2);
    expect(healthCheckStatus(Buffer.from([0, 0, 0, 0, 0]))).toBe(0);
  });

  it('takes grpcOn names in any case, with _ or -, and checks gRPC health checks need HTTP/2', () => {
    const base = 'listeners: [{ name: l, listen: 127.0.0.1:0, cluster: c }]\n';
    const config = parseConfig(
      `${base}clusters: [{ name: c, protocol: h2c, endpoints: ["127.0.0.1:1"], retries: { grpcOn: [UNAVAILABLE, resource_exhausted] } }]`,
      configSchema,
    );
    expect(config.clusters[0]?.retries.grpcOn).toEqual(['unavailable', 'resource-exhausted']);
    expect(config.clusters[0]?.retries.bufferBytes).toBe(64 * 1024);
    expect(config.listeners[0]?.http2).toBe(true);
    expect(() =>
      parseConfig(
        `${base}clusters: [{ name: c, endpoints: ["127.0.0.1:1"], healthCheck: { grpc: {} } }]`,
        configSchema,
      ),
    ).toThrow(/gRPC health checks need protocol h2c or h2/);
  });
});
