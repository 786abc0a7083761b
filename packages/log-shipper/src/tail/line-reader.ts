import type { FileHandle } from 'node:fs/promises';

export interface Line {
  text: string;
  /** Offset of the line's first byte. */
  start: number;
  /** Offset just after its newline. */
  end: number;
  truncated: boolean;
}

export interface ReadResult {
  /** Complete lines found: get each with `line(i)` before the next read. */
  count: number;
  /** Offset to continue from. */
  next: number;
  bytesRead: number;
}

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;

/**
 * The memory reads go through: the buffer the bytes are read into and the line positions found in
 * it. One area is shared by every reader of a tailer (reads happen one at a time and a read's
 * lines are consumed before the next read), so a file that is not being read holds no buffer.
 */
export class ReadArea {
  readonly buffer: Buffer;
  /** Per line found by the last read: text start, text end (in the buffer), end offset in the file. */
  spans = new Float64Array(3 * 4096);

  constructor(bytes: number) {
    this.buffer = Buffer.allocUnsafe(bytes);
  }
}

/** Where to cut `length` bytes from `start` without splitting a UTF-8 character (a cut line stays valid UTF-8). */
function utf8Cut(buffer: Buffer, start: number, length: number): number {
  let end = start + length;
  // buffer[end] is the first byte left out: a continuation byte (10xxxxxx) there means a character is split.
  for (let back = 0; back < 3 && end > start && ((buffer[end] as number) & 0xc0) === 0x80; back++) end -= 1;
  return end;
}

/**
 * Reads complete lines from an offset with positioned reads into one reused buffer. A line
 * without its newline is not returned (it is read again once completed); a line longer than
 * maxLineBytes is returned cut, and the rest of it is skipped without being held in memory.
 *
 * A read only finds where the lines are; each line's text is decoded when it is asked for, so a
 * read of thousands of lines does not hold thousands of strings at once (they would outlive
 * V8's young generation and be promoted, to be collected only by a full collection).
 */
export class LineReader {
  readonly #area: ReadArea;
  /** While skipping the rest of an over-long line: its first maxLineBytes and where it started. */
  #cut: { text: string; start: number } | undefined;
  /** The over-long line whose end the last read found: line 0 of that read. */
  #completedCut: Line | undefined;
  #offset = 0;

  /** `area` may be shared by every reader: reads happen one at a time. Its buffer must hold maxLineBytes + 2 (a line and its \r\n). */
  constructor(
    private readonly maxLineBytes: number,
    area: ReadArea = new ReadArea(Math.max(256 * 1024, maxLineBytes + 2)),
  ) {
    if (area.buffer.length < maxLineBytes + 2)
      throw new RangeError('read buffer must hold maxLineBytes + 2 bytes');
    this.#area = area;
  }

  /** Reads once from `offset`; the lines found are valid until the next read into the same area. */
  async read(handle: Pick<FileHandle, 'read'>, offset: number): Promise<ReadResult> {
    const buffer = this.#area.buffer;
    this.#completedCut = undefined;
    this.#offset = offset;
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    let count = 0;
    let position = 0;
    while (position < bytesRead) {
      const newline = buffer.indexOf(NEWLINE, position);
      if (this.#cut !== undefined) {
        if (newline < 0 || newline >= bytesRead) return { count, next: offset + bytesRead, bytesRead };
        // The cut line is emitted once its end is known, so its checkpoint never lands mid-line.
        this.#completedCut = { ...this.#cut, end: offset + newline + 1, truncated: true };
        this.#span(count, -1, -1, offset + newline + 1);
        count += 1;
        this.#cut = undefined;
        position = newline + 1;
        continue;
      }
      if (newline < 0 || newline >= bytesRead) {
        const pending = bytesRead - position;
        // A \r at the end may be the first half of a \r\n line end: not part of the line's length.
        if (pending > this.maxLineBytes + (buffer[bytesRead - 1] === CARRIAGE_RETURN ? 1 : 0)) {
          this.#cut = {
            text: buffer.toString('utf8', position, utf8Cut(buffer, position, this.maxLineBytes)),
            start: offset + position,
          };
          return { count, next: offset + bytesRead, bytesRead };
        }
        break;
      }
      let lineEnd = newline;
      if (lineEnd > position && buffer[lineEnd - 1] === CARRIAGE_RETURN) lineEnd -= 1;
      if (lineEnd > position) {
        this.#span(count, position, lineEnd, offset + newline + 1);
        count += 1;
      }
      position = newline + 1;
    }
    return { count, next: offset + position, bytesRead };
  }

  #span(i: number, textStart: number, textEnd: number, end: number): void {
    const area = this.#area;
    if (3 * i + 3 > area.spans.length) {
      const grown = new Float64Array(2 * area.spans.length);
      grown.set(area.spans);
      area.spans = grown;
    }
    area.spans[3 * i] = textStart;
    area.spans[3 * i + 1] = textEnd;
    area.spans[3 * i + 2] = end;
  }

  /** Line `i` of the last read, decoded now. */
  line(i: number): Line {
    const spans = this.#area.spans;
    const textStart = spans[3 * i] as number;
    const end = spans[3 * i + 2] as number;
    if (textStart < 0) return this.#completedCut as Line;
    const textEnd = spans[3 * i + 1] as number;
    const truncated = textEnd - textStart > this.maxLineBytes;
    return {
      text: this.#area.buffer.toString(
        'utf8',
        textStart,
        truncated ? utf8Cut(this.#area.buffer, textStart, this.maxLineBytes) : textEnd,
      ),
      start: this.#offset + textStart,
      end,
      truncated,
    };
  }

  /** True while the rest of an over-long line is being skipped. */
  get skipping(): boolean {
    return this.#cut !== undefined;
  }
}
