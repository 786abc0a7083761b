import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/elasticsearch.js';
import { type RunningAmbassador, startAmbassador } from './helpers.js';

let ambassador: RunningAmbassador | undefined;
const redis: ChildProcess[] = [];
afterEach(async () => {
  await ambassador?.stop();
  for (const child of redis.splice(0)) child.kill('SIGKILL');
  ambassador = undefined;
});

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
  for (let i = 0; i < 50; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (ok) return port;
    await new Promise((resolve) => setTimeout(resolve, 50));
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
