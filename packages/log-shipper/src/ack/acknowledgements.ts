import type { CheckpointStore } from '../checkpoint/store.js';
import type { ShipperMetrics } from '../metrics.js';
import type { PendingAck, TrackedFile } from '../tail/tracked-file.js';

/** A batch's place in the queues of the files it holds events of. */
export type BatchAcks = ReadonlyArray<readonly [TrackedFile, PendingAck]>;

/**
 * Acknowledgement-driven checkpoints: a file's checkpoint only moves past events the output has
 * acknowledged, in file order, even when batches complete out of order.
 */
export class Acknowledgements {
  /** When each file's checkpoint last moved (read by the status page). */
  readonly #acknowledgedAt = new WeakMap<TrackedFile, number>();

  constructor(
    private readonly store: CheckpointStore,
    private readonly metrics: ShipperMetrics,
    /** Whether a file with this key is being followed now. */
    private readonly isTracked: (key: string) => boolean,
  ) {}

  /** When the output last acknowledged events of this file (ms since the epoch), if ever. */
  acknowledgedAt(file: TrackedFile): number | undefined {
    return this.#acknowledgedAt.get(file);
  }

  /** Queues a batch on its way out behind each file's earlier batches; `ends` is where the batch's events of each file end. */
  expect(ends: ReadonlyMap<TrackedFile, number>): BatchAcks {
    const acks: Array<[TrackedFile, PendingAck]> = [];
    for (const [file, end] of ends) {
      const entry = { end, done: false };
      file.acks.push(entry);
      acks.push([file, entry]);
    }
    return acks;
  }

  /** The batch was delivered: each file's checkpoint moves as far as its batches are done in a row. */
  acknowledge(acks: BatchAcks): void {
    const now = Date.now();
    for (const [file, entry] of acks) {
      entry.done = true;
      let moved = false;
      for (let front = file.acks[0]; front?.done; front = file.acks[0]) {
        file.ackedOffset = front.end;
        file.acks.shift();
        moved = true;
      }
      if (!moved) continue;
      this.#acknowledgedAt.set(file, now);
      // A late acknowledgement for a detached file: not over a live file with the same key (the
      // copy of a copytruncate resumes on its own), nor for an inode that holds other content now.
      if (file.closed && (this.isTracked(file.key) || (file.rewritten && file.key.startsWith('ino:'))))
        continue;
      this.store.set(file.key, {
        idBase: file.idBase,
        offset: file.ackedOffset,
        path: file.path,
        dev: file.dev,
        ino: file.ino,
        updatedAt: now,
      });
      if (!file.closed)
        this.metrics.lagBytes.set({ path: file.path }, Math.max(0, file.size - file.ackedOffset));
    }
  }
}
