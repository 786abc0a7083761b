/**
 * Incremental, bounded parsers for the Redis protocol: RESP2 requests (arrays of bulk strings and inline
 * commands) and replies (RESP2 `+ - : $ *`, and the RESP3 types `_ , # ! = ( % ~ > |` framed so they can be
 * relayed).
 *
 * Design note, why hand-written: a sharding proxy needs (1) the raw bytes of every frame, to forward them without
 * re-encoding, (2) the key position of requests, (3) memory bounded by configurable limits while a frame is
 * incomplete, and (4) one typed error for every malformed input. The npm parsers do not fit: `redis-parser`
 * (3.0.0, the parser of node_redis/ioredis, no release for years) parses replies only, hands decoded strings or
 * Buffers to returnReply/returnError callbacks (no raw frame bytes), has no length or depth limits and signals bad
 * input through a callback; `respjs` (4.2.0) is an EventEmitter emitting decoded values, again without raw bytes,
 * limits, requests or RESP3. Client libraries (ioredis, node-redis) keep their decoders internal.
 *
 * Use: `parser.push(chunk)` then `parser.next()` until it returns undefined (or `for (const f of
 * parser.feed(chunk))`). Frames are views into the pushed chunks (see stream-buffer.ts). Limits are enforced from
 * the declared lengths before the bytes are buffered, so a parser holds at most about maxFrameBytes plus one chunk.
 * Malformed input throws ProtocolError, and nothing else; the parser then stays failed.
 */
import { CR, LF, ProtocolError, parseDecimal, StreamBuffer } from './stream-buffer.js';

export { ProtocolError, type ProtocolErrorCode } from './stream-buffer.js';

export interface RespLimits {
  /** Largest bulk string, like Redis' proto-max-bulk-len. Default 512 MiB. */
  readonly maxBulkLength: number;
  /** Most elements of one array (pairs of one map). Default 1,048,576. */
  readonly maxArrayElements: number;
  /** Longest inline command or simple (+ - : ...) line, like Redis' PROTO_INLINE_MAX_SIZE. Default 64 KiB. */
  readonly maxInlineLength: number;
  /** Largest whole frame, like Redis' client-query-buffer-limit. Default 1 GiB. */
  readonly maxFrameBytes: number;
  /** Deepest nesting of aggregates in a reply. Default 64. */
  readonly maxNestingDepth: number;
}

export const DEFAULT_RESP_LIMITS: RespLimits = Object.freeze({
  maxBulkLength: 512 * 1024 * 1024,
  maxArrayElements: 1024 * 1024,
  maxInlineLength: 64 * 1024,
  maxFrameBytes: 1024 * 1024 * 1024,
  maxNestingDepth: 64,
});

/** `*<count>` and `$<length>` lines: a type byte, at most 19 characters of number, CRLF. */
const MAX_HEADER_LINE = 24;

export interface RespRequest {
  /** The bytes of the whole command as received. */
  readonly raw: Buffer;
  /** Command name and arguments. For arrays, views into `raw`; for inline commands, unquoted copies. */
  readonly args: readonly Buffer[];
  readonly inline: boolean;
}

export type RespLineType = '+' | '-' | ':' | '_' | ',' | '#' | '(';
export type RespBulkType = '$' | '!' | '=';
export type RespAggregateType = '*' | '%' | '~' | '>' | '|';

export interface RespLineReply {
  readonly kind: 'line';
  readonly type: RespLineType;
  readonly raw: Buffer;
  /** The line after the type byte, without CRLF. */
  readonly text: Buffer;
}

export interface RespBulkReply {
  readonly kind: 'bulk';
  readonly type: RespBulkType;
  readonly raw: Buffer;
  /** null for the RESP2 null bulk `$-1`. */
  readonly data: Buffer | null;
}

export interface RespAggregateReply {
  readonly kind: 'aggregate';
  readonly type: RespAggregateType;
  readonly raw: Buffer;
  /**
   * Elements; for maps and attributes keys and values alternate. An attribute (`|`) is followed on the wire by the
   * value it annotates, which is its last item. null for the RESP2 null array `*-1`.
   */
  readonly items: readonly RespReply[] | null;
}

export type RespReply = RespLineReply | RespBulkReply | RespAggregateReply;

export function isErrorReply(reply: RespReply): boolean {
  return reply.type === '-' || reply.type === '!';
}

function resolveLimits(limits: Partial<RespLimits> | undefined): RespLimits {
  if (limits === undefined) return DEFAULT_RESP_LIMITS;
  const resolved = { ...DEFAULT_RESP_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`RESP limit ${name} must be a positive integer`);
  }
  return resolved;
}

