import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/elasticsearch.js';
import { writeConfig } from './helpers.js';

const BIN = join(import.meta.dirname, '../bin/ambassador.js');
const GIB = 1024 ** 3;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

let child: ChildProcess | undefined;
let upstream: Server | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  upstream?.closeAllConnections();
  upstream?.close();
  child = undefined;
});

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Upstream: GET streams 1 GiB of x, POST counts the bytes it receives. */
async function bulkUpstream(): Promise<number> {
  upstream = createServer((req, res) => {
    if (req.method === 'POST') {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => res.end(JSON.stringify({ bytes })));
      return;
    }
    res.writeHead(200, { 'content-length': GIB });
    let sent = 0;
    const pump = () => {
      while (sent < GIB) {
        sent += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const server = upstream;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function startProcess(upstreamPort: number): Promise<{ url: string; pid: number }> {
  const port = await freePort();
  const admin = await freePort();
  const config = writeConfig(`listeners: [{ name: web, listen: 127.0.0.1:${port}, cluster: web }]
clusters: [{ name: web, endpoints: ["127.0.0.1:${upstreamPort}"] }]
admin: { listen: 127.0.0.1:${admin} }
log: { level: warn }
`);
  child = spawn(process.execPath, [BIN, '--config', config], { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    try {
      const response = await request(`http://127.0.0.1:${admin}/readyz`);
      await response.body.dump();
      if (response.statusCode === 200) break;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `http://127.0.0.1:${port}`, pid: child.pid as number };
}

describe('the ambassador process', () => {
  it('streams a 1 GiB download and a 1 GiB upload with flat memory', async () => {
    const { url, pid } = await startProcess(await bulkUpstream());
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(pid));
    }, 50);
    try {
      const download = await request(`${url}/big`);
      let received = 0;
      for await (const chunk of download.body) received += (chunk as Buffer).length;
      expect(received).toBe(GIB);

      let sent = 0;
      const body = new Readable({
        read() {
          if (sent >= GIB) return void this.push(null);
          sent += CHUNK.length;
          this.push(CHUNK);
        },
      });
      const upload = await request(`${url}/upload`, {
        method: 'POST',
        body,
        headers: { 'content-length': String(GIB) },
      });
      expect(await upload.body.json()).toEqual({ bytes: GIB });
    } finally {
      clearInterval(sampler);
    }
    // Two GiB went through; the ambassador grew by socket buffers and GC slack (V8 frees the
    // 64 KiB chunks lazily), a small fraction of the payload and independent of its size.
    expect(peak - baseline).toBeLessThan(128 * 1024 * 1024);
  }, 120_000);

  it('exits 0 on SIGTERM after the request in flight is answered', async () => {
    upstream = createServer((_req, res) => setTimeout(() => res.end('finished'), 800));
    const server = upstream;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { url } = await startProcess((server.address() as AddressInfo).port);
    const running = child as ChildProcess;
    const exited = new Promise<number | null>((resolve) => running.on('exit', (code) => resolve(code)));
    const pending = request(`${url}/`).then(async (response) => [
      response.statusCode,
      await response.body.text(),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.kill('SIGTERM');
    expect(await pending).toEqual([200, 'finished']);
    expect(await exited).toBe(0);
  });

  it('writes one JSON access log line per request when accessLog is on', async () => {
    upstream = createServer((_req, res) => res.end('ok'));
    const server = upstream;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    const config =
      writeConfig(`listeners: [{ name: web, listen: 127.0.0.1:${port}, cluster: web, accessLog: true }]
clusters: [{ name: web, endpoints: ["127.0.0.1:${(server.address() as AddressInfo).port}"] }]
admin: { listen: 127.0.0.1:0 }
`);
    child = spawn(process.execPath, [BIN, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const accessLines = () =>
      output
        .slice(0, output.lastIndexOf('\n') + 1) // a line still being written is read next time
        .split('\n')
        .filter((line) => line.includes('"access":true'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    for (let i = 0; i < 100 && !output.includes('http listener ready'); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const response = await request(`http://127.0.0.1:${port}/orders?id=7`, {
      headers: { 'x-request-id': 'abc-123' },
    });
    await response.body.dump();
    for (let i = 0; i < 100 && accessLines().length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(accessLines()).toHaveLength(1);
    expect(accessLines()[0]).toMatchObject({
      access: true,
      method: 'GET',
      path: '/orders?id=7',
      status: 200,
      requestId: 'abc-123',
      attempts: 1,
      endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
  });

  it.each([
    [
      'an unknown key',
      'listeners: [{ name: a, listen: 127.0.0.1:1, cluster: c, prot: tcp }]\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"] }]',
      'listeners[0].prot: unknown key "prot"',
    ],
    [
      'a listener pointing at no cluster',
      'listeners: [{ name: a, listen: 127.0.0.1:1, cluster: nope }]\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"] }]',
      'listeners[0].cluster: no cluster named "nope"',
    ],
    [
      'a bad endpoint address',
      'listeners: [{ name: a, listen: 127.0.0.1:1, cluster: c }]\nclusters: [{ name: c, endpoints: ["localhost"] }]',
      'clusters[0].endpoints[0]: expected host:port',
    ],
    [
      'ring_hash without hash',
      'listeners: [{ name: a, listen: 127.0.0.1:1, cluster: c }]\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"], lb: ring_hash }]',
      'clusters[0].hash: required when lb is ring_hash',
    ],
    [
      'both endpoints and discovery',
      'listeners: [{ name: a, listen: 127.0.0.1:1, cluster: c }]\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"], discovery: { file: { path: /x } } }]',
      'clusters[0]: expected exactly one of endpoints or discovery',
    ],
    [
      'a misspelt top-level key',
      'listners: [{ name: a, listen: 127.0.0.1:1, cluster: c }]\nlisteners: []\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"] }]',
      ':1:1: listners: unknown key "listners" (did you mean "listeners"?)',
    ],
    [
      'a misspelt nested key',
      'listeners: [{ name: a, listen: 127.0.0.1:1, cluster: c }]\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"], retries: { attemps: 2 } }]',
      'clusters[0].retries.attemps: unknown key "attemps" (did you mean "attempts"?)',
    ],
    [
      'workers: 0',
      'listeners: [{ name: a, listen: 127.0.0.1:1, cluster: c }]\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"] }]\nworkers: 0',
      'workers: expected number to be >=1',
    ],
  ])('rejects %s with exit code 2 and a one-line message naming the field', (_name, yaml, message) => {
    const file = writeConfig(yaml);
    const result = spawnSync(process.execPath, [BIN, '--check-config', '--config', file], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(file);
    expect(result.stderr.toLowerCase()).toContain(message.toLowerCase());
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports several problems at once, one line each, the misspelling before the missing section it explains', () => {
    const file = writeConfig(
      'listner: [{ name: a, listen: 127.0.0.1:1, cluster: c }]\nclusters: [{ name: c, endpoints: ["localhost"], lb: fastest }]',
    );
    const result = spawnSync(process.execPath, [BIN, '--check-config', '--config', file], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toContain(`${file}:1:1: listner: unknown key "listner" (did you mean "listeners"?)`);
    const rest = lines.slice(1).join('\n');
    expect(rest).toContain('listeners: required');
    expect(rest).toContain('clusters[0].endpoints[0]');
    expect(rest).toContain('clusters[0].lb');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
