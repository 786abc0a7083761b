import { readdirSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type RunningAmbassador,
  startAmbassador,
  type Upstream,
  Upstream as UpstreamServer,
  waitFor,
} from './helpers.js';

let ambassador: RunningAmbassador | undefined;
let upstreams: Upstream[] = [];
let recorder: RecordingUpstream | undefined;
afterEach(async () => {
  await ambassador?.stop();
  for (const upstream of upstreams) await upstream.kill();
  await recorder?.close();
  ambassador = undefined;
  upstreams = [];
  recorder = undefined;
});

/**
 * A raw TCP upstream that records exactly the bytes it receives and answers each connection's
 * first request head with a fixed 200 (then closes), so nothing a client sends can hide in it.
 */
class RecordingUpstream {
  received = '';
  connections = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor() {
    this.#server = createServer((socket) => {
      this.connections++;
      this.#sockets.add(socket);
      let seen = '';
      socket.on('data', (chunk) => {
        this.received += chunk.toString('latin1');
        seen += chunk.toString('latin1');
        if (seen.includes('\r\n\r\n') && !socket.writableEnded)
          socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      });
      socket.on('error', () => {});
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** Sends raw bytes; resolves with everything answered once the ambassador closes the connection. */
function rawExchange(port: number, text: string | string[], gapMs = 0): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', () => {});
    const parts = typeof text === 'string' ? [text] : text;
    let index = 0;
    const next = () => {
      if (index >= parts.length || socket.destroyed) return;
      socket.write(parts[index++] as string);
      if (gapMs > 0) setTimeout(next, gapMs);
      else next();
    };
    next();
  });
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
const errorOf = (answer: string) => /x-ambassador-error: ([a-z_]+)/i.exec(answer)?.[1];

function yaml(address: string, listener = '', cluster = '') {
  return `listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web${listener} }]
clusters:
  - name: web
    endpoints: ["${address}"]
    outlierDetection: { consecutiveFailures: 2, consecutiveConnectFailures: 2, baseEjectionMs: 30000, maxEjectionPercent: 100 }
    retries: { attempts: 2, on: [connect-failure, reset, 503] }
${cluster}`;
}

async function endpointState(running: RunningAmbassador) {
  const cluster = (await running.clusters()).clusters[0];
  return { active: cluster?.active, endpoint: cluster?.endpoints[0] };
}

async function localErrors(running: RunningAmbassador, reason: string): Promise<number> {
  const metrics = await (await request(`${running.admin}/metrics`)).body.text();
  const match = new RegExp(
    `ambassador_local_errors_total\\{listener="web",reason="${reason}"\\} (\\d+)`,
  ).exec(metrics);
  return Number(match?.[1] ?? 0);
}

