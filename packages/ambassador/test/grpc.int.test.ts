import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createSecureServer, connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EchoClient, type EchoReply, EchoServer, echoClient, unary } from './grpc-helpers.js';
import { type RunningAmbassador, startAmbassador, waitFor } from './helpers.js';

let ambassador: RunningAmbassador | undefined;
let servers: EchoServer[] = [];
let clients: EchoClient[] = [];
afterEach(async () => {
  for (const client of clients) client.close();
  await ambassador?.stop();
  for (const server of servers) server.kill();
  ambassador = undefined;
  servers = [];
  clients = [];
});

async function startServers(count: number): Promise<EchoServer[]> {
  servers = await Promise.all(Array.from({ length: count }, (_, i) => new EchoServer(`s${i}`).start()));
  return servers;
}

/** Heap and buffer bytes still reachable after a full collection: what a stream buffered would show up in. */
function retainedBytes(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

function list(addresses: string[]): string {
  return `[${addresses.map((address) => `"${address}"`).join(', ')}]`;
}

async function grpcAmbassador(addresses: string[], cluster = ''): Promise<EchoClient> {
  ambassador = await startAmbassador(`listeners: [{ name: grpc, listen: 127.0.0.1:0, cluster: echo }]
clusters:
  - name: echo
    protocol: h2c
    endpoints: ${list(addresses)}
${cluster}`);
  const client = echoClient(`127.0.0.1:${ambassador.ports[0]}`);
  clients.push(client);
  return client;
}

async function metrics(): Promise<string> {
  return (await request(`${ambassador?.admin}/metrics`)).body.text();
}

describe('gRPC through the ambassador', () => {
  it('passes unary calls, and counts them by grpc-status', async () => {
    const [server] = await startServers(1);
    const client = await grpcAmbassador([server!.address]);
    const reply = await unary(client, { message: 'hello' });
    expect(reply).toMatchObject({ message: 'hello', server: 's0' });
    const text = await metrics();
    expect(text).toMatch(/ambassador_upstream_grpc_responses_total\{[^}]*grpc_status="0"[^}]*\} 1/);
  });

  it('streams 100,000 server messages to a slow reader without buffering the stream', async () => {
    const [server] = await startServers(1);
    const client = await grpcAmbassador([server!.address]);
    const total = 100_000;
    const size = 1000;
    const call = client.serverStream({ message: 'many', count: total, size });
    let received = 0;
    let last = -1;
    let ordered = true;
    const before = retainedBytes();
    let paused = false;
    let peak = 0;
    let ahead = 0;
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (reply: EchoReply) => {
        if (reply.index !== last + 1) ordered = false;
        last = reply.index;
        received++;
        // The slow reader: every 10,000 messages it stops reading for a while.
        if (received % 10_000 === 0 && !paused) {
          paused = true;
          call.pause();
          setTimeout(() => {
            peak = Math.max(peak, retainedBytes() - before);
            // what the server wrote beyond what the stalled reader took: the windows and buffers in between
            ahead = Math.max(ahead, (server as EchoServer).sent - received);
            paused = false;
            call.resume();
          }, 300);
        }
      });
      call.on('end', resolve);
      call.on('error', reject);
    });
    // While the reader is stopped, the server is held back too: the ambassador does not read on.
    await waitFor(() => paused, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const atPause = received;
    expect(atPause).toBeLessThan(total);
    await done;
    expect(received).toBe(total);
    expect(ordered).toBe(true);
    // 100 MB went through: what the process (ambassador, client and server together) retained grew far less.
    expect(peak).toBeLessThan(40 * 1024 * 1024);
    // The server is held back while the reader stalls: at most a few MB of 1 KB messages are in flight.
    expect(ahead).toBeGreaterThan(0);
    expect(ahead).toBeLessThan(10_000);
  }, 180_000);

  it('echoes a bidirectional stream and a client stream', async () => {
    const [server] = await startServers(1);
    const client = await grpcAmbassador([server!.address]);
    const call = client.bidi();
    const replies: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (reply: EchoReply) => {
        replies.push(reply.message);
        if (replies.length < 100) call.write({ message: `m${replies.length}` });
        else call.end();
      });
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ message: 'm0' });
    await ended;
    expect(replies).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));

    const counted = await new Promise<EchoReply>((resolve, reject) => {
      const upload = client.clientStream((error, reply) =>
        error ? reject(error) : resolve(reply as EchoReply),
      );
      for (let i = 0; i < 500; i++) upload.write({ message: 'x'.repeat(100) });
      upload.end();
    });
    expect(counted.message).toBe('500');
  });

  it('answers DEADLINE_EXCEEDED when the call outlives its deadline', async () => {
    const [server] = await startServers(1);
    const client = await grpcAmbassador([server!.address]);
    await expect(
      unary(client, { message: 'slow', sleepMs: 3000 }, { deadline: Date.now() + 300 }),
    ).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
  });

  it('enforces grpc-timeout itself: a client that never cancels gets a trailers-only DEADLINE_EXCEEDED', async () => {
    const [server] = await startServers(1);
    await grpcAmbassador([server!.address]);
    const session = h2connect(`http://127.0.0.1:${ambassador!.ports[0]}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/sidecarkit.test.Echo/Unary',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '200m',
      });
      // EchoRequest { message: "slow", sleep_ms: 3000 }
      const message = Buffer.from([0x0a, 0x04, ...Buffer.from('slow'), 0x18, 0xb8, 0x17]);
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(message.length, 1);
      stream.end(Buffer.concat([frame, message]));
      const headers = await new Promise<Record<string, unknown>>((resolve) =>
        stream.once('response', resolve),
      );
      expect(headers).toMatchObject({
        ':status': 200,
        'grpc-status': '4',
        'x-ambassador-error': 'upstream_timeout',
      });
      stream.resume();
    } finally {
      session.close();
    }
  });

  it('ends a stream with UNAVAILABLE when its upstream is killed mid-stream', async () => {
    const [server] = await startServers(1);
    const client = await grpcAmbassador([server!.address]);
    const call = client.serverStream({ message: 'long', count: 1_000_000, size: 100 });
    let received = 0;
    const outcome = new Promise<grpc.ServiceError | undefined>((resolve) => {
      call.on('data', () => {
        received++;
        if (received === 1000) server!.kill();
      });
      call.on('error', resolve);
      call.on('end', () => resolve(undefined));
    });
    const error = await outcome;
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(received).toBeLessThan(1_000_000);
  });

  it('spreads the calls of one client connection over 3 servers', async () => {
    const started = await startServers(3);
    const client = await grpcAmbassador(started.map((server) => server.address));
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) => unary(client, { message: `c${i}` })),
    );
    const byServer = new Map<string, number>();
    for (const reply of replies) byServer.set(reply.server, (byServer.get(reply.server) ?? 0) + 1);
    expect([...byServer.keys()].sort()).toEqual(['s0', 's1', 's2']);
    for (const server of started) expect(server.calls).toBeGreaterThan(0);
  });

  it('retries UNAVAILABLE answers on another endpoint', async () => {
    const started = await startServers(2);
    started[0]!.unavailable = true;
    const client = await grpcAmbassador(started.map((server) => server.address));
    // One after the other: the retry budget (20%, at least 3 in flight) would refuse some of a burst.
    const replies: EchoReply[] = [];
    for (let i = 0; i < 10; i++) replies.push(await unary(client, { message: `r${i}` }));
    expect(replies.every((reply) => reply.server === 's1')).toBe(true);
    expect(started[0]!.calls).toBeGreaterThan(0);
    expect(await metrics()).toMatch(/ambassador_retries_total\{cluster="echo",reason="14"\} [1-9]/);
  });

  it('makes its own errors gRPC errors: UNAVAILABLE when no upstream can be reached', async () => {
    const [server] = await startServers(1);
    const address = server!.address;
    server!.kill();
    const client = await grpcAmbassador([address], '    retries: { attempts: 0 }');
    await expect(unary(client, { message: 'x' })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: expect.stringContaining('upstream_connect_failure'),
    });
  });

  it('health-checks with grpc.health.v1.Health/Check and routes around NOT_SERVING', async () => {
    const started = await startServers(2);
    started[0]!.serving = false;
    const client = await grpcAmbassador(
      started.map((server) => server.address),
      '    healthCheck: { grpc: { service: "" }, intervalMs: 100, unhealthyThreshold: 1, healthyThreshold: 1 }',
    );
    await waitFor(async () => {
      const body = await ambassador!.clusters();
      return body.clusters[0]?.endpoints.find((e) => e.address === started[0]!.address)?.healthy === false;
    });
    const replies = await Promise.all(Array.from({ length: 10 }, () => unary(client, { message: 'h' })));
    expect(replies.every((reply) => reply.server === 's1')).toBe(true);
  });
});

describe('TLS listener', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ambassador-h2-tls-'));
    execFileSync('bash', [
      '-c',
      `set -e; cd "${dir}"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile server.ext 2>/dev/null`,
    ]);
  });

  it('negotiates h2 or http/1.1 by ALPN, and reaches an h2 (TLS) upstream', async () => {
    const upstream = createSecureServer(
      { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) },
      (req, res) => res.end(JSON.stringify({ upstream: 'h2', version: req.httpVersion })),
    );
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const port = (upstream.address() as AddressInfo).port;
      ambassador = await startAmbassador(`listeners:
  - name: tls
    listen: 127.0.0.1:0
    cluster: secure
    tls: { cert: ${join(dir, 'server.crt')}, key: ${join(dir, 'server.key')} }
clusters:
  - name: secure
    protocol: h2
    endpoints: ["127.0.0.1:${port}"]
    tls: { ca: ${join(dir, 'ca.crt')}, serverName: localhost }`);
      const ca = readFileSync(join(dir, 'ca.crt'));
      const session = h2connect(`https://localhost:${ambassador.ports[0]}`, { ca });
      const answer = await new Promise<{ alpn: string | false | undefined; body: string }>(
        (resolve, reject) => {
          const stream = session.request({ ':path': '/' });
          let body = '';
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => {
            body += chunk;
          });
          stream.on('end', () => resolve({ alpn: session.alpnProtocol, body }));
          stream.on('error', reject);
        },
      );
      session.close();
      expect(answer.alpn).toBe('h2');
      expect(JSON.parse(answer.body)).toEqual({ upstream: 'h2', version: '2.0' });

      const { Agent } = await import('undici');
      const agent = new Agent({ connect: { ca, servername: 'localhost' } });
      const response = await request(`https://127.0.0.1:${ambassador.ports[0]}/`, { dispatcher: agent });
      expect(JSON.parse(await response.body.text())).toEqual({ upstream: 'h2', version: '2.0' });
      await agent.close();
    } finally {
      upstream.close();
    }
  });
});
