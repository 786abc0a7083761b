import type { Batch, ItemInfo, ItemRun } from '../output/output.js';

const INITIAL_BYTES = 64 * 1024;
const INITIAL_ITEMS = 1024;

/** What a batch is encoded into: the body and where each item starts. Reused from batch to batch. */
export interface BatchSpace {
  buffer: Buffer;
  itemStarts: Uint32Array;
  docStarts: Uint32Array;
  offsets: Float64Array;
}

/**
 * Space for batches, reused: a batch's space comes back once the output is done with it, so
 * steady shipping allocates nothing per batch. At most `keep` are held while idle, which bounds
 * what stays allocated by keep x (bulk.maxBytes + one document), and in the usual case by what
 * the batches really used.
 */
export class BufferPool {
  readonly #free: BatchSpace[] = [];

  constructor(private readonly keep: number) {}

  take(): BatchSpace {
    return (
      this.#free.pop() ?? {
        buffer: Buffer.allocUnsafe(INITIAL_BYTES),
        itemStarts: new Uint32Array(INITIAL_ITEMS + 1),
        docStarts: new Uint32Array(INITIAL_ITEMS),
        offsets: new Float64Array(INITIAL_ITEMS),
      }
    );
  }

  give(space: BatchSpace): void {
    if (this.#free.length < this.keep) this.#free.push(space);
  }

  get size(): number {
    return this.#free.length;
  }
}

/** A batch being filled: items are encoded straight into pooled space that grows as needed. */
export class BatchBuilder {
  readonly #space: BatchSpace;
  #used = 0;
  #count = 0;
  readonly #runs: ItemRun[] = [];

  constructor(pool: BufferPool) {
    this.#space = pool.take();
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes encoded so far. */
  get bytes(): number {
    return this.#used;
  }

  /** `item` and `index` say where the item goes and what identifies it, for outputs that dead-letter items. */
  append(actionLine: string, document: string, item?: ItemInfo, index = ''): void {
    const space = this.#space;
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: enough room without measuring first.
    const needed = this.#used + 3 * (actionLine.length + document.length) + 1;
    if (needed > space.buffer.length) space.buffer = grow(space.buffer, needed, this.#used);
    if (this.#count + 1 >= space.docStarts.length) {
      space.itemStarts = growArray(space.itemStarts, this.#count);
      space.docStarts = growArray(space.docStarts, this.#count);
      space.offsets = growOffsets(space.offsets, this.#count);
    }
    if (item) {
      space.offsets[this.#count] = item.offset;
      const run = this.#runs[this.#runs.length - 1];
      if (run?.idBase !== item.idBase || run.index !== index)
        this.#runs.push({ first: this.#count, index, idBase: item.idBase });
    }
    const buffer = space.buffer;
    space.itemStarts[this.#count] = this.#used;
    if (actionLine.length > 0) this.#used += buffer.write(actionLine, this.#used);
    space.docStarts[this.#count] = this.#used;
    this.#used += buffer.write(document, this.#used);
    buffer[this.#used++] = 0x0a;
    this.#count += 1;
  }

  /** The batch as it is now; `space` goes back to the pool once the output is done with it. */
  seal(): { batch: Batch; space: BatchSpace } {
    const space = this.#space;
    space.itemStarts[this.#count] = this.#used;
    const batch: Batch = {
      body: space.buffer.subarray(0, this.#used),
      itemStarts: space.itemStarts,
      docStarts: space.docStarts,
      count: this.#count,
      offsets: space.offsets,
      runs: this.#runs,
    };
    return { batch, space };
  }
}

function grow(buffer: Buffer, needed: number, used: number): Buffer {
  const grown = Buffer.allocUnsafe(Math.max(needed, 2 * buffer.length));
  buffer.copy(grown, 0, 0, used);
  return grown;
}

function growArray(array: Uint32Array, used: number): Uint32Array {
  const grown = new Uint32Array(2 * array.length);
  grown.set(array.subarray(0, used));
  return grown;
}

function growOffsets(array: Float64Array, used: number): Float64Array {
  const grown = new Float64Array(2 * array.length);
  grown.set(array.subarray(0, used));
  return grown;
}
