/**
 * The redis listener against in-process fake shards (a Map per shard behind a RESP server): routing, split and
 * merge, order, refusals, a shard that never answers (timeoutMs), a shard that closes mid-pipeline, ejection,
 * backpressure and bad input. Needs nothing but Node and loopback.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeRespCommand,
  type RespReply,
  RespReplyParser,
  RespRequestParser,
} from '../src/protocol/resp.js';
import { KeyDistributor } from '../src/sharding/distribution.js';
import { RawClient, type ShardedAmbassador, startSharded } from './sharded-support.js';

/** A fake Redis: GET/SET/DEL/MGET/MSET/EXISTS from a Map; `mode` makes it hang or hang up. */
class FakeShard {
  readonly data = new Map<string, Buffer>();
  mode: 'ok' | 'silent' | 'hangup' = 'ok';
  commands: string[] = [];
  port = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {});
      const parser = new RespRequestParser();
      socket.on('data', (chunk: Buffer) => {
        parser.push(chunk);
        const out: Buffer[] = [];
        for (let request = parser.next(); request !== undefined; request = parser.next()) {
          const [name, ...args] = request.args.map((arg) => arg.toString('latin1'));
          this.commands.push(name!.toUpperCase());
          if (this.mode === 'hangup') {
            socket.destroy();
            return;
          }
          if (this.mode === 'silent') continue;
          out.push(this.#answer(name!.toUpperCase(), args));
        }
        if (out.length) socket.write(Buffer.concat(out));
      });
    });
  }

  #answer(name: string, args: string[]): Buffer {
    const bulk = (value: Buffer | undefined) =>
      value === undefined ? '$-1\r\n' : `$${value.length}\r\n${value.toString('latin1')}\r\n`;
    switch (name) {
      case 'SET':
        this.data.set(args[0]!, Buffer.from(args[1]!, 'latin1'));
        return Buffer.from('+OK\r\n');
      case 'GET':
        return Buffer.from(bulk(this.data.get(args[0]!)), 'latin1');
      case 'MSET':
        for (let index = 0; index < args.length; index += 2)
          this.data.set(args[index]!, Buffer.from(args[index + 1]!, 'latin1'));
        return Buffer.from('+OK\r\n');
      case 'MGET':
        return Buffer.from(
          `*${args.length}\r\n${args.map((key) => bulk(this.data.get(key))).join('')}`,
          'latin1',
        );
      case 'DEL':
      case 'EXISTS': {
        let count = 0;
        for (const key of args) {
          if (this.data.has(key)) count++;
          if (name === 'DEL') this.data.delete(key);
        }
        return Buffer.from(`:${count}\r\n`);
      }
      default:
        return Buffer.from(`-ERR fake shard does not know '${name}'\r\n`);
    }
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(this.port, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const cmd = (...args: string[]) => encodeRespCommand(args);
const text = (reply: RespReply | undefined) => reply?.raw.toString('latin1') ?? '<none>';

const shards: FakeShard[] = [];
let ambassador: ShardedAmbassador;
let distributor: KeyDistributor;
let specs: string[];
const clients: RawClient<RespReply>[] = [];

async function client(port = ambassador.ports[0]!): Promise<RawClient<RespReply>> {
  const opened = await RawClient.open(port, new RespReplyParser());
  clients.push(opened);
  return opened;
}

/** A key on the given shard. */
function keyOn(shard: number, prefix: string): string {
  for (let n = 0; ; n++) if (distributor.serverIndexFor(`${prefix}${n}`) === shard) return `${prefix}${n}`;
}

beforeAll(async () => {
  for (let index = 0; index < 3; index++) {
    const shard = new FakeShard();
    await shard.start();
    shards.push(shard);
  }
  specs = shards.map((shard, index) => `127.0.0.1:${shard.port}:1 fake-${index}`);
  distributor = new KeyDistributor({ servers: specs });
  const servers = `[${specs.map((spec) => `"${spec}"`).join(', ')}]`;
  ambassador = await startSharded(`
listeners:
  - { name: plain, listen: 127.0.0.1:0, protocol: redis, cluster: plain, limits: { maxPendingReplies: 8 } }
  - { name: eject, listen: 127.0.0.1:0, protocol: redis, cluster: eject }
clusters:
  - name: plain
    sharding: { timeoutMs: 200, servers: ${servers} }
  - name: eject
    sharding: { timeoutMs: 200, autoEjectHosts: true, serverFailureLimit: 1, serverRetryTimeoutMs: 600000, servers: ${servers} }
`);
});

afterAll(async () => {
  for (const opened of clients) opened.close();
  await ambassador?.stop();
  await Promise.all(shards.map((shard) => shard.stop()));
});

describe('redis listener (fake shards)', () => {
  it('routes by key, merges MGET in key order and sums DEL, keeping pipeline order', async () => {
    const proxy = await client();
    const keys = [0, 1, 2, 0, 1, 2].map((shard, index) => keyOn(shard, `r${index}:`));
    const replies = await proxy.exchange(
      Buffer.concat([
        ...keys.map((key) => cmd('SET', key, `v:${key}`)),
        cmd('MGET', ...keys, 'absent'),
        cmd('DEL', ...keys.slice(0, 3)),
        cmd('EXISTS', ...keys),
      ]),
      keys.length + 3,
    );
    expect(replies.slice(0, keys.length).map(text)).toEqual(keys.map(() => '+OK\r\n'));
    const mget = replies[keys.length];
    expect(mget?.kind === 'aggregate' ? mget.items?.map((item) => text(item)) : []).toEqual([
      ...keys.map((key) => `$${`v:${key}`.length}\r\nv:${key}\r\n`),
      '$-1\r\n',
    ]);
    expect(text(replies[keys.length + 1])).toBe(':3\r\n');
    expect(text(replies[keys.length + 2])).toBe(':3\r\n');
    for (const [index, key] of keys.entries())
      expect(shards[[0, 1, 2, 0, 1, 2][index]!]!.data.has(key)).toBe(index >= 3);
  });

  it('refuses every blocking command with an error naming it, as twemproxy does, and serves the rest of the pipeline', async () => {
    const proxy = await client();
    const before = shards.map((shard) => shard.commands.length);
    const key = keyOn(0, 'blocking:');
    const blocking = [
      ['BLPOP', key, '1'],
      ['BRPOP', key, '1'],
      ['BRPOPLPUSH', key, key, '1'],
      ['BLMOVE', key, key, 'LEFT', 'RIGHT', '1'],
      ['BLMPOP', '1', '1', key, 'LEFT'],
      ['BZPOPMIN', key, '1'],
      ['BZPOPMAX', key, '1'],
      ['BZMPOP', '1', '1', key, 'MIN'],
      ['XREAD', 'BLOCK', '1000', 'STREAMS', key, '$'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '1000', 'STREAMS', key, '>'],
      ['WAIT', '1', '1000'],
      ['WAITAOF', '1', '0', '1000'],
      ['blpop', key, '0'],
    ];
    const replies = await proxy.exchange(
      Buffer.concat([...blocking.map((args) => cmd(...args)), cmd('SET', key, 'after'), cmd('GET', key)]),
      blocking.length + 2,
    );
    for (const [index, args] of blocking.entries())
      expect(text(replies[index])).toBe(
        `-ERR command '${args[0]}' is not supported by the sharding ambassador: blocking commands would hold a shard connection shared by all clients\r\n`,
      );
    expect(replies.slice(blocking.length).map(text)).toEqual(['+OK\r\n', '$5\r\nafter\r\n']);
    expect(shards.map((shard) => shard.commands.length)).toEqual(
      before.map((count, index) => count + (index === 0 ? 2 : 0)),
    );
  });

  it('refuses unshardable commands without sending them', async () => {
    const proxy = await client();
    const before = shards.map((shard) => shard.commands.length);
    const replies = await proxy.exchange(Buffer.concat([cmd('MULTI'), cmd('KEYS', '*'), cmd('FOO', 'x')]), 3);
    expect(text(replies[0])).toMatch(/^-ERR command 'MULTI' is not supported.*transactions/);
    expect(text(replies[1])).toMatch(/^-ERR command 'KEYS' is not supported/);
    expect(text(replies[2])).toMatch(/^-ERR unsupported command 'FOO'/);
    expect(shards.map((shard) => shard.commands.length)).toEqual(before);
  });

  it('keeps order with more commands than maxPendingReplies (8)', async () => {
    const proxy = await client();
    const keys = Array.from({ length: 200 }, (_, index) => `bp:${index}`);
    const replies = await proxy.exchange(
      Buffer.concat(keys.flatMap((key) => [cmd('SET', key, key), cmd('GET', key)])),
      keys.length * 2,
    );
    expect(replies.filter((_, index) => index % 2 === 1).map(text)).toEqual(
      keys.map((key) => `$${key.length}\r\n${key}\r\n`),
    );
  });

  it('a silent shard times out: its commands get an error in order, the others answer', async () => {
    const proxy = await client();
    shards[1]!.mode = 'silent';
    try {
      const keys = [keyOn(0, 't'), keyOn(1, 't'), keyOn(2, 't'), keyOn(1, 'u')];
      const replies = await proxy.exchange(
        Buffer.concat(keys.map((key) => cmd('SET', key, '1'))),
        keys.length,
      );
      expect(replies.map(text)).toEqual([
        '+OK\r\n',
        expect.stringMatching(/^-ERR shard fake-1: no reply within 200 ms/),
        '+OK\r\n',
        expect.stringMatching(/^-ERR shard fake-1: no reply within 200 ms/),
      ]);
    } finally {
      shards[1]!.mode = 'ok';
    }
  });

  it('a shard hanging up mid-pipeline answers each of its commands with an error; with ejection its keys move', async () => {
    const proxy = await client(ambassador.ports[1]);
    const keys = Array.from({ length: 30 }, (_, index) => keyOn(index % 3, `h${index}:`));
    shards[2]!.mode = 'hangup';
    try {
      const replies = await proxy.exchange(
        Buffer.concat(keys.map((key) => cmd('SET', key, 'x'))),
        keys.length,
      );
      replies.forEach((reply, index) => {
        if (index % 3 === 2) expect(text(reply)).toMatch(/^-ERR shard fake-2/);
        else expect(text(reply)).toBe('+OK\r\n');
      });
      // Ejected after 1 failure: its keys now go to the other shards (and only its keys moved).
      const again = await proxy.exchange(Buffer.concat(keys.map((key) => cmd('SET', key, 'y'))), keys.length);
      expect(again.map(text)).toEqual(keys.map(() => '+OK\r\n'));
      const view = (await ambassador.clusters()).clusters.find((cluster) => cluster.name === 'eject');
      expect(view?.shards?.map((shard) => shard.live)).toEqual([true, true, false]);
    } finally {
      shards[2]!.mode = 'ok';
    }
  });

  it('closes the connection on malformed input after an error, and survives', async () => {
    const proxy = await client();
    const replies = await proxy.exchange('*1\r\n$4\r\nPING\r\n*x\r\n', 2);
    expect(text(replies[0])).toBe('+PONG\r\n');
    expect(text(replies[1])).toMatch(/^-ERR Protocol error: invalid multibulk length/);
    await proxy.closed;
    const next = await client();
    expect(text((await next.exchange(cmd('PING'), 1))[0])).toBe('+PONG\r\n');
  });
});

describe('redis listener: random input', () => {
  it('survives 200 connections of random bytes (and RESP-looking garbage)', async () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pieces = [
      '*',
      '$',
      '\r\n',
      '-1',
      '3',
      'GET',
      'MGET',
      'SET',
      'k',
      '"',
      '\\x',
      ' ',
      '*2',
      '$-1',
      '0',
    ];
    for (let round = 0; round < 200; round++) {
      const socket = connect(ambassador.ports[0]!, '127.0.0.1');
      socket.on('error', () => {});
      socket.on('data', () => {});
      await once(socket, 'connect');
      const parts: Buffer[] = [];
      for (let index = 0; index < 20; index++)
        parts.push(
          random() < 0.5
            ? Buffer.from(pieces[Math.floor(random() * pieces.length)]!)
            : Buffer.from([Math.floor(random() * 256)]),
        );
      socket.end(Buffer.concat(parts));
      await once(socket, 'close');
    }
    const proxy = await client();
    expect(text((await proxy.exchange(cmd('PING'), 1))[0])).toBe('+PONG\r\n');
  });
});

