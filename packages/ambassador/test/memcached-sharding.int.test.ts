/**
 * The memcached listener against 3 real memcached shards (and nutcracker for the routing comparison), 127.0.0.1
 * only. No timing assertions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MemcachedReply, MemcachedReplyParser } from '../src/protocol/memcached.js';
import { KeyDistributor } from '../src/sharding/distribution.js';
import {
  HOST,
  memcachedServer,
  RawClients,
  type ServerProcess,
  type ShardedAmbassador,
  startNutcracker,
  startSharded,
} from './sharded-support.js';

const shards: ServerProcess[] = [];
let ambassador: ShardedAmbassador;
let specs: string[] = [];
let distributor: KeyDistributor;
let nutcracker: ServerProcess | undefined;
const clients = new RawClients(() => new MemcachedReplyParser());

const raw = (frame: MemcachedReply | undefined) => frame?.raw.toString('latin1') ?? '<none>';

const client = (port = ambassador.ports[0]!) => clients.open(port);

beforeAll(async () => {
  for (let index = 0; index < 3; index++) shards.push(await memcachedServer());
  specs = shards.map((shard, index) => `${HOST}:${shard.port}:${index + 1} mc-${index}`);
  distributor = new KeyDistributor({ servers: specs, distribution: 'ketama', hash: 'md5' });
  ambassador = await startSharded(`
listeners:
  - { name: memcached, listen: 127.0.0.1:0, protocol: memcached, cluster: cache, limits: { maxValueBytes: 4096 } }
clusters:
  - name: cache
    sharding:
      distribution: ketama
      hash: md5
      timeoutMs: 2000
      autoEjectHosts: true
      serverFailureLimit: 1
      serverRetryTimeoutMs: 600000
      servers: [${specs.map((spec) => `"${spec}"`).join(', ')}]
`);
  nutcracker = await startNutcracker(specs, ['hash: md5', 'distribution: ketama', 'auto_eject_hosts: false']);
});

afterAll(async () => {
  clients.closeAll();
  await ambassador?.stop();
  await Promise.all([...shards, nutcracker].map((server) => server?.stop()));
});

describe('memcached listener', () => {
  it('stores each key on the shard KeyDistributor names, where nutcracker finds it too', async () => {
    const proxy = await client();
    const keys = Array.from({ length: 300 }, (_, index) => `route:${index}:${(index * 7919).toString(36)}`);
    const stored = await proxy.exchange(
      keys.map((key) => `set ${key} 5 0 ${key.length}\r\n${key}\r\n`).join(''),
      keys.length,
    );
    expect(stored.map(raw).filter((reply) => reply !== 'STORED\r\n')).toEqual([]);
    expect(new Set(keys.map((key) => distributor.serverIndexFor(key))).size).toBe(3);
    const wrong: string[] = [];
    for (let index = 0; index < 3; index++) {
      const shard = await client(shards[index]!.port);
      for (const key of keys) {
        const frames = await shard.exchange(
          `get ${key}\r\n`,
          distributor.serverIndexFor(key) === index ? 2 : 1,
        );
        const has = frames.length === 2;
        if (
          has !== (distributor.serverIndexFor(key) === index) ||
          (has && raw(frames[0]) !== `VALUE ${key} 5 ${key.length}\r\n${key}\r\n`)
        )
          wrong.push(`${key} on ${index}`);
      }
    }
    expect(wrong).toEqual([]);
    const twemproxy = await client(nutcracker!.port);
    const viaNutcracker = await twemproxy.exchange(
      keys.map((key) => `get ${key}\r\n`).join(''),
      keys.length * 2,
    );
    expect(viaNutcracker.filter((frame) => frame.kind === 'value').length).toBe(keys.length);
  });

  it('splits a multi-get over the shards and merges the values in key order, one END', async () => {
    const proxy = await client();
    const keys = Array.from({ length: 30 }, (_, index) => `multi:${index}`);
    expect(new Set(keys.map((key) => distributor.serverIndexFor(key))).size).toBe(3);
    await proxy.exchange(
      keys.map((key, index) => `set ${key} ${index} 0 1\r\n${index % 10}\r\n`).join(''),
      keys.length,
    );
    const asked = [...keys.slice(0, 15), 'multi:absent', ...keys.slice(15), keys[3]!];
    const present = asked.filter((key) => key !== 'multi:absent');
    const frames = await proxy.exchange(`get ${asked.join(' ')}\r\n`, present.length + 1);
    expect(frames.map((frame) => (frame.kind === 'value' ? frame.key.toString() : frame.kind))).toEqual([
      ...present,
      'end',
    ]);
    const gets = await proxy.exchange(`gets ${keys[0]} ${keys[29]}\r\n`, 3);
    expect(
      gets.map((frame) => (frame.kind === 'value' ? frame.casUnique !== undefined : frame.kind)),
    ).toEqual([true, true, 'end']);
    const [miss] = await proxy.exchange('get nothing:here\r\n', 1);
    expect(raw(miss)).toBe('END\r\n');
    // gat (get and touch) splits the same way, with its exptime on every part.
    const gat = await proxy.exchange(`gat 300 ${keys.slice(0, 9).join(' ')}\r\n`, 10);
    expect(gat.map((frame) => (frame.kind === 'value' ? frame.key.toString() : frame.kind))).toEqual([
      ...keys.slice(0, 9),
      'end',
    ]);
    const counters = await proxy.exchange(
      `set n:1 0 0 1\r\n5\r\nincr n:1 10\r\ndecr n:1 3\r\ntouch n:1 100\r\ndelete n:1\r\ndelete n:1\r\n`,
      6,
    );
    expect(counters.map(raw)).toEqual([
      'STORED\r\n',
      '15\r\n',
      '12\r\n',
      'TOUCHED\r\n',
      'DELETED\r\n',
      'NOT_FOUND\r\n',
    ]);
  });

  it('pipelines 1,000 commands across the shards in order, noreply included', async () => {
    const proxy = await client();
    const lines: string[] = [];
    const expected: string[] = [];
    for (let index = 0; index < 1000; index++) {
      const key = `pipe:${Math.floor(index / 4) % 40}`;
      const value = String(index);
      switch (index % 4) {
        case 0:
          lines.push(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`);
          expected.push('STORED\r\n');
          break;
        case 1:
          lines.push(`get ${key}\r\n`);
          expected.push(`VALUE ${key} 0 ${String(index - 1).length}\r\n${index - 1}\r\n`, 'END\r\n');
          break;
        case 2:
          lines.push(`append ${key} 0 0 1 noreply\r\nx\r\n`);
          break;
        default:
          lines.push(`delete ${key}\r\n`);
          expected.push('DELETED\r\n');
      }
    }
    const frames = await proxy.exchange(lines.join(''), expected.length);
    expect(frames.map(raw)).toEqual(expected);
  });

  it('answers version, refuses stats/flush_all/verbosity by name, and closes on quit', async () => {
    const proxy = await client();
    const frames = await proxy.exchange('version\r\nstats\r\nflush_all\r\nverbosity 1\r\n', 4);
    expect(raw(frames[0])).toMatch(/^VERSION /);
    expect(raw(frames[1])).toMatch(/^CLIENT_ERROR command 'stats' is not supported/);
    expect(raw(frames[2])).toMatch(/^CLIENT_ERROR command 'flush_all'/);
    expect(raw(frames[3])).toMatch(/^CLIENT_ERROR command 'verbosity'/);
    proxy.socket.write('quit\r\n');
    await proxy.closed;
  });

  it('answers malformed input with CLIENT_ERROR and closes; a value over the limit too', async () => {
    const proxy = await client();
    const frames = await proxy.exchange('version\r\nbogus command\r\n', 2);
    expect(raw(frames[1])).toMatch(/^CLIENT_ERROR Protocol error: unknown command "bogus"/);
    await proxy.closed;
    const big = await client();
    const [tooBig] = await big.exchange('set big 0 0 5000\r\n', 1);
    expect(raw(tooBig)).toMatch(/^CLIENT_ERROR Protocol error: value of 5000 bytes, more than 4096/);
    await big.closed;
    const bad = await client();
    const [badBlock] = await bad.exchange('set k 0 0 2\r\nabcd\r\n', 1);
    expect(raw(badBlock)).toMatch(/^CLIENT_ERROR Protocol error: data block not terminated/);
    await bad.closed;
  });

  it('answers SERVER_ERROR, in order, for a dead shard, then ejects it and moves its keys', async () => {
    const proxy = await client();
    const keys = Array.from({ length: 60 }, (_, index) => `dead:${index}`);
    await shards[0]!.stop();
    const first = await proxy.exchange(keys.map((key) => `set ${key} 0 0 1\r\nx\r\n`).join(''), keys.length);
    first.forEach((frame, index) => {
      const onDead = distributor.serverIndexFor(keys[index]!) === 0;
      // Keys of the dead shard fail with SERVER_ERROR; the others are stored, in order.
      if (!onDead) expect(raw(frame)).toBe('STORED\r\n');
      else expect(raw(frame)).toMatch(/^(SERVER_ERROR shard mc-0|STORED)/);
    });
    expect(first.some((frame) => raw(frame).startsWith('SERVER_ERROR shard mc-0'))).toBe(true);
    const again = await proxy.exchange(keys.map((key) => `set ${key} 0 0 1\r\ny\r\n`).join(''), keys.length);
    expect(again.map(raw).filter((reply) => reply !== 'STORED\r\n')).toEqual([]);
    const view = (await ambassador.clusters()).clusters[0]?.shards ?? [];
    expect(view.map((shard) => shard.live)).toEqual([false, true, true]);
  });
});
