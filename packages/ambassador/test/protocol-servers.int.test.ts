/**
 * The wire parsers against real servers on 127.0.0.1: every request we send is first parsed by our request parser,
 * every byte the server answers is framed by our reply parser (RESP2 and RESP3 from redis-server, ASCII from
 * memcached), and the frames' raw bytes must add up to exactly what the server sent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/elasticsearch.js';
import {
  type MemcachedReply,
  MemcachedReplyParser,
  MemcachedRequestParser,
} from '../src/protocol/memcached.js';
import {
  encodeRespCommand,
  type RespReply,
  RespReplyParser,
  RespRequestParser,
} from '../src/protocol/resp.js';

const HOST = '127.0.0.1';
const children: ChildProcess[] = [];

afterAll(async () => {
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000).then(() => child.kill('SIGKILL'))]);
    }),
  );
});

async function startServer(program: string, args: (port: number) => string[]): Promise<number> {
  const port = await freePort();
  const child = spawn(program, args(port), { stdio: 'ignore' });
  children.push(child);
  let failure: Error | undefined;
  child.once('error', (error) => {
    failure = error;
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    if (failure) throw new Error(`${program} could not be started: ${failure.message}`);
    const listening = await new Promise<boolean>((resolve) => {
      const socket = connect(port, HOST, () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (listening) return port;
    await sleep(50);
  }
  throw new Error(`${program} did not listen on ${port}`);
}

/** Sends `request`, collects replies with `parse` until `expected` frames arrived; returns them and the raw bytes. */
async function exchange<Frame extends { raw: Buffer }>(
  socket: Socket,
  request: Buffer,
  feed: (chunk: Buffer) => Iterable<Frame>,
  expected: number,
): Promise<{ frames: Frame[]; received: Buffer }> {
  const frames: Frame[] = [];
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      try {
        for (const frame of feed(chunk)) frames.push(frame);
      } catch (error) {
        reject(error);
      }
      if (frames.length >= expected) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
  // Written in small pieces, so the server sees split commands too.
  for (let offset = 0; offset < request.length; offset += 7)
    socket.write(request.subarray(offset, offset + 7));
  await done;
  return { frames, received: Buffer.concat(chunks) };
}

