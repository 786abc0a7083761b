/**
 * Seeded fuzzing of the four wire parsers: 1,000,000 inputs in all (random bytes biased towards protocol
 * characters, and mutated valid streams), each split into random chunks. A parser may only yield frames or throw
 * ProtocolError, and may only hold about one frame's worth of bytes under its (small, here) limits.
 */
import { describe, expect, it } from 'vitest';
import { MemcachedReplyParser, MemcachedRequestParser } from '../src/protocol/memcached.js';
import { ProtocolError, type RespReply, RespReplyParser, RespRequestParser } from '../src/protocol/resp.js';
import {
  mutate,
  randomChunks,
  randomMemcachedReply,
  randomMemcachedRequest,
  randomRespReply,
  randomRespRequest,
  SeededRandom,
} from './protocol-generators.js';

interface FrameParser {
  push(chunk: Uint8Array): void;
  next(): { readonly raw: Buffer } | undefined;
  readonly pendingBytes: number;
  readonly bufferedCapacity: number;
}

interface FuzzTarget {
  readonly name: string;
  readonly create: () => FrameParser;
  readonly validFrame: (random: SeededRandom) => Buffer;
  /** Most bytes a parser may hold for one incomplete frame under the limits used. */
  readonly maxPendingBytes: number;
  readonly alphabet: string;
}

const RESP_LIMITS = {
  maxBulkLength: 64,
  maxArrayElements: 8,
  maxInlineLength: 64,
  maxFrameBytes: 8192,
  maxNestingDepth: 4,
};
const MEMCACHED_LIMITS = { maxValueLength: 64, maxLineLength: 1100, maxKeysPerCommand: 8 };
const RESP_ALPHABET = '*$+-:_,#!=(%~>|.?\r\n\r\n0123456789-  abcPING';
const MEMCACHED_ALPHABET = 'getsadcpromlinuxvVALUEND STORED\r\n\r\n0123456789 -noreply';

const TARGETS: readonly FuzzTarget[] = [
  {
    name: 'RespRequestParser',
    create: () => new RespRequestParser(RESP_LIMITS),
    validFrame: randomRespRequest,
    maxPendingBytes: RESP_LIMITS.maxFrameBytes + RESP_LIMITS.maxInlineLength + 8,
    alphabet: RESP_ALPHABET,
  },
  {
    name: 'RespReplyParser',
    create: () => new RespReplyParser(RESP_LIMITS),
    validFrame: randomRespReply,
    maxPendingBytes: RESP_LIMITS.maxFrameBytes + RESP_LIMITS.maxInlineLength + 8,
    alphabet: RESP_ALPHABET,
  },
  {
    name: 'MemcachedRequestParser',
    create: () => new MemcachedRequestParser(MEMCACHED_LIMITS),
    validFrame: randomMemcachedRequest,
    maxPendingBytes: MEMCACHED_LIMITS.maxLineLength + MEMCACHED_LIMITS.maxValueLength + 8,
    alphabet: MEMCACHED_ALPHABET,
  },
  {
    name: 'MemcachedReplyParser',
    create: () => new MemcachedReplyParser(MEMCACHED_LIMITS),
    validFrame: randomMemcachedReply,
    maxPendingBytes: MEMCACHED_LIMITS.maxLineLength + MEMCACHED_LIMITS.maxValueLength + 8,
    alphabet: MEMCACHED_ALPHABET,
  },
];

const INPUTS_PER_TARGET = 250_000;

/** Valid frames are drawn from a seeded pool, so the generators do not dominate the run time. */
function randomInput(random: SeededRandom, target: FuzzTarget, validPool: readonly Buffer[]): Buffer {
  const shape = random.below(10);
  if (shape < 4) {
    const length = random.below(48);
    const bytes = Buffer.allocUnsafe(length);
    for (let index = 0; index < length; index++) {
      bytes[index] =
        random.below(4) === 0
          ? random.below(256)
          : target.alphabet.charCodeAt(random.below(target.alphabet.length));
    }
    return bytes;
  }
  const frames = Array.from({ length: 1 + random.below(3) }, () => random.pick(validPool));
  const stream = Buffer.concat(frames);
  return shape < 9 ? mutate(random, stream) : stream;
}

interface FuzzStats {
  inputs: number;
  frames: number;
  protocolErrors: number;
  incomplete: number;
  maxPending: number;
  maxCapacity: number;
  unexpected: string[];
}