/** Common driver: push/next/feed, the failed state and the accumulator. */
abstract class IncrementalParser<Frame> {
  protected readonly input = new StreamBuffer();
  #failure: ProtocolError | undefined;

  /** Adds received bytes. Never throws. */
  push(chunk: Uint8Array): void {
    if (this.#failure === undefined) this.input.append(chunk);
  }

  /** The next complete frame, or undefined when more bytes are needed. Throws ProtocolError on bad input. */
  next(): Frame | undefined {
    if (this.#failure) throw this.#failure;
    try {
      return this.parseNext();
    } catch (error) {
      if (error instanceof ProtocolError) this.#failure = error;
      throw error;
    }
  }

  /** push(chunk), then every complete frame. */
  *feed(chunk: Uint8Array): Generator<Frame, void, undefined> {
    this.push(chunk);
    for (let frame = this.next(); frame !== undefined; frame = this.next()) yield frame;
  }

  /** Bytes received that belong to the incomplete frame. */
  get pendingBytes(): number {
    return this.input.length;
  }

  /** Bytes the parser holds (the buffer of the incomplete frame). */
  get bufferedCapacity(): number {
    return this.input.capacity;
  }

  /** Call at end of stream: throws ProtocolError "truncated" when a frame is incomplete. */
  end(): void {
    if (this.#failure) throw this.#failure;
    if (this.input.length > 0) {
      this.#failure = new ProtocolError(
        'truncated',
        `stream ended inside a frame (${this.input.length} bytes)`,
      );
      throw this.#failure;
    }
  }

  protected abstract parseNext(): Frame | undefined;
}

/** Where the line starting at `from` (after its type byte) ends: position of its CR, or undefined if incomplete. */
function findLineEnd(
  input: StreamBuffer,
  from: number,
  scanFrom: number,
  maxContent: number,
  what: string,
): number | undefined {
  const limit = from + 1 + maxContent + 2;
  const newline = input.indexOf(LF, Math.max(from + 1, scanFrom), limit);
  if (newline < 0) {
    if (input.length >= limit) {
      throw new ProtocolError('line_too_long', `${what} longer than ${maxContent} bytes`, from);
    }
    return undefined;
  }
  if (newline === from + 1 || input.byteAt(newline - 1) !== CR) {
    throw new ProtocolError('bad_terminator', `${what} not terminated by CRLF`, newline);
  }
  return newline - 1;
}

const SPACE_LIKE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return -1;
}

const ESCAPES: Readonly<Record<number, number>> = { 110: 0x0a, 114: 0x0d, 116: 0x09, 98: 0x08, 97: 0x07 };

/** Splits an inline command into arguments with Redis' sdssplitargs rules (quotes, \xHH and \n escapes). */
export function splitInlineArguments(line: Uint8Array): Buffer[] {
  const args: Buffer[] = [];
  let position = 0;
  const end = line.length;
  for (;;) {
    while (position < end && SPACE_LIKE.has(line[position]!)) position++;
    if (position >= end) return args;
    const current: number[] = [];
    let quote: 0 | 0x22 | 0x27 = 0;
    for (;;) {
      const byte = line[position];
      if (quote === 0x22) {
        if (byte === undefined)
          throw new ProtocolError('unbalanced_quotes', 'unbalanced quotes in inline command');
        if (
          byte === 0x5c &&
          line[position + 1] === 0x78 &&
          hexValue(line[position + 2]) >= 0 &&
          hexValue(line[position + 3]) >= 0
        ) {
          current.push(hexValue(line[position + 2]) * 16 + hexValue(line[position + 3]));
          position += 4;
        } else if (byte === 0x5c && position + 1 < end) {
          const escaped = line[position + 1]!;
          current.push(ESCAPES[escaped] ?? escaped);
          position += 2;
        } else if (byte === 0x22) {
          position++;
          if (position < end && !SPACE_LIKE.has(line[position]!)) {
            throw new ProtocolError('unbalanced_quotes', 'closing quote must be followed by a space');
          }
          break;
        } else {
          current.push(byte);
          position++;
        }
      } else if (quote === 0x27) {
        if (byte === undefined)
          throw new ProtocolError('unbalanced_quotes', 'unbalanced quotes in inline command');
        if (byte === 0x5c && line[position + 1] === 0x27) {
          current.push(0x27);
          position += 2;
        } else if (byte === 0x27) {
          position++;
          if (position < end && !SPACE_LIKE.has(line[position]!)) {
            throw new ProtocolError('unbalanced_quotes', 'closing quote must be followed by a space');
          }
          break;
        } else {
          current.push(byte);
          position++;
        }
      } else if (byte === undefined || SPACE_LIKE.has(byte)) {
        break;
      } else if (byte === 0x22 || byte === 0x27) {
        quote = byte;
        position++;
      } else {
        current.push(byte);
        position++;
      }
    }
    args.push(Buffer.from(current));
  }
}

/** Redis commands from a client: `*N` arrays of `$len` bulk strings, or inline lines. */
export class RespRequestParser extends IncrementalParser<RespRequest> {
  readonly limits: RespLimits;
  /** Arguments still expected in the current array, or -1 before the array header. */
  #argumentsLeft = -1;
  /** Start/end offsets (relative to the frame) of the arguments read so far. */
  #argumentOffsets: number[] = [];
  /** Where the next header or bulk starts. */
  #position = 0;
  /** Length of the bulk being read, or -1 when a `$` header is expected. */
  #bulkLength = -1;
  #scanFrom = 0;

