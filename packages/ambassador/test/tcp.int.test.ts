import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/elasticsearch.js';
import { type RunningAmbassador, startAmbassador } from './helpers.js';

let ambassador: RunningAmbassador | undefined;
const redis: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await ambassador?.stop();
  for (const child of redis.splice(0)) child.kill('SIGKILL');
  for (const server of servers.splice(0)) server.close();
  ambassador = undefined;
});

/** A real TCP server on 127.0.0.1 (port 0) that hands each connection to `onConnection`. */
async function tcpServer(onConnection: (socket: Socket) => void): Promise<number> {
  const server = createServer(onConnection);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const echo = (socket: Socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
};

function tcpListener(port: number, extra = ''): string {
  return `listeners: [{ name: t, listen: 127.0.0.1:0, protocol: tcp, cluster: c${extra} }]
clusters: [{ name: c, endpoints: ["127.0.0.1:${port}"] }]`;
}

/** Reads everything until the peer ends the connection, pausing now and then like a slow consumer. */
async function readSlowly(socket: Socket): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of socket) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (++chunks % 8 === 0) await sleep(5);
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function startRedis(): Promise<number> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  redis.push(child);
  let failure: Error | undefined;
  child.once('error', (error) => {
    failure = error;
  });
  for (let i = 0; i < 50; i++) {
    if (failure) throw new Error(`redis-server could not be started: ${failure.message}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (ok) return port;
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

/** A minimal RESP client: sends one command, returns the raw reply. */
function command(socket: Socket, ...args: string[]): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (data) => resolve(data.toString()));
    socket.write(
      `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`,
    );
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('tcp listener', () => {
  it('carries a Redis-protocol exchange, balancing connections over two redis-server endpoints', async () => {
    const ports = [await startRedis(), await startRedis()];
    ambassador =
      await startAmbassador(`listeners: [{ name: redis, listen: 127.0.0.1:0, protocol: tcp, cluster: redis }]
clusters:
  - name: redis
    endpoints: ["127.0.0.1:${ports[0]}", "127.0.0.1:${ports[1]}"]
    healthCheck: { intervalMs: 200 }`);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const socket = await open(ambassador.ports[0] as number);
      expect(await command(socket, 'PING')).toBe('+PONG\r\n');
      expect(await command(socket, 'SET', `key${i}`, `value ${i}`)).toBe('+OK\r\n');
      expect(await command(socket, 'GET', `key${i}`)).toBe(`$7\r\nvalue ${i}\r\n`);
      const reply = await command(socket, 'CONFIG', 'GET', 'port');
      seen.add(reply.trim().split('\r\n').at(-1) as string);
      socket.destroy();
    }
    expect(seen).toEqual(new Set(ports.map(String)));
  });

  it('carries 64 MiB to an echo server and back byte for byte while the client reads slowly', async () => {
    ambassador = await startAmbassador(tcpListener(await tcpServer(echo)));
    const socket = await open(ambassador.ports[0] as number);
    const sent = createHash('sha256');
    const received = readSlowly(socket);
    for (let i = 0; i < 1024; i++) {
      // Every chunk differs, so a reused or overwritten buffer would show in the hash.
      const chunk = Buffer.alloc(64 * 1024, i % 251);
      chunk.writeUInt32BE(i, 0);
      sent.update(chunk);
      if (!socket.write(chunk)) await once(socket, 'drain');
    }
    socket.end();
    expect(await received).toEqual({ bytes: 64 * 2 ** 20, sha256: sent.digest('hex') });
  });

  it('passes on every byte the upstream sent in small writes before it closed, then closes the client', async () => {
    // Small writes make small reads in the ambassador, which then queue up behind the slow client
    // below its high-water mark: the case where a reused read buffer would be overwritten.
    const payload = Buffer.alloc(8 * 2 ** 20);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i, i);
    const port = await tcpServer(async (socket) => {
      for (let at = 0; at < payload.length; at += 3000) {
        if (!socket.write(payload.subarray(at, at + 3000))) await once(socket, 'drain');
        if (at % 30_000 === 0) await nextTurn();
      }
      socket.end();
    });
    ambassador = await startAmbassador(tcpListener(port));
    const socket = await open(ambassador.ports[0] as number);
    expect(await readSlowly(socket)).toEqual({
      bytes: payload.length,
      sha256: createHash('sha256').update(payload).digest('hex'),
    });
  });

  it('closes the upstream connection when the client goes away', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const port = await tcpServer((socket) =>
      socket
        .on('error', () => {})
        .on('close', () => upstreamClosed())
        .resume(),
    );
    ambassador = await startAmbassador(tcpListener(port));
    const socket = await open(ambassador.ports[0] as number);
    socket.write('hello');
    await sleep(50);
    socket.destroy();
    await closed;
  });

  it('closes a connection idle for idleTimeoutMs and keeps one that keeps talking', async () => {
    ambassador = await startAmbassador(tcpListener(await tcpServer(echo), ', idleTimeoutMs: 400'));
    const port = ambassador.ports[0] as number;
    const idle = await open(port);
    const busy = await open(port);
    const idleClosedAt = once(idle, 'close').then(() => performance.now());
    const openedAt = performance.now();
    for (let i = 0; i < 12; i++) {
      busy.write('ping');
      expect((await once(busy, 'data'))[0].toString()).toBe('ping');
      await sleep(100);
    }
    // 1.2 s of traffic, three times the idle timeout: the busy connection is still open.
    expect(busy.destroyed).toBe(false);
    const idleFor = (await idleClosedAt) - openedAt;
    expect(idleFor).toBeGreaterThanOrEqual(390);
    expect(idleFor).toBeLessThan(1200);
    busy.destroy();
  });

  it('retries the connect on the other endpoint when one is down', async () => {
    const live = await startRedis();
    const dead = await freePort();
    ambassador =
      await startAmbassador(`listeners: [{ name: redis, listen: 127.0.0.1:0, protocol: tcp, cluster: redis }]
clusters: [{ name: redis, endpoints: ["127.0.0.1:${dead}", "127.0.0.1:${live}"], retries: { attempts: 1, on: [connect-failure] } }]`);
    for (let i = 0; i < 4; i++) {
      const socket = await open(ambassador.ports[0] as number);
      expect(await command(socket, 'PING')).toBe('+PONG\r\n');
      socket.destroy();
    }
  });
});
