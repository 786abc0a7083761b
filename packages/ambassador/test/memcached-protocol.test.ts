import { describe, expect, it } from 'vitest';
import {
  isRetrievalCommand,
  type MemcachedLimits,
  type MemcachedReply,
  MemcachedReplyParser,
  type MemcachedRequest,
  MemcachedRequestParser,
  ProtocolError,
} from '../src/protocol/memcached.js';
import { randomMemcachedReply, randomMemcachedRequest, SeededRandom } from './protocol-generators.js';

function parseRequests(
  chunks: readonly (string | Buffer)[],
  limits?: Partial<MemcachedLimits>,
): MemcachedRequest[] {
  const parser = new MemcachedRequestParser(limits);
  const frames: MemcachedRequest[] = [];
  for (const chunk of chunks) frames.push(...parser.feed(Buffer.from(chunk)));
  return frames;
}

function parseReplies(
  chunks: readonly (string | Buffer)[],
  limits?: Partial<MemcachedLimits>,
): MemcachedReply[] {
  const parser = new MemcachedReplyParser(limits);
  const frames: MemcachedReply[] = [];
  for (const chunk of chunks) frames.push(...parser.feed(Buffer.from(chunk)));
  return frames;
}

function protocolErrorOf(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('expected a ProtocolError');
}

const keysOf = (request: MemcachedRequest) => request.keys.map((key) => key.toString());

describe('MemcachedRequestParser', () => {
  it('parses every command with its keys, numbers, data block and noreply', () => {
    const wire =
      'get a bb ccc\r\ngets k\r\nset k 5 100 3\r\nabc\r\nadd k 0 0 0 noreply\r\n\r\ncas k 1 2 2 99\r\nhi\r\n' +
      'delete k\r\ndelete k 0 noreply\r\nincr n 18446744073709551615\r\ndecr n 1 noreply\r\ntouch k -1\r\n' +
      'gat 10 a b\r\nappend k 0 0 1\r\nx\r\nprepend k 0 0 1\r\ny\r\nreplace k 4294967295 0 1\r\nz\r\nversion\r\nquit\n';
    const frames = parseRequests([wire]);
    expect(frames.map((frame) => frame.command)).toEqual([
      'get',
      'gets',
      'set',
      'add',
      'cas',
      'delete',
      'delete',
      'incr',
      'decr',
      'touch',
      'gat',
      'append',
      'prepend',
      'replace',
      'version',
      'quit',
    ]);
    expect(Buffer.concat(frames.map((frame) => frame.raw)).toString()).toBe(wire);
    expect(keysOf(frames[0]!)).toEqual(['a', 'bb', 'ccc']);
    expect(frames[2]).toMatchObject({ flags: 5, exptime: 100, noreply: false });
    expect(frames[2]!.data?.toString()).toBe('abc');
    expect(frames[3]).toMatchObject({ noreply: true });
    expect(frames[3]!.data?.length).toBe(0);
    expect(frames[4]).toMatchObject({ casUnique: 99n });
    expect(frames[6]).toMatchObject({ noreply: true });
    expect(frames[7]).toMatchObject({ delta: 18446744073709551615n });
    expect(frames[9]).toMatchObject({ exptime: -1 });
    expect(frames[10]).toMatchObject({ exptime: 10 });
    expect(keysOf(frames[10]!)).toEqual(['a', 'b']);
    expect(frames[13]).toMatchObject({ flags: 4294967295 });
    expect(keysOf(frames[14]!)).toEqual([]);
    expect(isRetrievalCommand('gets')).toBe(true);
    expect(isRetrievalCommand('set')).toBe(false);
  });

  it('yields the same frames whatever the split offset, and byte by byte', () => {
    const random = new SeededRandom(5);
    const wire = Buffer.concat(Array.from({ length: 40 }, () => randomMemcachedRequest(random)));
    const whole = parseRequests([wire]).map((frame) => frame.raw.toString('hex'));
    expect(whole.length).toBe(40);
    for (let offset = 0; offset <= wire.length; offset += 3) {
      expect(
        parseRequests([wire.subarray(0, offset), wire.subarray(offset)]).map((f) => f.raw.toString('hex')),
      ).toEqual(whole);
    }
    expect(
      parseRequests(Array.from(wire, (byte) => Buffer.from([byte]))).map((f) => f.raw.toString('hex')),
    ).toEqual(whole);
  });

  it('splits at every byte offset of a storage command', () => {
    const wire = Buffer.from('set key 1 2 5 noreply\r\nhello\r\nget key\r\n');
    for (let offset = 0; offset <= wire.length; offset++) {
      const frames = parseRequests([wire.subarray(0, offset), wire.subarray(offset)]);
      expect(frames.map((frame) => frame.raw.toString())).toEqual([
        'set key 1 2 5 noreply\r\nhello\r\n',
        'get key\r\n',
      ]);
    }
  });

  it.each([
    ['bogus k\r\n', 'unknown_command'],
    ['get\r\n', 'bad_arguments'],
    [`get ${'k'.repeat(251)}\r\n`, 'bad_key'],
    ['get a\u0001b\r\n', 'bad_key'],
    ['set k 0 0\r\n', 'bad_arguments'],
    ['set k x 0 1\r\nx\r\n', 'bad_number'],
    ['set k 4294967296 0 1\r\nx\r\n', 'bad_number'],
    ['set k 0 0 -1\r\n', 'bad_length'],
    ['set k 0 0 1 maybe\r\nx\r\n', 'bad_arguments'],
    ['set k 0 0 1\r\nxy\r\n', 'bad_terminator'],
    ['cas k 0 0 1\r\nx\r\n', 'bad_arguments'],
    ['incr k -1\r\n', 'bad_number'],
    ['incr k 18446744073709551616\r\n', 'bad_number'],
    ['touch k\r\n', 'bad_arguments'],
    ['delete k 5\r\n', 'bad_arguments'],
  ])('refuses malformed input #%# with ProtocolError (%j, %s)', (wire, code) => {
    expect(protocolErrorOf(() => parseRequests([wire])).code).toBe(code);
  });

  it('enforces the value, line and key-count limits before buffering', () => {
    const limits = { maxValueLength: 10, maxLineLength: 32, maxKeysPerCommand: 2 };
    expect(protocolErrorOf(() => parseRequests(['set k 0 0 11\r\n'], limits)).code).toBe('value_too_long');
    expect(protocolErrorOf(() => parseRequests([`get ${'a'.repeat(40)}`], limits)).code).toBe(
      'line_too_long',
    );
    expect(protocolErrorOf(() => parseRequests(['get a b c\r\n'], limits)).code).toBe('too_many_elements');
    expect(parseRequests(['set k 0 0 10\r\n0123456789\r\n'], limits)[0]!.data?.toString()).toBe('0123456789');
    expect(new MemcachedRequestParser().limits).toMatchObject({
      maxKeyLength: 250,
      maxValueLength: 1024 * 1024,
    });
  });
});

