/**
 * Events on their way out, already encoded: the items back to back in one buffer, each the
 * output's action line (if it has one), the document's JSON and "\n". Nothing per event stays on
 * the JS heap while a batch waits for its acknowledgement, so the heap does not grow with the
 * events in flight (they would outlive the young generation and be promoted by the thousand).
 */
export interface Batch {
  readonly body: Buffer;
  /** Where item i starts in body; entry `count` is body.length. */
  readonly itemStarts: ArrayLike<number>;
  /** Where item i's document starts (after its action line). */
  readonly docStarts: ArrayLike<number>;
  readonly count: number;
}

/** What an output needs to know of an event to write its action line. */
export interface ItemInfo {
  /** Stable per file: with the offset it identifies the event. */
  idBase: string;
  offset: number;
  /** ISO 8601 time of the event. */
  timestamp: string;
}

export interface Output {
  readonly name: string;
  /** The line written before each document (a bulk action), for outputs that need one. */
  actionLine?(item: ItemInfo): string;
  /**
   * Delivers every event of the batch (or dead-letters it), retrying as long as it takes.
   * Resolves true when the batch is done, false when `abort` fired first (nothing more is acknowledged).
   */
  send(batch: Batch, abort: AbortSignal): Promise<boolean>;
  /** Readiness: true, or why the destination cannot be reached. */
  ready(): true | string | Promise<true | string>;
  close(): Promise<void>;
}

/** The item's bytes (action line, document, newline) as a view into the batch's body. */
export function itemBytes(batch: Batch, i: number): Buffer {
  return batch.body.subarray(batch.itemStarts[i], batch.itemStarts[i + 1]);
}

/** The item's document JSON, without its newline. */
export function itemDocument(batch: Batch, i: number): string {
  return batch.body.toString('utf8', batch.docStarts[i], (batch.itemStarts[i + 1] as number) - 1);
}

/** Exponential backoff with full jitter: a random wait in [0, min(max, initial * 2^attempt)]. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.random() * Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}

export function sleep(ms: number, abort: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (abort.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      abort.removeEventListener('abort', done);
      resolve();
    }
    abort.addEventListener('abort', done, { once: true });
  });
}
