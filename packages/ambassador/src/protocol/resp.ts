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
import { CR, FramedParser, LF, ProtocolError, parseDecimal, type StreamBuffer } from './stream-buffer.js';

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
export class RespRequestParser extends FramedParser<RespRequest> {
  readonly limits: RespLimits;
  /** Arguments still expected in the current array, or -1 before the array header. */
  #argumentsLeft = -1;
  /** Start/end offsets (relative to the frame) of the arguments read so far. */
  #argumentOffsets: number[] = [];
  /** Where the next header or bulk starts. */
  #position = 0;
  /** Length of the bulk being read, or -1 when a `$` header is expected. */
  #bulkLength = -1;

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
        const whole = this.#parseWholeArray();
        if (whole !== undefined) return whole;
        const headerEnd = this.findTypedLine(0, MAX_HEADER_LINE, 'array header');
        if (headerEnd < 0) return undefined;
        const count = parseDecimal(input, 1, headerEnd, true);
        if (count === undefined) throw new ProtocolError('bad_length', 'invalid multibulk length', 1);
        if (count > this.limits.maxArrayElements) {
          throw new ProtocolError(
            'too_many_elements',
            `${count} arguments, more than ${this.limits.maxArrayElements}`,
          );
        }
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
          const headerEnd = this.findTypedLine(position, MAX_HEADER_LINE, 'bulk header');
          if (headerEnd < 0) return undefined;
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
        if (!this.dataComplete(dataStart, this.#bulkLength, 'bulk')) return undefined;
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

  /**
   * The usual case in one pass over the bytes: a whole, well-formed array command already buffered. Anything else
   * (incomplete, malformed, over a limit, `*0`) gives undefined and the incremental parse takes over, so that
   * errors and limits have one implementation.
   */
  #parseWholeArray(): RespRequest | undefined {
    const input = this.input;
    const bytes = input.buffer;
    const start = input.bufferStart;
    const end = start + input.length;
    const limits = this.limits;
    const frameEnd = Math.min(end, start + limits.maxFrameBytes);
    let position = start + 1;
    let count = 0;
    for (let digit = bytes[position]! - 0x30; digit >= 0 && digit <= 9 && position < end; ) {
      count = count * 10 + digit;
      digit = bytes[++position]! - 0x30;
    }
    const countDigits = position - start - 1;
    if (countDigits === 0 || countDigits > 7 || bytes[start + 1] === 0x30 || count > limits.maxArrayElements)
      return undefined;
    if (position + 1 >= end || bytes[position] !== CR || bytes[position + 1] !== LF) return undefined;
    position += 2;
    const args = new Array<Buffer>(count);
    for (let index = 0; index < count; index++) {
      if (position >= end || bytes[position] !== 0x24) return undefined;
      const lengthStart = ++position;
      let length = 0;
      for (let digit = bytes[position]! - 0x30; digit >= 0 && digit <= 9 && position < end; ) {
        length = length * 10 + digit;
        digit = bytes[++position]! - 0x30;
      }
      const lengthDigits = position - lengthStart;
      if (
        lengthDigits === 0 ||
        lengthDigits > 10 ||
        (lengthDigits > 1 && bytes[lengthStart] === 0x30) ||
        length > limits.maxBulkLength
      )
        return undefined;
      if (position + 1 >= end || bytes[position] !== CR || bytes[position + 1] !== LF) return undefined;
      const dataStart = position + 2;
      const dataEnd = dataStart + length;
      if (dataEnd + 2 > frameEnd || bytes[dataEnd] !== CR || bytes[dataEnd + 1] !== LF) return undefined;
      args[index] = bytes.subarray(dataStart, dataEnd);
      position = dataEnd + 2;
    }
    this.resetLineScan();
    return { raw: input.take(position - start), args, inline: false };
  }

  /** An inline command, null for an empty line (skipped like Redis does), undefined when incomplete. */
  #parseInline(): RespRequest | null | undefined {
    const input = this.input;
    const newline = this.findLine(this.limits.maxInlineLength, 'inline command');
    if (newline < 0) return undefined;
    const args = splitInlineArguments(input.view(0, this.lineContentEnd(newline)));
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
export class RespReplyParser extends FramedParser<RespReply> {
  readonly limits: RespLimits;
  /** Open aggregates, outermost first. */
  #stack: PendingElement[] = [];
  #position = 0;

  constructor(limits?: Partial<RespLimits>) {
    super();
    this.limits = resolveLimits(limits);
  }

  protected parseNext(): RespReply | undefined {
    const input = this.input;
    if (this.#stack.length === 0 && input.length > 0) {
      const scalar = this.#parseWholeScalar();
      if (scalar !== undefined) return scalar;
    }
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
   * The usual replies in one pass: a whole, well-formed `+`, `-`, `:` line or `$` bulk at the top level. Anything
   * else (aggregates, RESP3, incomplete, malformed, over a limit) gives undefined and the element parser takes
   * over, so that errors and limits have one implementation.
   */
  #parseWholeScalar(): RespReply | undefined {
    const input = this.input;
    const bytes = input.buffer;
    const start = input.bufferStart;
    const end = start + input.length;
    const limits = this.limits;
    const frameEnd = Math.min(end, start + limits.maxFrameBytes);
    const type = bytes[start];
    if (type === 0x2b || type === 0x2d || type === 0x3a) {
      const limit = Math.min(frameEnd, start + 1 + limits.maxInlineLength + 2);
      let position = start + 1;
      if (type === 0x3a) {
        // An integer: an optional sign, then 1 to 19 digits.
        if (bytes[position] === 0x2d || bytes[position] === 0x2b) position++;
        const digitsStart = position;
        while (position < limit && bytes[position]! >= 0x30 && bytes[position]! <= 0x39) position++;
        if (position === digitsStart || position - digitsStart > 19) return undefined;
        if (position + 1 >= limit || bytes[position] !== CR || bytes[position + 1] !== LF) return undefined;
        position++;
      } else {
        while (position < limit && bytes[position] !== LF) position++;
        if (position >= limit || position === start + 1 || bytes[position - 1] !== CR) return undefined;
      }
      this.resetLineScan();
      const raw = input.take(position + 1 - start);
      return {
        kind: 'line',
        type: type === 0x2b ? '+' : type === 0x2d ? '-' : ':',
        raw,
        text: raw.subarray(1, raw.length - 2),
      };
    }
    if (type !== 0x24) return undefined;
    let position = start + 1;
    if (bytes[position] === 0x2d) {
      // The null bulk, "$-1".
      if (position + 3 >= end || bytes[position + 1] !== 0x31 || bytes[position + 2] !== CR) return undefined;
      if (bytes[position + 3] !== LF || position + 4 > frameEnd) return undefined;
      this.resetLineScan();
      return { kind: 'bulk', type: '$', raw: input.take(5), data: null };
    }
    let length = 0;
    for (let digit = bytes[position]! - 0x30; digit >= 0 && digit <= 9 && position < end; ) {
      length = length * 10 + digit;
      digit = bytes[++position]! - 0x30;
    }
    const lengthDigits = position - start - 1;
    if (
      lengthDigits === 0 ||
      lengthDigits > 10 ||
      (lengthDigits > 1 && bytes[start + 1] === 0x30) ||
      length > limits.maxBulkLength
    )
      return undefined;
    if (position + 1 >= end || bytes[position] !== CR || bytes[position + 1] !== LF) return undefined;
    const dataStart = position + 2 - start;
    const dataEnd = dataStart + length;
    if (start + dataEnd + 2 > frameEnd || bytes[start + dataEnd] !== CR || bytes[start + dataEnd + 1] !== LF)
      return undefined;
    this.resetLineScan();
    const raw = input.take(dataEnd + 2);
    return { kind: 'bulk', type: '$', raw, data: raw.subarray(dataStart, dataEnd) };
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
        const lineEnd = this.findTypedLine(start, limits.maxInlineLength, 'reply line');
        if (lineEnd < 0) return undefined;
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
      const headerEnd = this.findTypedLine(start, MAX_HEADER_LINE, 'reply header');
      if (headerEnd < 0) return undefined;
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
        if (!this.dataComplete(bodyStart, count, 'bulk')) return undefined;
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