function fuzz(target: FuzzTarget, seed: number): FuzzStats {
  const random = new SeededRandom(seed);
  const stats: FuzzStats = {
    inputs: 0,
    frames: 0,
    protocolErrors: 0,
    incomplete: 0,
    maxPending: 0,
    maxCapacity: 0,
    unexpected: [],
  };
  const validPool = Array.from({ length: 8192 }, () => target.validFrame(random));
  for (let round = 0; round < INPUTS_PER_TARGET; round++) {
    const input = randomInput(random, target, validPool);
    const parser = target.create();
    stats.inputs++;
    let failed = false;
    for (const chunk of randomChunks(random, input, 4)) {
      parser.push(chunk);
      try {
        for (let frame = parser.next(); frame !== undefined; frame = parser.next()) {
          if (!Buffer.isBuffer(frame.raw) || frame.raw.length === 0)
            throw new Error('frame without raw bytes');
          stats.frames++;
        }
      } catch (error) {
        failed = true;
        if (error instanceof ProtocolError) stats.protocolErrors++;
        else if (stats.unexpected.length < 5)
          stats.unexpected.push(`${String(error)} on ${input.toString('hex')}`);
        break;
      }
      stats.maxPending = Math.max(stats.maxPending, parser.pendingBytes);
      // The accumulator may hold the pending frame with some growth slack, or the caller's chunk as is.
      stats.maxCapacity = Math.max(stats.maxCapacity, parser.bufferedCapacity - chunk.length);
    }
    if (!failed && parser.pendingBytes > 0) stats.incomplete++;
  }
  return stats;
}

describe('parser fuzzing (fixed seeds, 1,000,000 inputs in all)', () => {
  it.each(TARGETS.map((target, index) => [target.name, target, index] as const))(
    '%s: 250,000 inputs yield frames or ProtocolError only, with bounded buffers',
    (_name, target, index) => {
      const started = performance.now();
      const stats = fuzz(target, 0x5eed + index);
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `${target.name}: ${stats.inputs} inputs, ${stats.frames} frames, ${stats.protocolErrors} ProtocolErrors, ` +
          `${stats.incomplete} incomplete, max pending ${stats.maxPending} B, in ${seconds.toFixed(1)} s`,
      );
      expect(stats.unexpected).toEqual([]);
      expect(stats.inputs).toBe(INPUTS_PER_TARGET);
      expect(stats.frames).toBeGreaterThan(INPUTS_PER_TARGET / 4);
      expect(stats.protocolErrors).toBeGreaterThan(INPUTS_PER_TARGET / 10);
      expect(stats.maxPending).toBeLessThanOrEqual(target.maxPendingBytes);
      expect(stats.maxCapacity).toBeLessThanOrEqual(2 * target.maxPendingBytes + 4096);
    },
  );

  it.each(TARGETS.map((target, index) => [target.name, target, index] as const))(
    '%s: a long valid stream in random chunks comes back frame for frame, byte for byte',
    (_name, target, index) => {
      const random = new SeededRandom(0xfeed + index);
      const frames = Array.from({ length: 20_000 }, () => target.validFrame(random));
      const stream = Buffer.concat(frames);
      const parser = target.create();
      const received: Buffer[] = [];
      let offset = 0;
      while (offset < stream.length) {
        const size = 1 + random.below(random.below(8) === 0 ? 4096 : 64);
        parser.push(stream.subarray(offset, offset + size));
        offset += size;
        for (let frame = parser.next(); frame !== undefined; frame = parser.next()) received.push(frame.raw);
        expect(parser.pendingBytes).toBeLessThanOrEqual(target.maxPendingBytes);
      }
      expect(received.length).toBe(frames.length);
      expect(Buffer.concat(received).equals(stream)).toBe(true);
    },
  );
});

/** Frames (raw, in hex, with their parts) or the code of the ProtocolError that ended the parse. */
function outcome<Frame>(parse: () => Frame[], describe: (frame: Frame) => string): string[] {
  const frames: Frame[] = [];
  try {
    for (const frame of parse()) frames.push(frame);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return [...frames.map(describe), `error ${error.code}`];
  }
  return frames.map(describe);
}