describe('client mistakes are answered by the ambassador and never blamed on an upstream', () => {
  it('answers 400 bad_request to two Host headers and to OPTIONS *; nothing is forwarded, retried or counted against the endpoint', async () => {
    upstreams = [await new UpstreamServer('u0').start()];
    ambassador = await startAmbassador(yaml((upstreams[0] as Upstream).address));
    const port = ambassador.ports[0] as number;
    for (let i = 0; i < 5; i++) {
      const twoHosts = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
      expect(statusOf(twoHosts)).toBe(400);
      expect(errorOf(twoHosts)).toBe('bad_request');
      const asterisk = await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(statusOf(asterisk)).toBe(400);
      expect(errorOf(asterisk)).toBe('bad_request');
    }
    expect((upstreams[0] as Upstream).hits).toBe(0);
    const { endpoint } = await endpointState(ambassador);
    expect(endpoint).toMatchObject({ state: 'healthy', failures: 0, requests: 0 });
    expect(await localErrors(ambassador, 'bad_request')).toBe(10);
    // the endpoint still serves
    expect((await request(`${ambassador.urls[0]}/`)).statusCode).toBe(200);
  });

  it('answers 408 request_body_timeout to a body that stalls (held or streamed), and frees its slot', async () => {
    upstreams = [
      await new UpstreamServer('sink', (incoming, response) => {
        incoming.resume();
        incoming.on('end', () => response.end('done'));
      }).start(),
    ];
    ambassador = await startAmbassador(
      yaml((upstreams[0] as Upstream).address, ', requestBodyIdleTimeoutMs: 300'),
    );
    const port = ambassador.ports[0] as number;
    for (const length of [100, 4 * 1024 * 1024]) {
      const answer = await rawExchange(
        port,
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${length}\r\n\r\n0123456789`,
      );
      expect(statusOf(answer)).toBe(408);
      expect(errorOf(answer)).toBe('request_body_timeout');
    }
    const running = ambassador;
    const state = await waitFor(async () => {
      const current = await endpointState(running);
      return current.active === 0 ? current : undefined;
    });
    expect(state.endpoint).toMatchObject({ state: 'healthy', failures: 0 });
  });

  it('answers 431 to more than maxRequestHeaders headers (none dropped silently) and 414 to a target longer than maxUrlBytes', async () => {
    upstreams = [await new UpstreamServer('u0').start()];
    ambassador = await startAmbassador(yaml((upstreams[0] as Upstream).address, ', maxHeaderBytes: 64kb'));
    const port = ambassador.ports[0] as number;
    const head = (count: number) =>
      `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: count - 1 }, (_, i) => `x-h${i}: v\r\n`).join('')}\r\n`;
    expect(
      statusOf(
        await rawExchange(
          port,
          head(100).replace('\r\n\r\n', '\r\nconnection: close\r\n\r\n').replace('x-h0: v\r\n', ''),
        ),
      ),
    ).toBe(200);
    const tooMany = await rawExchange(port, head(101));
    expect(statusOf(tooMany)).toBe(431);
    expect(errorOf(tooMany)).toBe('request_header_fields_too_large');
    // beyond node's own ~1000, where it used to drop the rest (an Authorization among them)
    expect(
      statusOf(await rawExchange(port, head(1500).replace('Host: a', 'Host: a\r\nAuthorization: x'))),
    ).toBe(431);
    const longUrl = await rawExchange(port, `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    expect(statusOf(longUrl)).toBe(414);
    expect(errorOf(longUrl)).toBe('uri_too_long');
    const hugeHead = await rawExchange(
      port,
      `GET / HTTP/1.1\r\nHost: a\r\nx-big: ${'b'.repeat(70_000)}\r\n\r\n`,
    );
    expect(statusOf(hugeHead)).toBe(431);
    expect((upstreams[0] as Upstream).hits).toBe(1);
    expect((await endpointState(ambassador)).endpoint).toMatchObject({ failures: 0 });
  });

  it('replaces Host with the authority of an absolute-form target naming the ambassador, and refuses other schemes with 400', async () => {
    upstreams = [
      await new UpstreamServer('echo', (incoming, response) => {
        response.setHeader('connection', 'close');
        response.end(JSON.stringify({ host: incoming.headers.host, url: incoming.url }));
      }).start(),
    ];
    ambassador = await startAmbassador(yaml((upstreams[0] as Upstream).address));
    const port = ambassador.ports[0] as number;
    const answer = await rawExchange(
      port,
      `GET http://127.0.0.1:${port}/p?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n`,
    );
    expect(statusOf(answer)).toBe(200);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
      host: `127.0.0.1:${port}`,
      url: '/p?q=1',
    });
    for (const scheme of ['https', 'ftp', 'file']) {
      const refused = await rawExchange(
        port,
        `GET ${scheme}://127.0.0.1:${port}/ HTTP/1.1\r\nHost: a\r\n\r\n`,
      );
      expect(statusOf(refused)).toBe(400);
    }
    const elsewhere = await rawExchange(
      port,
      'GET http://example.com/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(elsewhere)).toBe(403);
    expect((upstreams[0] as Upstream).hits).toBe(1);
  });

  it('relays the plain 200 of an upstream that declines Upgrade: h2c, and does not count it as a failure', async () => {
    upstreams = [
      await new UpstreamServer('plain', (_incoming, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('plain http/1.1');
      }).start(),
    ];
    ambassador = await startAmbassador(yaml((upstreams[0] as Upstream).address));
    const port = ambassador.ports[0] as number;
    const answer = await rawExchange(
      port,
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    expect(statusOf(answer)).toBe(200);
    expect(answer).toContain('\r\nplain http/1.1\r\n');
    const running = ambassador;
    const state = await waitFor(async () => {
      const current = await endpointState(running);
      return current.active === 0 ? current : undefined;
    });
    expect(state.endpoint).toMatchObject({ state: 'healthy', failures: 0, requests: 1 });
  });
});

