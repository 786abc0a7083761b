import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface DeadLetter {
  time: string;
  reason: string;
  status: number;
  index: string;
  id: string;
  document: unknown;
}

/**
 * Events Elasticsearch refused for good (a mapping conflict...), one JSON line each with the reason.
 * Bounded: past maxBytes the file is rotated once to `.1` (replacing an older `.1`), so at most
 * twice maxBytes are kept; what is dropped that way is counted.
 */
export class DeadLetterWriter {
  #size: number;

  constructor(
    private readonly path: string | undefined,
    private readonly maxBytes: number,
    private readonly onWrite: (outcome: 'written' | 'rotated' | 'logged-only') => void = () => {},
  ) {
    if (path) mkdirSync(dirname(path), { recursive: true });
    try {
      this.#size = path ? statSync(path).size : 0;
    } catch {
      this.#size = 0;
    }
  }

  write(letter: DeadLetter): void {
    if (!this.path) {
      this.onWrite('logged-only');
      return;
    }
    const line = `${JSON.stringify(letter)}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.#size > 0 && this.#size + bytes > this.maxBytes) {
      renameSync(this.path, `${this.path}.1`);
      this.#size = 0;
      this.onWrite('rotated');
    }
    appendFileSync(this.path, line);
    this.#size += bytes;
    this.onWrite('written');
  }
}