describe('MemcachedReplyParser', () => {
  it('parses values, END, statuses, numbers, errors, VERSION and STAT', () => {
    const wire =
      'VALUE a 5 3\r\nabc\r\nVALUE bb 0 0 77\r\n\r\nEND\r\nSTORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\n' +
      'DELETED\r\nTOUCHED\r\nOK\r\n42\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory\r\n' +
      'VERSION 1.6.18\r\nSTAT pid 1\r\nEND\r\n';
    const replies = parseReplies([wire]);
    expect(Buffer.concat(replies.map((reply) => reply.raw)).toString()).toBe(wire);
    expect(replies.map((reply) => reply.kind)).toEqual([
      'value',
      'value',
      'end',
      ...Array<string>(7).fill('status'),
      'number',
      'error',
      'error',
      'error',
      'version',
      'stat',
      'end',
    ]);
    expect(replies[0]).toMatchObject({ flags: 5, casUnique: undefined });
    const first = replies[0]!;
    expect(first.kind === 'value' && [first.key.toString(), first.data.toString()]).toEqual(['a', 'abc']);
    expect(replies[1]).toMatchObject({ casUnique: 77n });
    expect(replies[10]).toMatchObject({ value: 42n });
    expect(replies[12]).toMatchObject({ error: 'CLIENT_ERROR', message: 'bad data chunk' });
    expect(replies[14]).toMatchObject({ version: '1.6.18' });
    expect(replies[15]).toMatchObject({ name: 'pid', value: '1' });
  });

  it('yields the same replies whatever the split offset', () => {
    const random = new SeededRandom(9);
    const wire = Buffer.concat(Array.from({ length: 40 }, () => randomMemcachedReply(random)));
    const whole = parseReplies([wire]).map((frame) => frame.raw.toString('hex'));
    expect(whole.length).toBe(40);
    for (let offset = 0; offset <= wire.length; offset++) {
      expect(
        parseReplies([wire.subarray(0, offset), wire.subarray(offset)]).map((f) => f.raw.toString('hex')),
      ).toEqual(whole);
    }
  });

  it.each([
    ['WHAT\r\n', 'bad_type'],
    ['VALUE k 0\r\n', 'bad_arguments'],
    ['VALUE k 0 x\r\n', 'bad_length'],
    ['VALUE k 0 2\r\nabc\r\n', 'bad_terminator'],
    ['STORED now\r\n', 'bad_type'],
    ['VALUE k 0 2000000\r\n', 'value_too_long'],
  ])('refuses malformed input #%# with ProtocolError (%j, %s)', (wire, code) => {
    expect(protocolErrorOf(() => parseReplies([wire])).code).toBe(code);
  });
});
