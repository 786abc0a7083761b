import type { LogEvent } from '../event.js';

/** Events on their way out, each with its document already serialized once. */
export interface Batch {
  events: LogEvent[];
  /** JSON of each event's document, same order as events. */
  docs: string[];
  bytes: number;
}

export interface Output {
  readonly name: string;
  /**
   * Delivers every event of the batch (or dead-letters it), retrying as long as it takes.
   * Resolves true when the batch is done, false when `abort` fired first (nothing more is acknowledged).
   */
  send(batch: Batch, abort: AbortSignal): Promise<boolean>;
  /** Readiness: true, or why the destination cannot be reached. */
  ready(): true | string | Promise<true | string>;
  close(): Promise<void>;
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
