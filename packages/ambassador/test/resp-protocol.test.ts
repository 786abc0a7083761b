import { describe, expect, it } from 'vitest';
import {
  encodeRespCommand,
  isErrorReply,
  ProtocolError,
  type RespLimits,
  type RespReply,
  RespReplyParser,
  type RespRequest,
  RespRequestParser,
  splitInlineArguments,
} from '../src/protocol/resp.js';
import { randomRespReply, randomRespRequest, SeededRandom } from './protocol-generators.js';

function parseRequests(chunks: readonly (string | Buffer)[], limits?: Partial<RespLimits>): RespRequest[] {
  const parser = new RespRequestParser(limits);
  const frames: RespRequest[] = [];
  for (const chunk of chunks) frames.push(...parser.feed(Buffer.from(chunk)));
  return frames;
}

function parseReplies(chunks: readonly (string | Buffer)[], limits?: Partial<RespLimits>): RespReply[] {
  const parser = new RespReplyParser(limits);
  const frames: RespReply[] = [];
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

const args = (request: RespRequest) => request.args.map((arg) => arg.toString('latin1'));

/** A compact rendering of a reply tree, to compare parses. */
function render(reply: RespReply): string {
  if (reply.kind === 'line') return `${reply.type}${reply.text.toString('latin1')}`;
  if (reply.kind === 'bulk')
    return `${reply.type}${reply.data === null ? 'null' : reply.data.toString('hex')}`;
  return `${reply.type}[${reply.items === null ? 'null' : reply.items.map(render).join(',')}]`;
}

describe('RespRequestParser', () => {
  it('parses arrays of bulk strings, keeping the raw bytes and argument views', () => {
    const wire = '*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n';
    const frames = parseRequests([wire]);
    expect(frames.map(args)).toEqual([['SET', 'key:1', ''], ['PING']]);
    expect(Buffer.concat(frames.map((frame) => frame.raw)).toString()).toBe(wire);
    expect(frames[0]!.inline).toBe(false);
  });

  it('parses inline commands with quotes and escapes like sdssplitargs, skipping empty lines and *0', () => {
    const frames = parseRequests(['PING\r\n\r\n*0\r\nset "a b" \'c\\\'d\' "\\x41\\n"\nGET  k  \r\n']);
    expect(frames.map(args)).toEqual([['PING'], ['set', 'a b', "c'd", 'A\n'], ['GET', 'k']]);
    expect(frames[1]!.inline).toBe(true);
    expect(splitInlineArguments(Buffer.from('  '))).toEqual([]);
    expect(protocolErrorOf(() => splitInlineArguments(Buffer.from('get "abc'))).code).toBe(
      'unbalanced_quotes',
    );
    expect(protocolErrorOf(() => splitInlineArguments(Buffer.from('get "a"b'))).code).toBe(
      'unbalanced_quotes',
    );
  });

  it('yields the same frames whatever the split offset, and byte by byte', () => {
    const random = new SeededRandom(7);
    const wire = Buffer.concat(Array.from({ length: 40 }, () => randomRespRequest(random)));
    const whole = parseRequests([wire]).map((frame) => frame.raw.toString('hex'));
    expect(whole.length).toBe(40);
    for (let offset = 0; offset <= wire.length; offset++) {
      const split = parseRequests([wire.subarray(0, offset), wire.subarray(offset)]);
      expect(split.map((frame) => frame.raw.toString('hex'))).toEqual(whole);
    }
    const bytes = Array.from(wire, (byte) => Buffer.from([byte]));
    expect(parseRequests(bytes).map((frame) => frame.raw.toString('hex'))).toEqual(whole);
  });

  it.each([
    ['*1\r\n:5\r\n', 'bad_type'],
    ['*x\r\n', 'bad_length'],
    ['*01\r\n', 'bad_length'],
    ['*1\r\n$-1\r\n', 'bad_length'],
    ['*1\r\n$3\r\nabcd\r\n', 'bad_terminator'],
    ['*1\n', 'bad_terminator'],
    ['*1\r\n$3\r\nGET\n\n', 'bad_terminator'],
    [`*1\r\n$${'9'.repeat(30)}\r\n`, 'line_too_long'],
  ])('refuses malformed input #%# with ProtocolError (%j, %s)', (wire, code) => {
    expect(protocolErrorOf(() => parseRequests([wire])).code).toBe(code);
  });

  it('enforces the limits from the declared lengths, before the bytes arrive', () => {
    const limits = { maxBulkLength: 10, maxArrayElements: 3, maxInlineLength: 16, maxFrameBytes: 30 };
    expect(protocolErrorOf(() => parseRequests(['*1\r\n$11\r\n'], limits)).code).toBe('bulk_too_long');
    expect(protocolErrorOf(() => parseRequests(['*4\r\n'], limits)).code).toBe('too_many_elements');
    expect(protocolErrorOf(() => parseRequests(['GET 0123456789abcdef'], limits)).code).toBe('line_too_long');
    expect(protocolErrorOf(() => parseRequests(['*3\r\n$10\r\n0123456789\r\n$10\r\n'], limits)).code).toBe(
      'frame_too_long',
    );
    expect(parseRequests(['*1\r\n$10\r\n0123456789\r\n'], limits).map(args)).toEqual([['0123456789']]);
    expect(new RespRequestParser().limits.maxBulkLength).toBe(512 * 1024 * 1024);
  });

  it('stays failed after an error and reports a truncated stream at end()', () => {
    const parser = new RespRequestParser();
    parser.push(Buffer.from('*1\r\n:1\r\n'));
    expect(() => parser.next()).toThrow(ProtocolError);
    parser.push(Buffer.from('*1\r\n$4\r\nPING\r\n'));
    expect(() => parser.next()).toThrow(ProtocolError);
    const truncated = new RespRequestParser();
    truncated.push(Buffer.from('*1\r\n$4\r\nPI'));
    expect(truncated.next()).toBeUndefined();
    expect(protocolErrorOf(() => truncated.end()).code).toBe('truncated');
  });

  it('holds only the incomplete frame: pending bytes drop to 0 after each frame', () => {
    const parser = new RespRequestParser();
    const big = encodeRespCommand(['SET', 'k', Buffer.alloc(100_000, 0x61)]);
    for (let offset = 0; offset < big.length; offset += 1000) {
      parser.push(big.subarray(offset, offset + 1000));
      const frame = parser.next();
      if (offset + 1000 < big.length) {
        expect(frame).toBeUndefined();
        expect(parser.bufferedCapacity).toBeLessThan(2 * (offset + 1000) + 4096);
      } else {
        expect(frame?.raw.equals(big)).toBe(true);
      }
    }
    expect(parser.pendingBytes).toBe(0);
  });
});

describe('RespReplyParser', () => {
  it('frames every RESP2 and RESP3 type, nested', () => {
    const wire =
      '+OK\r\n-ERR bad\r\n:-42\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n' +
      '_\r\n,3.14\r\n#t\r\n!3\r\nerr\r\n=7\r\ntxt:abc\r\n(123456789012345678901234567890\r\n' +
      '%1\r\n+k\r\n:1\r\n~2\r\n+a\r\n+b\r\n>2\r\n+message\r\n$1\r\nx\r\n|1\r\n+ttl\r\n:3\r\n$2\r\nhi\r\n*0\r\n';
    const replies = parseReplies([wire]);
    expect(replies.map(render)).toEqual([
      '+OK',
      '-ERR bad',
      ':-42',
      '$666f6f',
      '$null',
      '*[null]',
      '*[$61,*[:1]]',
      '_',
      ',3.14',
      '#t',
      '!657272',
      '=7478743a616263',
      '(123456789012345678901234567890',
      '%[+k,:1]',
      '~[+a,+b]',
      '>[+message,$78]',
      '|[+ttl,:3,$6869]',
      '*[]',
    ]);
    expect(Buffer.concat(replies.map((reply) => reply.raw)).toString()).toBe(wire);
    expect(replies.filter(isErrorReply).map(render)).toEqual(['-ERR bad', '!657272']);
    const nested = replies[6]!;
    expect(nested.kind === 'aggregate' && nested.items?.[1]?.raw.toString()).toBe('*1\r\n:1\r\n');
  });

  it('yields the same replies whatever the split offset, and byte by byte', () => {
    const random = new SeededRandom(11);
    const wire = Buffer.concat(Array.from({ length: 30 }, () => randomRespReply(random)));
    const whole = parseReplies([wire]).map(render);
    expect(whole.length).toBe(30);
    for (let offset = 0; offset <= wire.length; offset++) {
      expect(parseReplies([wire.subarray(0, offset), wire.subarray(offset)]).map(render)).toEqual(whole);
    }
    expect(parseReplies(Array.from(wire, (byte) => Buffer.from([byte]))).map(render)).toEqual(whole);
  });

  it.each([
    ['?x\r\n', 'bad_type'],
    [':1x\r\n', 'bad_number'],
    [':\r\n', 'bad_number'],
    ['#x\r\n', 'bad_number'],
    ['_x\r\n', 'bad_number'],
    ['%-1\r\n', 'bad_length'],
    ['!-1\r\n', 'bad_length'],
    ['$3\r\nabcd\r\n', 'bad_terminator'],
    ['+OK\n', 'bad_terminator'],
    ['$?\r\n', 'unsupported'],
    ['*?\r\n', 'unsupported'],
    ['.\r\n', 'unsupported'],
  ])('refuses malformed input #%# with ProtocolError (%j, %s)', (wire, code) => {
    expect(protocolErrorOf(() => parseReplies([wire])).code).toBe(code);
  });

  it('enforces bulk, element, line, depth and frame limits', () => {
    const limits = {
      maxBulkLength: 8,
      maxArrayElements: 2,
      maxInlineLength: 8,
      maxNestingDepth: 2,
      maxFrameBytes: 50,
    };
    expect(protocolErrorOf(() => parseReplies(['$9\r\n'], limits)).code).toBe('bulk_too_long');
    expect(protocolErrorOf(() => parseReplies(['*3\r\n'], limits)).code).toBe('too_many_elements');
    expect(protocolErrorOf(() => parseReplies(['%3\r\n'], limits)).code).toBe('too_many_elements');
    expect(protocolErrorOf(() => parseReplies(['+123456789ab'], limits)).code).toBe('line_too_long');
    expect(protocolErrorOf(() => parseReplies(['*1\r\n*1\r\n*1\r\n'], limits)).code).toBe('too_deep');
    expect(
      protocolErrorOf(() =>
        parseReplies(['*2\r\n*2\r\n$8\r\n12345678\r\n$8\r\n12345678\r\n*2\r\n$8\r\n'], limits),
      ).code,
    ).toBe('frame_too_long');
    expect(parseReplies(['*1\r\n*1\r\n$8\r\n12345678\r\n'], limits).map(render)).toEqual([
      '*[*[$3132333435363738]]',
    ]);
  });
});
