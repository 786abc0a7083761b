import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../src/index.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => (server.listening ? once(server.close(), 'close') : undefined)),
  );
});
function track<S extends Server>(server: S): S {
  servers.push(server);
  return server;
}

describe('listen', () => {
  it('binds to the host given and resolves with the port the OS chose for port 0', async () => {
    const server = track(createServer());
    const address = await listen(server, { host: '127.0.0.1', port: 0 });
    expect(address.address).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    expect(server.listening).toBe(true);
    expect(address).toEqual(server.address());
  });

  it('serves an HTTP server once it resolves', async () => {
    const server = track(createHttpServer((_request, response) => response.end('up')));
    const { port } = await listen(server, { host: '127.0.0.1', port: 0 });
    const answer = await fetch(`http://127.0.0.1:${port}/`);
    expect(await answer.text()).toBe('up');
  });

  it('rejects with the bind error when the port is taken, and leaves no listener behind', async () => {
    const first = track(createServer());
    const { port } = await listen(first, { host: '127.0.0.1', port: 0 });
    const second = track(createServer());
    await expect(listen(second, { host: '127.0.0.1', port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(second.listening).toBe(false);
    expect(second.listenerCount('error')).toBe(0);
    expect(second.listenerCount('listening')).toBe(0);
  });

  it('removes its error listener once bound: a later error is the owner’s to handle', async () => {
    const server = track(createServer());
    await listen(server, { host: '127.0.0.1', port: 0 });
    expect(server.listenerCount('error')).toBe(0);
  });

  it('rejects for an address that is not local', async () => {
    const server = track(createServer());
    // 192.0.2.0/24 is TEST-NET-1: never assigned to this machine.
    await expect(listen(server, { host: '192.0.2.1', port: 0 })).rejects.toMatchObject({
      code: 'EADDRNOTAVAIL',
    });
  });
});
