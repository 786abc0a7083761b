import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningAmbassador, startAmbassador, waitFor } from './helpers.js';

let ambassador: RunningAmbassador | undefined;
const servers: Server[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await ambassador?.stop();
  ambassador = undefined;
  for (const server of servers.splice(0)) server.close();
});

/** An echo server on 127.0.0.1 that counts the connections it accepted. */
async function echoServer(): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

/** A port on 127.0.0.1 where nothing listens: connects are refused. */
async function deadPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Opens a connection through the ambassador and says ping: 'echo' if it came back, 'closed' if the ambassador closed it. */
async function ping(port: number): Promise<{ socket: Socket; result: 'echo' | 'closed' }> {
  const socket = connect(port, '127.0.0.1');
  clients.push(socket);
  socket.on('error', () => {});
  socket.write('ping');
  const result = await new Promise<'echo' | 'closed'>((resolve) => {
    socket.once('data', (data) => resolve(String(data) === 'ping' ? 'echo' : 'closed'));
    socket.once('close', () => resolve('closed'));
  });
  return { socket, result };
}

async function metric(admin: string, pattern: RegExp): Promise<number> {
  const text = await (await request(`${admin}/metrics`)).body.text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe('tcp listener limits', () => {
  it('refuses connections beyond circuitBreaker.maxConnections, before connecting upstream, and admits again once one closes', async () => {
    const upstream = await echoServer();
    ambassador =
      await startAmbassador(`listeners: [{ name: t, listen: 127.0.0.1:0, protocol: tcp, cluster: c }]
clusters: [{ name: c, endpoints: ["127.0.0.1:${upstream.port}"], circuitBreaker: { maxConnections: 2 } }]`);
    const port = ambassador.ports[0] as number;
    const first = await ping(port);
    const second = await ping(port);
    expect([first.result, second.result]).toEqual(['echo', 'echo']);

    // maxPendingRequests (1024 by default) does not apply: nothing queues for a tcp connection.
    expect((await ping(port)).result).toBe('closed');
    expect(upstream.accepted()).toBe(2);
    const admin = ambassador.admin;
    expect(
      await metric(admin, /ambassador_local_errors_total\{listener="t",reason="circuit_open"\} (\d+)/),
    ).toBe(1);

    first.socket.destroy();
    const current = ambassador;
    await waitFor(async () => (await current.clusters()).clusters[0]?.active === 1);
    expect((await ping(port)).result).toBe('echo');
    expect(upstream.accepted()).toBe(3);
  });

  it('retries a failed connect only within the retry budget: retried connections count while they are open', async () => {
    const live = await echoServer();
    const dead = await deadPort();
    // budgetPercent 0 leaves the floor of the budget: 3 retries in flight.
    ambassador =
      await startAmbassador(`listeners: [{ name: t, listen: 127.0.0.1:0, protocol: tcp, cluster: c }]
clusters:
  - name: c
    endpoints: ["127.0.0.1:${dead}", "127.0.0.1:${live.port}"]
    retries: { attempts: 1, on: [connect-failure], budgetPercent: 0 }`);
    const port = ambassador.ports[0] as number;
    const admin = ambassador.admin;
    const retries = () =>
      metric(admin, /ambassador_retries_total\{cluster="c",reason="connect-failure"\} (\d+)/);
    const results: string[] = [];
    const open: Socket[] = [];
    // Round robin sends every other try to the dead endpoint; a refused one ends the loop.
    while (!results.includes('closed') && results.length < 12) {
      const { socket, result } = await ping(port);
      results.push(result);
      if (result === 'echo') open.push(socket);
    }
    expect(results).toContain('closed');
    expect(await retries()).toBe(3);
    expect(
      await metric(
        admin,
        /ambassador_local_errors_total\{listener="t",reason="upstream_connect_failure"\} (\d+)/,
      ),
    ).toBe(1);

    // Once the retried connections close, the budget is free again.
    for (const socket of open) socket.destroy();
    const current = ambassador;
    await waitFor(async () => (await current.clusters()).clusters[0]?.active === 0);
    for (let i = 0; i < 4 && (await retries()) === 3; i++) expect((await ping(port)).result).toBe('echo');
    expect(await retries()).toBe(4);
  });

  it('counts the connection a retry replaces in the retry budget while its retry is admitted', async () => {
    const live = await echoServer();
    const dead = await deadPort();
    // Round robin: the first connection goes to the live endpoint, every later one to the dead
    // endpoint first and is retried on the live one, and stays a retry while open. With K open
    // (K-1 retries), the next one's retry is admitted while K-1 < max(3, 0.7 × (K+1)): the failed
    // connect counts among the K+1 in flight. Six connect; the seventh is refused.
    ambassador =
      await startAmbassador(`listeners: [{ name: t, listen: 127.0.0.1:0, protocol: tcp, cluster: c }]
clusters:
  - name: c
    endpoints: ["127.0.0.1:${dead}", "127.0.0.1:${live.port}"]
    retries: { attempts: 1, on: [connect-failure], budgetPercent: 70 }`);
    const port = ambassador.ports[0] as number;
    const results: string[] = [];
    while (!results.includes('closed') && results.length < 12) results.push((await ping(port)).result);
    expect(results).toEqual(['echo', 'echo', 'echo', 'echo', 'echo', 'echo', 'closed']);
    expect(
      await metric(
        ambassador.admin,
        /ambassador_retries_total\{cluster="c",reason="connect-failure"\} (\d+)/,
      ),
    ).toBe(5);
  });
});
