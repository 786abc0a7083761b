import type { FileHandle } from 'node:fs/promises';

export interface Line {
  text: string;
  /** Offset of the line's first byte. */
  start: number;
  /** Offset just after its newline. */
  end: number;
  truncated: boolean;
}

const NEWLINE = 10;

/**
 * Reads complete lines from an offset with positioned reads into one reused buffer. A line
 * without its newline is not returned (it is read again once completed); a line longer than
 * maxLineBytes is returned cut, and the rest of it is skipped without being held in memory.
 */
export class LineReader {
  readonly #buffer: Buffer;
  /** While skipping the rest of an over-long line: its first maxLineBytes and where it started. */
  #cut: { text: string; start: number } | undefined;

  /** `buffer` may be shared by every reader: reads happen one at a time. It must hold maxLineBytes + 1. */
  constructor(
    private readonly maxLineBytes: number,
    buffer: Buffer = Buffer.allocUnsafe(Math.max(256 * 1024, maxLineBytes + 1)),
  ) {
    if (buffer.length <= maxLineBytes) throw new RangeError('read buffer must be longer than maxLineBytes');
    this.#buffer = buffer;
  }

  /** Reads once from `offset`; returns the lines found and the offset to continue from. */
  async read(
    handle: FileHandle,
    offset: number,
  ): Promise<{ lines: Line[]; next: number; bytesRead: number }> {
    const buffer = this.#buffer;
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    const lines: Line[] = [];
    let position = 0;
    while (position < bytesRead) {
      const newline = buffer.indexOf(NEWLINE, position);
      if (this.#cut !== undefined) {
        if (newline < 0 || newline >= bytesRead) return { lines, next: offset + bytesRead, bytesRead };
        // The cut line is emitted once its end is known, so its checkpoint never lands mid-line.
        lines.push({ ...this.#cut, end: offset + newline + 1, truncated: true });
        this.#cut = undefined;
        position = newline + 1;
        continue;
      }
      if (newline < 0 || newline >= bytesRead) {
        const pending = bytesRead - position;
        if (pending > this.maxLineBytes) {
          this.#cut = {
            text: buffer.toString('utf8', position, position + this.maxLineBytes),
            start: offset + position,
          };
          return { lines, next: offset + bytesRead, bytesRead };
        }
        break;
      }
      let lineEnd = newline;
      if (lineEnd > position && buffer[lineEnd - 1] === 13) lineEnd -= 1;
      const length = lineEnd - position;
      if (length > this.maxLineBytes) {
        lines.push({
          text: buffer.toString('utf8', position, position + this.maxLineBytes),
          start: offset + position,
          end: offset + newline + 1,
          truncated: true,
        });
      } else if (length > 0) {
        lines.push({
          text: buffer.toString('utf8', position, lineEnd),
          start: offset + position,
          end: offset + newline + 1,
          truncated: false,
        });
      }
      position = newline + 1;
    }
    return { lines, next: offset + position, bytesRead };
  }

  /** True while the rest of an over-long line is being skipped. */
  get skipping(): boolean {
    return this.#cut !== undefined;
  }
}
