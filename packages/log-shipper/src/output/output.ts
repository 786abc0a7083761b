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
  /** Item i's event offset in its file: with its run's id base, the document id. */
  readonly offsets: ArrayLike<number>;
  /** Items in a row that come from one file and go to one index, a handful per batch: their index and id base. */
  readonly runs: readonly ItemRun[];
}

export interface ItemRun {
  /** The run's first item. */
  readonly first: number;
  readonly index: string;
  readonly idBase: string;
}

/** What an output needs to know of an event to write its action line. */
export interface ItemInfo {
  /** Stable per file: with the offset it identifies the event. */
  idBase: string;
  offset: number;
}

/** What an output tells the status page about its destination (kept as it goes, read on demand). */
export interface OutputStatus {
  /** Where it writes: a file path, stdout, Elasticsearch nodes and index. */
  destination: string;
  /** ok: deliveries work (or none was needed yet); retrying: they fail and are being retried; failed: a write failed, its batch stays unacknowledged. */
  state: 'ok' | 'retrying' | 'failed';
  /** When the current failing state began. */
  since?: number;
  /** Why deliveries fail. */
  reason?: string;
  /** When a batch was last delivered. */
  lastDeliveryAt?: number;
  /** Events delivered, for outputs that do not count events_shipped_total. */
  delivered?: number;
}

export interface Output {
  readonly name: string;
  /** For the status page: the destination and how delivering to it goes. */
  status?(): OutputStatus;
  /** For outputs that write a bulk action before each document: the index for an event of this ISO 8601 time. */
  indexFor?(timestamp: string): string;
  /** The line written before each document (a bulk action), for outputs that need one. */
  actionLine?(index: string, item: ItemInfo): string;
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

/** Where item i goes and what identifies it, as its action line said. */
export function itemOrigin(batch: Batch, i: number): { index: string; idBase: string; offset: number } {
  let run: ItemRun | undefined;
  for (const candidate of batch.runs) {
    if (candidate.first > i) break;
    run = candidate;
  }
  return { index: run?.index ?? '', idBase: run?.idBase ?? '', offset: batch.offsets[i] ?? 0 };
}