describe('request smuggling and connection abuse', () => {
  const attempts: Record<string, string> = {
    'Content-Length with Transfer-Encoding':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'two different Content-Lengths':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'Transfer-Encoding: chunked, identity':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n4\r\nabcd\r\n0\r\n\r\n',
    'an obs-fold continuation line': 'GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n',
    'a bare LF line ending': 'GET / HTTP/1.1\nHost: a\nX-Bare: lf\n\n',
    'a space before the header colon': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\nabcd',
  };
  for (const [name, bytes] of Object.entries(attempts))
    it(`answers 400 to ${name}; the upstream receives not one byte and counts no failure`, async () => {
      recorder = await new RecordingUpstream().start();
      ambassador = await startAmbassador(yaml(recorder.address));
      const answer = await rawExchange(ambassador.ports[0] as number, bytes);
      expect(statusOf(answer)).toBe(400);
      expect(answer).not.toContain('smuggled');
      expect(recorder.received).toBe('');
      expect(recorder.connections).toBe(0);
      expect((await endpointState(ambassador)).endpoint).toMatchObject({ failures: 0, requests: 0 });
      expect(await localErrors(ambassador, 'bad_request')).toBe(1);
    });

  const badChunks: Record<string, string> = {
    'a chunk size that is not hex': 'zz\r\nabcd\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'a chunk size that overflows': 'fffffffffffffffff1\r\nabcd\r\n0\r\n\r\n',
    'a chunk without its CRLF': '4\r\nabcdX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
  };
  for (const [name, body] of Object.entries(badChunks))
    it(`answers 400 to ${name}: the upstream gets at most the cut-off start of one request re-framed by undici, and counts no failure`, async () => {
      recorder = await new RecordingUpstream().start();
      ambassador = await startAmbassador(yaml(recorder.address));
      // the head is valid, so forwarding may start before the parser meets the bad chunk
      const answer = await rawExchange(
        ambassador.ports[0] as number,
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
      );
      expect(statusOf(answer)).toBe(400);
      expect(recorder.received).not.toContain('smuggled');
      expect(recorder.received).not.toContain('abcd');
      expect(recorder.received.match(/HTTP\/1\.1\r\n/g)?.length ?? 0).toBeLessThanOrEqual(1);
      const running = ambassador;
      const state = await waitFor(async () => {
        const current = await endpointState(running);
        return current.active === 0 ? current : undefined;
      });
      expect(state.endpoint).toMatchObject({ failures: 0, state: 'healthy' });
    });

  it('forwards a well-framed chunked request re-framed by undici: the upstream receives exactly one request', async () => {
    recorder = await new RecordingUpstream().start();
    ambassador = await startAmbassador(yaml(recorder.address));
    const answer = await rawExchange(
      ambassador.ports[0] as number,
      'POST /one HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n',
    );
    expect(statusOf(answer)).toBe(200);
    const received = recorder.received;
    expect(received.match(/HTTP\/1\.1\r\n/g)).toHaveLength(1);
    expect(received.startsWith('POST /one HTTP/1.1\r\n')).toBe(true);
    // framed once, by undici: a body received whole gets its length, a streaming one chunks
    const framing = received.match(/^(content-length|transfer-encoding):.*$/gim) ?? [];
    expect(framing).toHaveLength(1);
    expect(received.endsWith('\r\n\r\nabcd') || received.endsWith('\r\n4\r\nabcd\r\n0\r\n\r\n')).toBe(true);
  });

  it('cuts a slowloris client sending its head byte by byte at headersTimeoutMs', async () => {
    recorder = await new RecordingUpstream().start();
    ambassador = await startAmbassador(yaml(recorder.address, ', headersTimeoutMs: 500'));
    const head = `GET / HTTP/1.1\r\nHost: a\r\nx-slow: ${'s'.repeat(200)}\r\n\r\n`;
    const answer = await rawExchange(ambassador.ports[0] as number, head.split(''), 20);
    // closed long before the ~4 s the whole head would take; answered 408 or just cut
    expect(answer === '' || statusOf(answer) === 408).toBe(true);
    expect(recorder.received).toBe('');
  });

  it('leaves no file descriptor and nothing in flight behind after 500 clients reset mid-request and mid-response', async () => {
    upstreams = [
      await new UpstreamServer('slow', (incoming, response) => {
        incoming.resume();
        incoming.on('end', () => {
          response.writeHead(200, { 'content-length': 1_000_000 });
          response.write(Buffer.alloc(64 * 1024));
          // the rest never comes: the client resets while the body streams
        });
      }).start(),
    ];
    ambassador = await startAmbassador(yaml((upstreams[0] as Upstream).address));
    const port = ambassador.ports[0] as number;
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    const resetAfter = (text: string, when: 'sent' | 'first-byte') =>
      new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        socket.on('close', () => resolve());
        socket.write(text, () => {
          if (when === 'sent') setImmediate(() => socket.resetAndDestroy());
        });
        if (when === 'first-byte') socket.once('data', () => socket.resetAndDestroy());
      });
    for (let round = 0; round < 10; round++)
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0
            ? resetAfter('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\npartial', 'sent')
            : resetAfter('GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'first-byte'),
        ),
      );
    const running = ambassador;
    await waitFor(async () => ((await endpointState(running)).active === 0 ? true : undefined));
    await waitFor(() => (fds() <= before + 2 ? true : undefined));
    expect((await endpointState(ambassador)).endpoint).toMatchObject({ state: 'healthy', active: 0 });
  });
});