function collect<Frame>(parser: { feed(chunk: Uint8Array): Iterable<Frame> }, chunks: readonly Buffer[]) {
  return () => {
    const frames: Frame[] = [];
    for (const chunk of chunks) for (const frame of parser.feed(chunk)) frames.push(frame);
    return frames;
  };
}

describe('one-pass fast paths (fixed seeds, 100,000 inputs each)', () => {
  it('RespRequestParser: a whole buffered stream parses exactly as the same bytes one at a time', () => {
    // Byte by byte, no command is ever whole when its parse starts, so every frame goes the incremental way.
    const random = new SeededRandom(0xfa57);
    const pool = Array.from({ length: 4096 }, () => randomRespRequest(random));
    const describeRequest = (request: { raw: Buffer; args: readonly Buffer[] }) =>
      `${request.raw.toString('hex')}:${request.args.map((arg) => arg.toString('hex')).join(',')}`;
    let errors = 0;
    for (let round = 0; round < 100_000; round++) {
      const stream = Buffer.concat(Array.from({ length: 1 + random.below(3) }, () => random.pick(pool)));
      const input = random.below(4) === 0 ? stream : mutate(random, stream);
      const whole = outcome(collect(new RespRequestParser(RESP_LIMITS), [input]), describeRequest);
      const bytes = Array.from(input, (byte) => Buffer.from([byte]));
      const oneByOne = outcome(collect(new RespRequestParser(RESP_LIMITS), bytes), describeRequest);
      if (whole.at(-1)?.startsWith('error')) errors++;
      expect(whole, input.toString('hex')).toEqual(oneByOne);
    }
    expect(errors).toBeGreaterThan(10_000);
  });

  it('RespReplyParser: a top-level reply parses exactly as the same bytes inside an array', () => {
    // Inside "*1", an element always goes the incremental way.
    const random = new SeededRandom(0xfa58);
    const scalars = [
      ...['+OK\r\n', '+\r\n', '+a\rb\r\n', '-ERR no\r\n', ':42\r\n', ':-7\r\n', ':+0\r\n', ':\r\n'],
      ...[`:${'9'.repeat(19)}\r\n`, `:-${'9'.repeat(20)}\r\n`, `+${'x'.repeat(70)}\r\n`],
      ...['$3\r\nabc\r\n', '$0\r\n\r\n', '$-1\r\n', '$-2\r\n', '$01\r\na\r\n', '$3\r\nabcd\r\n'],
      ...[`$${'1'.repeat(11)}\r\n`, '$65\r\n', `$64\r\n${'b'.repeat(64)}\r\n`],
    ];
    const pool = [
      ...Array.from({ length: 64 }, () => scalars.map((text) => Buffer.from(text))).flat(),
      ...Array.from({ length: 4096 }, () => randomRespReply(random)),
    ];
    const describeReply = (reply: RespReply): string => {
      const part = reply.kind === 'line' ? reply.text : reply.kind === 'bulk' ? reply.data : null;
      return `${reply.type}:${reply.raw.toString('hex')}:${part === null ? 'null' : part.toString('hex')}`;
    };
    let frames = 0;
    let errors = 0;
    for (let round = 0; round < 100_000; round++) {
      const valid = random.pick(pool);
      const input = random.below(4) === 0 ? valid : mutate(random, valid);
      const topLevel = outcome(() => {
        const parser = new RespReplyParser(RESP_LIMITS);
        parser.push(input);
        const reply = parser.next();
        return reply === undefined ? [] : [reply];
      }, describeReply);
      const nested = outcome(() => {
        // One level and 4 bytes more, so that the limits fall where they do at the top level.
        const parser = new RespReplyParser({
          ...RESP_LIMITS,
          maxNestingDepth: RESP_LIMITS.maxNestingDepth + 1,
          maxFrameBytes: RESP_LIMITS.maxFrameBytes + 4,
        });
        parser.push(Buffer.concat([Buffer.from('*1\r\n'), input]));
        const reply = parser.next();
        return reply === undefined ? [] : [(reply.kind === 'aggregate' ? reply.items : null)![0]!];
      }, describeReply);
      if (topLevel.length === 1 && !topLevel[0]!.startsWith('error')) frames++;
      if (topLevel[0]?.startsWith('error')) errors++;
      expect(topLevel, input.toString('hex')).toEqual(nested);
    }
    expect(frames).toBeGreaterThan(10_000);
    expect(errors).toBeGreaterThan(10_000);
  });
});
