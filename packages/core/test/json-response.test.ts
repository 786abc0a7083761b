import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonBody, listen, rawJsonResponse, sendJson } from '../src/index.js';

let server: Server | undefined;
afterEach(async () => {
  if (server?.listening) await once(server.close(), 'close');
  server = undefined;
});

async function serve(handler: RequestListener): Promise<string> {
  server = createServer(handler);
  const { port } = await listen(server, { host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${port}`;
}

describe('jsonBody', () => {
  it('is the value as one line of JSON ended by a newline', () => {
    expect(jsonBody({ error: 'not found', paths: ['/a', '/b'] })).toBe(
      '{"error":"not found","paths":["/a","/b"]}\n',
    );
    expect(jsonBody({ text: 'line\nbreak' }).split('\n')).toHaveLength(2);
  });
});

describe('sendJson', () => {
  it('answers the status with the JSON body, its type and its length in bytes', async () => {
    const base = await serve((_request, response) =>
      sendJson(response, 418, { error: 'teapot', note: 'é✓' }),
    );
    const response = await fetch(base);
    expect(response.status).toBe(418);
    expect(response.headers.get('content-type')).toBe('application/json');
    const text = await response.text();
    expect(text).toBe('{"error":"teapot","note":"é✓"}\n');
    expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect(Buffer.byteLength(text)).toBeGreaterThan(text.length);
  });

  it('adds the headers given, which may replace the content-type but not the length', async () => {
    const base = await serve((_request, response) =>
      sendJson(
        response,
        200,
        { status: 'pass' },
        { 'content-type': 'application/health+json', 'cache-control': 'no-store', 'content-length': 1 },
      ),
    );
    const response = await fetch(base);
    expect(response.headers.get('content-type')).toBe('application/health+json');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ status: 'pass' });
  });
});

describe('rawJsonResponse', () => {
  it('is a whole HTTP/1.1 response that closes the connection', () => {
    expect(rawJsonResponse(405, { error: 'not_a_forward_proxy' })).toBe(
      'HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncontent-length: 32\r\n' +
        'connection: close\r\n\r\n{"error":"not_a_forward_proxy"}\n',
    );
  });

  it('puts the extra headers before connection: close', () => {
    const text = rawJsonResponse(431, { error: 'too_large' }, { 'x-ambassador-error': 'too_large' });
    expect(text).toContain('\r\nx-ambassador-error: too_large\r\nconnection: close\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 431 Request Header Fields Too Large\r\n')).toBe(true);
  });

  it('is read by an HTTP client as the status, headers and body it says', async () => {
    server = createServer();
    server.on('connection', (socket) => socket.end(rawJsonResponse(503, { error: 'busy', note: '✓' })));
    const { port } = await listen(server, { host: '127.0.0.1', port: 0 });
    const response = await fetch(`http://127.0.0.1:${port}/`);
    expect(response.status).toBe(503);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({ error: 'busy', note: '✓' });
  });

  it('counts the length in bytes, so a reader of exactly that many bytes gets the whole body', async () => {
    const text = rawJsonResponse(400, { error: 'ünïcode' });
    const head = text.slice(0, text.indexOf('\r\n\r\n') + 4);
    const length = Number(/content-length: (\d+)/.exec(head)?.[1]);
    expect(Buffer.byteLength(text) - Buffer.byteLength(head)).toBe(length);
    // And over a real socket: the bytes after the head are that many.
    server = createServer();
    server.on('connection', (socket) => socket.end(text));
    const { port } = await listen(server, { host: '127.0.0.1', port: 0 });
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    const received = Buffer.concat(chunks);
    expect(received.length - received.indexOf('\r\n\r\n') - 4).toBe(length);
  });
});