describe('redis listener: a client that does not read its replies', () => {
  it('is closed beyond maxReplyBufferBytes, with an error after its replies', async () => {
    const shard = new FakeShard();
    await shard.start();
    const small = await startSharded(`
listeners:
  - { name: tiny, listen: 127.0.0.1:0, protocol: redis, cluster: one, limits: { maxReplyBufferBytes: 1mb } }
clusters:
  - name: one
    sharding: { servers: ["127.0.0.1:${shard.port}:1"] }
`);
    try {
      const setter = await RawClient.open(small.ports[0]!, new RespReplyParser());
      await setter.exchange(cmd('SET', 'big', 'x'.repeat(256 * 1024)), 1);
      setter.close();
      // A raw socket that keeps only the tail of what it reads.
      const socket = connect(small.ports[0]!, '127.0.0.1');
      await once(socket, 'connect');
      let tail = Buffer.alloc(0);
      socket.pause();
      socket.on('data', (chunk: Buffer) => {
        tail = Buffer.concat([tail, chunk]).subarray(-512);
      });
      socket.on('error', () => {});
      const closed = once(socket, 'close');
      // 100 x 256 KiB of replies: far more than loopback socket buffers and the 1 MiB limit.
      socket.write(Buffer.concat(Array.from({ length: 100 }, () => cmd('GET', 'big'))));
      await new Promise((resolve) => setTimeout(resolve, 300));
      socket.resume();
      await closed;
      expect(tail.toString()).toMatch(/-ERR client reply buffer over 1048576 bytes/);
      expect(await small.metrics()).toMatch(
        /sharded_client_errors_total\{listener="tiny",reason="reply_buffer_overflow"\} 1/,
      );
    } finally {
      await small.stop();
      await shard.stop();
    }
  });
});
