/**
 * Shared pieces of the wire-protocol parsers: the typed ProtocolError, the byte accumulator, and the driver with
 * the line framing both protocols use (FramedParser).
 *
 * Memory: the accumulator holds only the bytes of the frame being parsed. Complete frames are handed out as
 * `subarray` views (no copy) of the chunks the caller pushed, so pushed chunks must not be reused by the caller
 * (net.Socket 'data' buffers never are). The accumulator never writes over bytes it handed out: it writes only
 * past its last byte, or into a new buffer.
 */

export type ProtocolErrorCode =
  | 'bad_type'
  | 'bad_length'
  | 'bad_number'
  | 'bad_terminator'
  | 'bulk_too_long'
  | 'too_many_elements'
  | 'line_too_long'
  | 'frame_too_long'
  | 'too_deep'
  | 'unbalanced_quotes'
  | 'unsupported'
  | 'unknown_command'
  | 'bad_arguments'
  | 'bad_key'
  | 'value_too_long'
  | 'truncated';

/** Malformed or over-limit input. Parsers throw nothing else; after one, the parser is unusable. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  /** Offset of the problem within the frame that was being parsed. */
  readonly offset: number;

  constructor(code: ProtocolErrorCode, message: string, offset = 0) {
    // No stack trace: the error is about the peer's bytes, not about our code, and capturing one costs more than
    // the parse itself; a client flooding bad input should not get that for free.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.code = code;
    this.offset = offset;
  }
}

export const CR = 0x0d;
export const LF = 0x0a;

const EMPTY = Buffer.alloc(0);

/** Bytes pushed but not yet consumed as frames. Positions are relative to `start` (the frame being parsed). */
export class StreamBuffer {
  #buffer: Buffer = EMPTY;
  /** Absolute start of the unconsumed bytes within #buffer. */
  #start = 0;
  /** Absolute end of the valid bytes within #buffer. */
  #end = 0;
  /** Whether bytes past #end belong to us (a buffer we allocated) rather than to a chunk the caller pushed. */
  #ownsTail = false;

  get length(): number {
    return this.#end - this.#start;
  }

  /** Bytes currently allocated by the accumulator (for memory-bound checks). */
  get capacity(): number {
    return this.#ownsTail ? this.#buffer.length : this.length;
  }

  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const pending = this.length;
    if (pending === 0) {
      this.#buffer = Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.#start = 0;
      this.#end = chunk.length;
      this.#ownsTail = false;
      return;
    }
    if (this.#ownsTail && this.#end + chunk.length <= this.#buffer.length) {
      this.#buffer.set(chunk, this.#end);
      this.#end += chunk.length;
      return;
    }
    const needed = pending + chunk.length;
    const grown = Buffer.allocUnsafe(
      Math.max(needed, Math.min(pending * 2, needed + 16 * 1024 * 1024), 1024),
    );
    this.#buffer.copy(grown, 0, this.#start, this.#end);
    grown.set(chunk, pending);
    this.#buffer = grown;
    this.#start = 0;
    this.#end = needed;
    this.#ownsTail = true;
  }

  /**
   * The bytes, for a scan in a tight loop: the frame starts at `bufferStart` and the valid bytes end at
   * `bufferStart + length`. Read only; past that end the buffer may hold anything.
   */
  get buffer(): Buffer {
    return this.#buffer;
  }

  get bufferStart(): number {
    return this.#start;
  }

  /** Byte at a position relative to the frame start (caller checks position < length). */
  byteAt(position: number): number {
    return this.#buffer[this.#start + position]!;
  }

  /** Position of the first `byte` at or after `from`, below `limit` (both relative), or -1. */
  indexOf(byte: number, from: number, limit = this.length): number {
    const stop = Math.min(limit, this.length);
    if (from >= stop) return -1;
    const buffer = this.#buffer;
    const absoluteStop = this.#start + stop;
    // A short range is scanned by hand; a long one by Buffer#indexOf, which may look past the range (never past
    // #end, which is where garbage could start), so its answer is checked against the range.
    if (stop - from <= 64) {
      for (let position = this.#start + from; position < absoluteStop; position++) {
        if (buffer[position] === byte) return position - this.#start;
      }
      return -1;
    }
    const found = buffer.indexOf(byte, this.#start + from);
    return found < 0 || found >= absoluteStop ? -1 : found - this.#start;
  }

  /** A view of bytes [from, to) relative to the frame start; valid as long as the caller keeps it. */
  view(from: number, to: number): Buffer {
    return this.#buffer.subarray(this.#start + from, this.#start + to);
  }

  /** Hands out the first `length` bytes as a view and drops them from the accumulator. */
  take(length: number): Buffer {
    const frame = this.view(0, length);
    this.#start += length;
    if (this.#start === this.#end) {
      // Nothing pending: forget the buffer so it is not retained, and restart at offset 0 next time.
      this.#buffer = EMPTY;
      this.#start = 0;
      this.#end = 0;
      this.#ownsTail = false;
    }
    return frame;
  }
}

