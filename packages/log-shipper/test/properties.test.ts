import type { FileHandle } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../src/config.js';
import { EventEncoder, wellFormed } from '../src/encode/event-encoder.js';
import type { LogEvent } from '../src/event.js';
import { decoders, type Format } from '../src/format/index.js';
import { Joiner, type MultilineOptions } from '../src/multiline/joiner.js';
import { LineReader, ReadArea } from '../src/tail/line-reader.js';

// Fixed seed and bounded runs: the same cases on every run, fast.
const RUNS = { seed: 20261202, numRuns: 150 };

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

interface Options {
  maxLineBytes?: number;
  /** Read buffer size; at least maxLineBytes + 2. */
  bufferBytes?: number;
  /** The file grows by this many bytes between reads, so lines arrive cut anywhere. */
  step?: number;
  multiline?: MultilineOptions;
}

/** The tailer's path for one file, without the filesystem: reads as the file grows, decodes, joins. */
async function pipeline(bytes: Buffer, format: Format, options: Options = {}): Promise<LogEvent[]> {
  const maxLineBytes = options.maxLineBytes ?? 1024 * 1024;
  const bufferBytes = options.bufferBytes ?? maxLineBytes + 2;
  const step = options.step ?? bytes.length;
  const events: LogEvent[] = [];
  const joiner = new Joiner(options.multiline, (event) => events.push(event));
  const reader = new LineReader(maxLineBytes, new ReadArea(bufferBytes));
  let visible = 0;
  const handle = {
    read: async (buffer: Buffer, at: number, length: number, position: number) => {
      const bytesRead = Math.max(0, Math.min(visible, position + length) - position);
      bytes.copy(buffer, at, position, position + bytesRead);
      return { bytesRead, buffer };
    },
  } as unknown as Pick<FileHandle, 'read'>;
  let offset = 0;
  for (;;) {
    visible = Math.min(bytes.length, visible + step);
    const { count, next } = await reader.read(handle, offset);
    for (let i = 0; i < count; i++) {
      const line = reader.line(i);
      const decoded = decoders[format](line.text);
      if (line.truncated) decoded.flags = [...(decoded.flags ?? []), 'truncated'];
      joiner.add(decoded, { idBase: 'id', path: '/logs/app.log' }, line.start, line.end, 0);
    }
    const progressed = next !== offset;
    offset = next;
    if (visible === bytes.length && !progressed) break;
  }
  joiner.flush();
  return events;
}

/** Text with no line end in it, and not ending in \r (a \r before the newline is part of the line end). */
const lineText = (unit: 'grapheme' | 'binary' | 'binary-ascii', minLength = 0) =>
  fc
    .string({ unit, minLength, maxLength: 30 })
    .map((text) => text.replace(/[\n\r]+$/, '').replaceAll('\n', ' '))
    .filter((text) => text.length >= minLength);

const TIME = '2026-01-02T03:04:05.123456789Z';