  constructor(limits?: Partial<RespLimits>) {
    super();
    this.limits = resolveLimits(limits);
  }

  protected parseNext(): RespRequest | undefined {
    for (;;) {
      const input = this.input;
      if (input.length === 0) return undefined;
      if (this.#argumentsLeft < 0) {
        if (input.byteAt(0) !== 0x2a) {
          const request = this.#parseInline();
          if (request === null) continue;
          return request;
        }
        const headerEnd = findLineEnd(input, 0, this.#scanFrom, MAX_HEADER_LINE, 'array header');
        if (headerEnd === undefined) {
          this.#scanFrom = input.length;
          return undefined;
        }
        const count = parseDecimal(input, 1, headerEnd, true);
        if (count === undefined) throw new ProtocolError('bad_length', 'invalid multibulk length', 1);
        if (count > this.limits.maxArrayElements) {
          throw new ProtocolError(
            'too_many_elements',
            `${count} arguments, more than ${this.limits.maxArrayElements}`,
          );
        }
        this.#scanFrom = 0;
        if (count <= 0) {
          // Redis ignores `*0` and `*-1` commands and sends no reply; so do we.
          input.take(headerEnd + 2);
          continue;
        }
        this.#argumentsLeft = count;
        this.#position = headerEnd + 2;
        this.#argumentOffsets = [];
        this.#bulkLength = -1;
      }
      while (this.#argumentsLeft > 0) {
        const position = this.#position;
        if (this.#bulkLength < 0) {
          if (input.length <= position) return undefined;
          const type = input.byteAt(position);
          if (type !== 0x24) {
            throw new ProtocolError('bad_type', `expected '$', got byte ${type}`, position);
          }
          const headerEnd = findLineEnd(input, position, this.#scanFrom, MAX_HEADER_LINE, 'bulk header');
          if (headerEnd === undefined) {
            this.#scanFrom = input.length;
            return undefined;
          }
          this.#scanFrom = 0;
          const length = parseDecimal(input, position + 1, headerEnd, false);
          if (length === undefined) throw new ProtocolError('bad_length', 'invalid bulk length', position);
          if (length > this.limits.maxBulkLength) {
            throw new ProtocolError(
              'bulk_too_long',
              `bulk of ${length} bytes, more than ${this.limits.maxBulkLength}`,
            );
          }
          if (headerEnd + 2 + length + 2 > this.limits.maxFrameBytes) {
            throw new ProtocolError(
              'frame_too_long',
              `command longer than ${this.limits.maxFrameBytes} bytes`,
            );
          }
          this.#bulkLength = length;
          this.#position = headerEnd + 2;
        }
        const dataStart = this.#position;
        const dataEnd = dataStart + this.#bulkLength;
        if (input.length < dataEnd + 2) return undefined;
        if (input.byteAt(dataEnd) !== CR || input.byteAt(dataEnd + 1) !== LF) {
          throw new ProtocolError('bad_terminator', 'bulk not terminated by CRLF', dataEnd);
        }
        this.#argumentOffsets.push(dataStart, dataEnd);
        this.#position = dataEnd + 2;
        this.#bulkLength = -1;
        this.#argumentsLeft--;
      }
      const raw = input.take(this.#position);
      const offsets = this.#argumentOffsets;
      const args: Buffer[] = [];
      for (let index = 0; index < offsets.length; index += 2)
        args.push(raw.subarray(offsets[index]!, offsets[index + 1]!));
      this.#argumentsLeft = -1;
      this.#argumentOffsets = [];
      this.#position = 0;
      return { raw, args, inline: false };
    }
  }

  /** An inline command, null for an empty line (skipped like Redis does), undefined when incomplete. */
  #parseInline(): RespRequest | null | undefined {
    const input = this.input;
    const maxLength = this.limits.maxInlineLength;
    const newline = input.indexOf(LF, this.#scanFrom, maxLength + 2);
    if (newline < 0) {
      if (input.length >= maxLength + 2) {
        throw new ProtocolError('line_too_long', `inline command longer than ${maxLength} bytes`);
      }
      this.#scanFrom = input.length;
      return undefined;
    }
    this.#scanFrom = 0;
    const lineEnd = newline > 0 && input.byteAt(newline - 1) === CR ? newline - 1 : newline;
    if (lineEnd > maxLength)
      throw new ProtocolError('line_too_long', `inline command longer than ${maxLength} bytes`);
    const args = splitInlineArguments(input.view(0, lineEnd));
    if (args.length > this.limits.maxArrayElements) {
      throw new ProtocolError('too_many_elements', `more than ${this.limits.maxArrayElements} arguments`);
    }
    const raw = input.take(newline + 1);
    return args.length === 0 ? null : { raw, args, inline: true };
  }
}

/** A reply element being parsed; offsets relative to the frame start. */
interface PendingElement {
  readonly type: number;
  readonly start: number;
  end: number;
  /** Line text or bulk data; dataStart < 0 for null. */
  readonly dataStart: number;
  readonly dataEnd: number;
  /** For aggregates: elements so far; null for a null array. */
  readonly items: PendingElement[] | null;
  /** For aggregates: elements still to read. */
  remaining: number;
}

const LINE_TYPES = new Set([0x2b, 0x2d, 0x3a, 0x5f, 0x2c, 0x23, 0x28]);
const BULK_TYPES = new Set([0x24, 0x21, 0x3d]);
const AGGREGATE_TYPES = new Set([0x2a, 0x25, 0x7e, 0x3e, 0x7c]);

function isValidLineText(input: StreamBuffer, type: number, from: number, to: number): boolean {
  switch (type) {
    case 0x3a: // integer: optional sign, 1..19 digits
    case 0x28: {
      // big number: optional sign, digits
      let position = from;
      const first = position < to ? input.byteAt(position) : -1;
      if (first === 0x2d || first === 0x2b) position++;
      if (position >= to || (type === 0x3a && to - position > 19)) return false;
      for (; position < to; position++) {
        const byte = input.byteAt(position);
        if (byte < 0x30 || byte > 0x39) return false;
      }
      return true;
    }
    case 0x5f:
      return from === to;
    case 0x23:
      return to - from === 1 && (input.byteAt(from) === 0x74 || input.byteAt(from) === 0x66);
    case 0x2c:
      return to > from;
    default:
      return true;
  }
}

function materialize(element: PendingElement, raw: Buffer): RespReply {
  const type = String.fromCharCode(element.type);
  const bytes = raw.subarray(element.start, element.end);
  if (LINE_TYPES.has(element.type)) {
    return {
      kind: 'line',
      type: type as RespLineType,
      raw: bytes,
      text: raw.subarray(element.dataStart, element.dataEnd),
    };
  }
  if (BULK_TYPES.has(element.type)) {
    const data = element.dataStart < 0 ? null : raw.subarray(element.dataStart, element.dataEnd);
    return { kind: 'bulk', type: type as RespBulkType, raw: bytes, data };
  }
  const items = element.items === null ? null : element.items.map((item) => materialize(item, raw));
  return { kind: 'aggregate', type: type as RespAggregateType, raw: bytes, items };
}

/** Replies from a Redis server: RESP2, with RESP3 types framed. */
export class RespReplyParser extends IncrementalParser<RespReply> {
  readonly limits: RespLimits;
  /** Open aggregates, outermost first. */
  #stack: PendingElement[] = [];
  #position = 0;
  #scanFrom = 0;

  constructor(limits?: Partial<RespLimits>) {
    super();
    this.limits = resolveLimits(limits);
  }

  protected parseNext(): RespReply | undefined {
    const input = this.input;
    for (;;) {
      const element = this.#parseElement();
      if (element === undefined) return undefined;
      let completed: PendingElement | undefined = element;
      // Attach the completed element to its parent, closing every aggregate it completes.
      while (completed !== undefined) {
        const parent = this.#stack.at(-1);
        if (parent === undefined) {
          const raw = input.take(completed.end);
          this.#position = 0;
          return materialize(completed, raw);
        }
        parent.items!.push(completed);
        parent.remaining--;
        if (parent.remaining > 0) break;
        this.#stack.pop();
        parent.end = completed.end;
        completed = parent;
      }
    }
  }

  /**
   * Reads the element at #position. Returns a complete element (an aggregate only when empty or null), or undefined
   * when bytes are missing; opens non-empty aggregates on the stack and continues with their first element.
   */
  #parseElement(): PendingElement | undefined {
    const input = this.input;
    const limits = this.limits;
    for (;;) {
      const start = this.#position;
      if (input.length <= start) return undefined;
      const type = input.byteAt(start);
      if (LINE_TYPES.has(type)) {
        const lineEnd = findLineEnd(input, start, this.#scanFrom, limits.maxInlineLength, 'reply line');
        if (lineEnd === undefined) {
          this.#scanFrom = input.length;
          return undefined;
        }
        this.#scanFrom = 0;
        if (!isValidLineText(input, type, start + 1, lineEnd)) {
          throw new ProtocolError('bad_number', `invalid '${String.fromCharCode(type)}' reply`, start);
        }
        this.#checkFrameLength(lineEnd + 2);
        this.#position = lineEnd + 2;
        return {
          type,
          start,
          end: lineEnd + 2,
          dataStart: start + 1,
          dataEnd: lineEnd,
          items: null,
          remaining: 0,
        };
      }
      if (!BULK_TYPES.has(type) && !AGGREGATE_TYPES.has(type)) {
        if (type === 0x2e)
          throw new ProtocolError('unsupported', 'RESP3 streamed aggregates are not supported', start);
        throw new ProtocolError('bad_type', `unknown reply type byte ${type}`, start);
      }
      if (input.length > start + 1 && input.byteAt(start + 1) === 0x3f) {
        throw new ProtocolError(
          'unsupported',
          'RESP3 streamed strings and aggregates are not supported',
          start,
        );
      }
      const headerEnd = findLineEnd(input, start, this.#scanFrom, MAX_HEADER_LINE, 'reply header');
      if (headerEnd === undefined) {
        this.#scanFrom = input.length;
        return undefined;
      }
      this.#scanFrom = 0;
      const allowsNull = type === 0x24 || type === 0x2a;
      const count = parseDecimal(input, start + 1, headerEnd, allowsNull);
      if (count === undefined || count < -1)
        throw new ProtocolError('bad_length', 'invalid reply length', start);
      const bodyStart = headerEnd + 2;
      if (BULK_TYPES.has(type)) {
        if (count > limits.maxBulkLength) {
          throw new ProtocolError(
            'bulk_too_long',
            `bulk of ${count} bytes, more than ${limits.maxBulkLength}`,
            start,
          );
        }
        if (count < 0) {
          this.#position = bodyStart;
          return { type, start, end: bodyStart, dataStart: -1, dataEnd: -1, items: null, remaining: 0 };
        }
        const dataEnd = bodyStart + count;
        this.#checkFrameLength(dataEnd + 2);
        if (input.length < dataEnd + 2) return undefined;
        if (input.byteAt(dataEnd) !== CR || input.byteAt(dataEnd + 1) !== LF) {
          throw new ProtocolError('bad_terminator', 'bulk not terminated by CRLF', dataEnd);
        }
        this.#position = dataEnd + 2;
        return { type, start, end: dataEnd + 2, dataStart: bodyStart, dataEnd, items: null, remaining: 0 };
      }
      if (count > limits.maxArrayElements) {
        throw new ProtocolError(
          'too_many_elements',
          `${count} elements, more than ${limits.maxArrayElements}`,
          start,
        );
      }
      this.#checkFrameLength(bodyStart);
      this.#position = bodyStart;
      if (count < 0)
        return { type, start, end: bodyStart, dataStart: -1, dataEnd: -1, items: null, remaining: 0 };
      const isPairs = type === 0x25 || type === 0x7c;
      const elements = (isPairs ? count * 2 : count) + (type === 0x7c ? 1 : 0);
      const aggregate: PendingElement = {
        type,
        start,
        end: bodyStart,
        dataStart: -1,
        dataEnd: -1,
        items: [],
        remaining: elements,
      };
      if (elements === 0) return aggregate;
      if (this.#stack.length >= limits.maxNestingDepth) {
        throw new ProtocolError('too_deep', `replies nested deeper than ${limits.maxNestingDepth}`, start);
      }
      this.#stack.push(aggregate);
    }
  }

  #checkFrameLength(end: number): void {
    if (end > this.limits.maxFrameBytes) {
      throw new ProtocolError('frame_too_long', `reply longer than ${this.limits.maxFrameBytes} bytes`);
    }
  }
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeRespCommand(args: readonly (string | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes =
      typeof arg === 'string' ? Buffer.from(arg) : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