/**
 * Parses a decimal integer from bytes [from, to) of the buffer, strictly: optional '-', then digits, no leading
 * zeros (except "0"), at most 18 digits. Returns undefined when not such a number.
 */
export function parseDecimal(
  bytes: StreamBuffer,
  from: number,
  to: number,
  allowNegative: boolean,
): number | undefined {
  let position = from;
  let negative = false;
  if (position < to && bytes.byteAt(position) === 0x2d) {
    if (!allowNegative) return undefined;
    negative = true;
    position++;
  }
  const digits = to - position;
  if (digits < 1 || digits > 18) return undefined;
  if (digits > 1 && bytes.byteAt(position) === 0x30) return undefined;
  let value = 0;
  for (; position < to; position++) {
    const digit = bytes.byteAt(position) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  if (negative && value === 0) return undefined;
  return negative ? -value : value;
}

/**
 * The driver of every parser here: push/next/feed, the failed state, the accumulator, and the line framing. A
 * subclass implements parseNext() with findLine / findTypedLine / dataComplete; `next()` remembers the first
 * ProtocolError and throws it again forever after.
 *
 * Line framing keeps where the search for the current line's LF stopped (`#scanFrom`), so a line that arrives
 * byte by byte is scanned once, not once per chunk; it is reset whenever a line is found.
 */
export abstract class FramedParser<Frame> {
  protected readonly input = new StreamBuffer();
  #failure: ProtocolError | undefined;
  #scanFrom = 0;

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

  /**
   * A text line at the frame start, ended by LF with an optional CR before it (memcached lines, Redis inline
   * commands). Returns the position of its LF (the line's content ends at lineContentEnd(lf), the next frame
   * starts at lf + 1), or -1 when the LF has not arrived. Throws line_too_long past `maxLength` content bytes.
   */
  protected findLine(maxLength: number, what: string): number {
    const input = this.input;
    const newline = input.indexOf(LF, this.#scanFrom, maxLength + 2);
    if (newline < 0) {
      if (input.length >= maxLength + 2)
        throw new ProtocolError('line_too_long', `${what} longer than ${maxLength} bytes`);
      this.#scanFrom = input.length;
      return -1;
    }
    this.#scanFrom = 0;
    if (this.lineContentEnd(newline) > maxLength)
      throw new ProtocolError('line_too_long', `${what} longer than ${maxLength} bytes`);
    return newline;
  }

  /** For a parser's own fast scan that consumed a frame without findLine: the next line search starts afresh. */
  protected resetLineScan(): void {
    this.#scanFrom = 0;
  }

  /** Where the content of the line ended by the LF at `newline` ends: before its CR if it has one. */
  protected lineContentEnd(newline: number): number {
    return newline > 0 && this.input.byteAt(newline - 1) === CR ? newline - 1 : newline;
  }

  /**
   * A typed RESP line starting at `from` (a type byte, then up to `maxContent` bytes, then CRLF, strictly).
   * Returns the position of its CR, or -1 when incomplete. Throws line_too_long or bad_terminator.
   */
  protected findTypedLine(from: number, maxContent: number, what: string): number {
    const input = this.input;
    const limit = from + 1 + maxContent + 2;
    const newline = input.indexOf(LF, Math.max(from + 1, this.#scanFrom), limit);
    if (newline < 0) {
      if (input.length >= limit)
        throw new ProtocolError('line_too_long', `${what} longer than ${maxContent} bytes`, from);
      this.#scanFrom = input.length;
      return -1;
    }
    this.#scanFrom = 0;
    if (newline === from + 1 || input.byteAt(newline - 1) !== CR)
      throw new ProtocolError('bad_terminator', `${what} not terminated by CRLF`, newline);
    return newline - 1;
  }

  /**
   * Whether the `length` bytes of data at `start` and the CRLF after them have arrived; throws bad_terminator when
   * the two bytes after the data are there and are not CRLF.
   */
  protected dataComplete(start: number, length: number, what: string): boolean {
    const input = this.input;
    const end = start + length;
    if (input.length < end + 2) return false;
    if (input.byteAt(end) !== CR || input.byteAt(end + 1) !== LF)
      throw new ProtocolError('bad_terminator', `${what} not terminated by CRLF`, end);
    return true;
  }
}