describe('log formats (property-based)', () => {
  it('raw: any bytes but newlines (NUL, invalid UTF-8, \\r) come back as their UTF-8 decoding, with exact offsets, cut at maxLineBytes on a character boundary', async () => {
    const line = fc.uint8Array({ maxLength: 60 }).map((bytes) => {
      const kept = Buffer.from(bytes.filter((byte) => byte !== 0x0a));
      return kept.at(-1) === 0x0d ? kept.subarray(0, -1) : kept;
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(line, fc.boolean()), { maxLength: 20 }),
        fc.integer({ min: 4, max: 48 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 70 }),
        async (lines, maxLineBytes, extra, step) => {
          const parts: Buffer[] = [];
          const expected: Array<{ bytes: Buffer; offset: number; end: number }> = [];
          let offset = 0;
          for (const [bytes, crlf] of lines) {
            const ending = Buffer.from(crlf ? '\r\n' : '\n');
            if (bytes.length > 0)
              expected.push({ bytes, offset, end: offset + bytes.length + ending.length });
            parts.push(bytes, ending);
            offset += bytes.length + ending.length;
          }
          const events = await pipeline(Buffer.concat(parts), 'raw', {
            maxLineBytes,
            bufferBytes: maxLineBytes + 1 + extra,
            step,
          });
          expect(events).toHaveLength(expected.length);
          events.forEach((event, i) => {
            const want = expected[i] as (typeof expected)[number];
            expect([event.offset, event.end]).toEqual([want.offset, want.end]);
            if (want.bytes.length <= maxLineBytes) {
              expect(event.message).toBe(want.bytes.toString('utf8'));
              expect(event.flags).toBeUndefined();
            } else {
              expect(event.flags).toEqual(['truncated']);
              // Cut at maxLineBytes, or up to 3 bytes before it so as not to split a character.
              const cuts = [0, 1, 2, 3].map((back) =>
                want.bytes.subarray(0, maxLineBytes - back).toString('utf8'),
              );
              expect(cuts).toContain(event.message);
            }
          });
        },
      ),
      RUNS,
    );
  });

  it('json: objects keep their fields and message exactly; lines with invalid UTF-8 or NULs are kept whole and flagged; never a throw', async () => {
    const value = fc.string({ unit: 'binary', maxLength: 20 });
    const objectLine = fc
      .record({ message: value, user: value, n: fc.integer() })
      .map((object) => ({ object, bytes: Buffer.from(JSON.stringify(object)) }));
    const garbageLine = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constantFrom('{', '{"message":"', ''))
      .map(([bytes, prefix]) => ({
        object: undefined,
        bytes: Buffer.concat([
          Buffer.from(prefix),
          Buffer.from(bytes.filter((b) => b !== 0x0a && b !== 0x0d)),
          Buffer.from([0]),
        ]),
      }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(objectLine, garbageLine), { maxLength: 15 }), async (lines) => {
        const file = Buffer.concat(lines.flatMap(({ bytes }) => [bytes, Buffer.from('\n')]));
        const events = await pipeline(file, 'json', { step: 17 });
        expect(events).toHaveLength(lines.length);
        events.forEach((event, i) => {
          const { object, bytes } = lines[i] as (typeof lines)[number];
          if (object) {
            expect(event.message).toBe(object.message);
            expect(event.fields).toEqual(object);
          } else {
            expect(event.flags).toEqual(['json_parse_error']);
            expect(event.message).toBe(bytes.toString('utf8'));
          }
        });
      }),
      RUNS,
    );
  });

  it('cri: partial (P) lines reassemble exactly with the F line that ends them, whatever they hold', async () => {
    const message = fc.record({
      chunks: fc.array(lineText('grapheme'), { minLength: 1, maxLength: 4 }),
      stream: fc.constantFrom('stdout', 'stderr'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { maxLength: 12 }),
        fc.integer({ min: 1, max: 64 }),
        async (messages, step) => {
          const text = messages
            .flatMap(({ chunks, stream }) =>
              chunks.map((chunk, i) => `${TIME} ${stream} ${i === chunks.length - 1 ? 'F' : 'P'} ${chunk}\n`),
            )
            .join('');
          const events = await pipeline(Buffer.from(text), 'cri', { step });
          expect(events.map((event) => [event.message, event.fields?.['stream'], event.timestamp])).toEqual(
            messages.map(({ chunks, stream }) => [chunks.join(''), stream, '2026-01-02T03:04:05.123Z']),
          );
          expect(events.every((event) => event.flags === undefined)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('docker json-file: a log split without its newline reassembles exactly, lone surrogates and control characters included', async () => {
    const message = fc.record({
      chunks: fc.array(
        fc.string({ unit: 'binary', maxLength: 20 }).map((s) => s.replaceAll('\n', ' ')),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      stream: fc.constantFrom('stdout', 'stderr'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { maxLength: 12 }),
        fc.integer({ min: 1, max: 64 }),
        async (messages, step) => {
          const text = messages
            .flatMap(({ chunks, stream }) =>
              chunks.map(
                (chunk, i) =>
                  `${JSON.stringify({ log: i === chunks.length - 1 ? `${chunk}\n` : chunk, stream, time: TIME })}\n`,
              ),
            )
            .join('');
          const events = await pipeline(Buffer.from(text), 'docker', { step });
          expect(events.map((event) => [event.message, event.fields?.['stream']])).toEqual(
            messages.map(({ chunks, stream }) => [chunks.join(''), stream]),
          );
        },
      ),
      RUNS,
    );
  });

  it('multiline: continuation lines join the line that starts the event, in groups of at most maxLines', async () => {
    const event = fc.record({
      first: lineText('grapheme', 1).filter((text) => /^\S/.test(text)),
      rest: fc.array(
        fc
          .tuple(fc.constantFrom(' ', '\t', '  at '), lineText('grapheme'))
          .map(([lead, text]) => lead + text),
        { maxLength: 6 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { maxLength: 10 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 64 }),
        async (events, maxLines, step) => {
          const lines = events.flatMap(({ first, rest }) => [first, ...rest]);
          const joined = await pipeline(Buffer.from(lines.map((line) => `${line}\n`).join('')), 'raw', {
            step,
            multiline: { start: /^\S/, maxLines, timeoutMs: 1000 },
          });
          const expected = events.flatMap(({ first, rest }) => {
            const all = [first, ...rest];
            const groups: string[] = [];
            for (let i = 0; i < all.length; i += maxLines) groups.push(all.slice(i, i + maxLines).join('\n'));
            return groups;
          });
          expect(joined.map((e) => e.message)).toEqual(expected);
        },
      ),
      RUNS,
    );
  });
});

describe('event encoder (property-based)', () => {
  const input = configSchema.parse({
    inputs: [{ paths: ['/logs/*.log'], fields: { service: 'web' } }],
    state: { dir: '/tmp/state' },
    output: { type: 'stdout' },
  }).inputs[0] as Parameters<EventEncoder['encode']>[2];
  const encoder = new EventEncoder({ HOSTNAME: 'host-1' });
  const anyString = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc
      .array(
        fc.constantFrom(
          '\ud800',
          '\udfff',
          '\u2028',
          '\u2029',
          '\u0000',
          '\u001f',
          '"',
          '\\',
          '😀',
          'é',
          'a',
          '\\ud800',
        ),
        {
          maxLength: 12,
        },
      )
      .map((parts) => parts.join('')),
  );
  const event = (message: string, fields?: Record<string, unknown>): LogEvent => ({
    idBase: 'id',
    path: '/logs/app.log',
    offset: 7,
    end: 8,
    message,
    timestamp: undefined,
    fields,
    flags: undefined,
  });

  it('any string survives the JSON of a document exactly, lone surrogates as U+FFFD (documented)', () => {
    fc.assert(
      fc.property(anyString, (message) => {
        const doc = encoder.encode(event(message), '2026-01-02T03:04:05.000Z', input);
        expect(LONE_SURROGATE.test(doc)).toBe(false);
        expect(Buffer.from(doc, 'utf8').toString('utf8')).toBe(doc); // valid UTF-8 on the wire
        const parsed = JSON.parse(doc) as { message: string; service: string; log: { offset: number } };
        expect(parsed.message).toBe(wellFormed(message));
        if (!LONE_SURROGATE.test(message)) expect(parsed.message).toBe(message);
        expect(parsed.service).toBe('web');
        expect(parsed.log.offset).toBe(7);
      }),
      { ...RUNS, numRuns: 500 },
    );
  });

  it('parsed fields (a JSON line) survive too, the same way', () => {
    const reserved = new Set(['@timestamp', 'message', 'log', 'host', 'service', '__proto__']);
    fc.assert(
      fc.property(anyString, fc.dictionary(anyString, anyString, { maxKeys: 5 }), (message, fields) => {
        const doc = encoder.encode(event(message, fields), '2026-01-02T03:04:05.000Z', input);
        expect(LONE_SURROGATE.test(doc)).toBe(false);
        const parsed = JSON.parse(doc) as Record<string, unknown>;
        expect(parsed['message']).toBe(wellFormed(message));
        for (const [key, value] of Object.entries(fields)) {
          if (reserved.has(key) || wellFormed(key) !== key) continue;
          expect(parsed[key]).toBe(wellFormed(value));
        }
      }),
      { ...RUNS, numRuns: 300 },
    );
  });
});