describe('RESP parsers against redis-server', () => {
  it('frames RESP2 and RESP3 replies (maps, sets, doubles, nulls, verbatim strings, pushes) byte for byte', async () => {
    const port = await startServer('redis-server', (p) => [
      '--port',
      String(p),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    const socket = connect(port, HOST);
    await once(socket, 'connect');
    const big = 'v'.repeat(300_000);
    const commands = [
      ['SET', 'k', 'hello'],
      ['GET', 'k'],
      ['GET', 'missing'],
      ['INCR', 'n'],
      ['RPUSH', 'list', 'a', 'b', 'c'],
      ['LRANGE', 'list', '0', '-1'],
      ['HSET', 'h', 'f1', 'v1', 'f2', 'v2'],
      ['SET', 'big', big],
      ['GET', 'big'],
      ['WRONGCOMMAND'],
      ['HELLO', '3'],
      ['HGETALL', 'h'],
      ['SADD', 's', 'x', 'y'],
      ['SMEMBERS', 's'],
      ['ZADD', 'z', '1.5', 'm'],
      ['ZSCORE', 'z', 'm'],
      ['GET', 'missing'],
      ['CLIENT', 'INFO'],
      ['SUBSCRIBE', 'channel'],
    ];
    const wire = Buffer.concat(commands.map((command) => encodeRespCommand(command)));
    const requestParser = new RespRequestParser();
    const parsed = [...requestParser.feed(wire)];
    expect(parsed.map((request) => request.args.map((arg) => arg.toString()))).toEqual(commands);
    const replyParser = new RespReplyParser();
    const { frames, received } = await exchange<RespReply>(
      socket,
      wire,
      (chunk) => replyParser.feed(chunk),
      commands.length,
    );
    socket.destroy();
    expect(Buffer.concat(frames.map((frame) => frame.raw)).equals(received)).toBe(true);
    expect(frames.map((frame) => frame.type)).toEqual([
      '+',
      '$',
      '$',
      ':',
      ':',
      '*',
      ':',
      '+',
      '$',
      '-',
      '%',
      '%',
      ':',
      '~',
      ':',
      ',',
      '_',
      '=',
      '>',
    ]);
    const bigReply = frames[8]!;
    expect(bigReply.kind === 'bulk' && bigReply.data?.length).toBe(big.length);
    const hash = frames[11]!;
    expect(hash.kind === 'aggregate' && hash.items?.map((item) => item.raw.toString())).toEqual([
      '$2\r\nf1\r\n',
      '$2\r\nv1\r\n',
      '$2\r\nf2\r\n',
      '$2\r\nv2\r\n',
    ]);
  });
});

describe('memcached parsers against memcached', () => {
  it('frames every reply type of the commands we parse, byte for byte', async () => {
    const port = await startServer('memcached', (p) => [
      '-l',
      HOST,
      '-p',
      String(p),
      '-U',
      '0',
      '-u',
      'root',
      '-m',
      '16',
    ]);
    const socket = connect(port, HOST);
    await once(socket, 'connect');
    const value = 'x'.repeat(200_000);
    const requests = [
      'set a 5 0 3\r\nabc\r\n',
      'set b 0 0 2 noreply\r\nhi\r\n',
      `set big 1 0 ${value.length}\r\n${value}\r\n`,
      'get a b missing big\r\n',
      'gets a\r\n',
      'add a 0 0 1\r\nz\r\n',
      'replace missing 0 0 1\r\nz\r\n',
      'append a 0 0 2\r\n!!\r\n',
      'prepend a 0 0 2\r\n<<\r\n',
      'cas a 0 0 1 1\r\nq\r\n',
      'cas missing 0 0 1 1\r\nq\r\n',
      'set n 0 0 2\r\n10\r\n',
      'incr n 5\r\n',
      'decr n 100\r\n',
      'incr a 1\r\n',
      'touch a 100\r\n',
      'touch missing 100\r\n',
      'gat 100 a\r\n',
      'delete a\r\n',
      'delete a\r\n',
      'version\r\n',
    ];
    const wire = Buffer.from(requests.join(''));
    const requestParser = new MemcachedRequestParser();
    expect([...requestParser.feed(wire)].map((request) => request.raw.toString())).toEqual(requests);
    // Replies: set(1) noreply(0) set(1) get(3 values + end) gets(1 + end) add replace append prepend cas cas set
    // incr decr incr(CLIENT_ERROR) touch touch gat(1 + end) delete delete version.
    const expectedKinds = [
      'status',
      'status',
      'value',
      'value',
      'value',
      'end',
      'value',
      'end',
      'status',
      'status',
      'status',
      'status',
      'status',
      'status',
      'status',
      'number',
      'number',
      'error',
      'status',
      'status',
      'value',
      'end',
      'status',
      'status',
      'version',
    ];
    const replyParser = new MemcachedReplyParser();
    const { frames, received } = await exchange<MemcachedReply>(
      socket,
      wire,
      (chunk) => replyParser.feed(chunk),
      expectedKinds.length,
    );
    socket.destroy();
    expect(Buffer.concat(frames.map((frame) => frame.raw)).equals(received)).toBe(true);
    expect(frames.map((frame) => frame.kind)).toEqual(expectedKinds);
    const statuses = frames.flatMap((frame) => (frame.kind === 'status' ? [frame.status] : []));
    expect(statuses).toEqual([
      'STORED',
      'STORED',
      'NOT_STORED',
      'NOT_STORED',
      'STORED',
      'STORED',
      'EXISTS',
      'NOT_FOUND',
      'STORED',
      'TOUCHED',
      'NOT_FOUND',
      'DELETED',
      'NOT_FOUND',
    ]);
    const values = frames.flatMap((frame) =>
      frame.kind === 'value' ? [[frame.key.toString(), frame.data.length]] : [],
    );
    expect(values).toEqual([
      ['a', 3],
      ['b', 2],
      ['big', value.length],
      ['a', 3],
      ['a', 7],
    ]);
    expect(frames.flatMap((frame) => (frame.kind === 'number' ? [frame.value] : []))).toEqual([15n, 0n]);
  });
});
