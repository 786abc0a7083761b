import type { Logger } from '@sidecar-kit/core';
import type { Acknowledgements, BatchAcks } from '../ack/acknowledgements.js';
import type { LogEvent } from '../event.js';
import type { ShipperMetrics } from '../metrics.js';
import type { Output } from '../output/output.js';
import type { TrackedFile } from '../tail/tracked-file.js';
import { BatchBuilder, BufferPool } from './batch-builder.js';

export interface BatchLimits {
  maxDocs: number;
  maxBytes: number;
  flushMs: number;
  concurrency: number;
}

/** The dispatcher's queue against its limits. */
export interface QueueState {
  /** Encoded events read but not acknowledged (the batch being filled and those in flight). */
  bufferedBytes: number;
  maxBufferedBytes: number;
  /** Reading is paused: bufferedBytes reached maxBufferedBytes. */
  paused: boolean;
  inFlight: number;
  concurrency: number;
  openBatch: { docs: number; bytes: number; startedAt?: number };
  limits: Readonly<BatchLimits>;
}

/** The batch being filled. */
interface OpenBatch {
  builder: BatchBuilder;
  /** Where the batch's events of each file end. */
  ends: Map<TrackedFile, number>;
  startedAt: number;
}

/**
 * Fills batches with encoded events and sends them to the output, at most `concurrency` at once;
 * a delivered batch is acknowledged. Memory is bounded: `paused` while more than
 * maxBufferedBytes of events are unacknowledged.
 */
export class Dispatcher {
  readonly #pool: BufferPool;
  #current: OpenBatch;
  #inFlight = 0;
  #buffered = 0;
  #slotWaiters: Array<() => void> = [];
  readonly #inFlightBatches = new Set<Promise<void>>();
  readonly #abort = new AbortController();

  constructor(
    private readonly output: Output,
    private readonly acks: Acknowledgements,
    private readonly metrics: ShipperMetrics,
    private readonly limits: BatchLimits,
    private readonly maxBufferedBytes: number,
    private readonly logger: Logger,
    /** Called whenever a batch is done with (delivered or not): reading may go on. */
    private readonly onSettled: () => void,
  ) {
    this.#pool = new BufferPool(limits.concurrency + 1);
    this.#current = this.#openBatch();
  }

  /** Adds an event of `file`, encoded as `document`, to the batch being filled. */
  add(file: TrackedFile, event: LogEvent, timestamp: string, document: string): void {
    const batch = this.#current;
    const { builder } = batch;
    if (builder.count === 0) batch.startedAt = Date.now();
    const before = builder.bytes;
    const index = this.output.indexFor?.(timestamp) ?? '';
    builder.append(this.output.actionLine?.(index, event) ?? '', document, event, index);
    this.#buffered += builder.bytes - before;
    batch.ends.set(file, event.end);
  }

  /** The batch being filled has reached bulk.maxDocs or bulk.maxBytes: send it before adding more. */
  get full(): boolean {
    const { builder } = this.#current;
    return builder.count >= this.limits.maxDocs || builder.bytes >= this.limits.maxBytes;
  }

  /** The batch being filled has waited bulk.flushMs since its first event. */
  due(now: number): boolean {
    const batch = this.#current;
    return batch.builder.count > 0 && now - batch.startedAt >= this.limits.flushMs;
  }

  /** Too much is unacknowledged: reading pauses until batches are delivered. */
  get paused(): boolean {
    return this.#buffered >= this.maxBufferedBytes;
  }

  get inFlight(): number {
    return this.#inFlightBatches.size;
  }

  /** What is queued now against its limits (read by the status page). */
  get queue(): QueueState {
    const { builder, startedAt } = this.#current;
    return {
      bufferedBytes: this.#buffered,
      maxBufferedBytes: this.maxBufferedBytes,
      paused: this.paused,
      inFlight: this.#inFlightBatches.size,
      concurrency: this.limits.concurrency,
      openBatch: {
        docs: builder.count,
        bytes: builder.bytes,
        ...(builder.count ? { startedAt } : {}),
      },
      limits: this.limits,
    };
  }

  /** Sends the batch being filled (once a slot is free) and starts a new one. */
  async send(): Promise<void> {
    const open = this.#current;
    if (open.builder.count === 0) return;
    this.#current = this.#openBatch();
    const { batch, space } = open.builder.seal();
    const bytes = batch.body.length;
    this.metrics.read.inc(batch.count);
    const acks: BatchAcks = this.acks.expect(open.ends);
    while (this.#inFlight >= this.limits.concurrency)
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    this.#inFlight += 1;
    this.metrics.bufferedBytes.set(this.#buffered);
    const sending: Promise<void> = this.output
      .send(batch, this.#abort.signal)
      .then(
        (done) => {
          if (!done) return;
          this.acks.acknowledge(acks);
          this.#pool.give(space); // only once done: an aborted request may still hold it
        },
        (error: unknown) => this.logger.error({ err: error }, 'output failed: batch not acknowledged'),
      )
      .finally(() => {
        this.#inFlight -= 1;
        this.#buffered -= bytes;
        this.metrics.bufferedBytes.set(this.#buffered);
        this.#inFlightBatches.delete(sending);
        this.#slotWaiters.shift()?.();
        this.onSettled();
      });
    this.#inFlightBatches.add(sending);
  }

  /** Waits until one batch in flight is done with. */
  async settleOne(): Promise<void> {
    if (this.#inFlightBatches.size > 0) await Promise.race([...this.#inFlightBatches]);
  }

  /** Waits until every batch in flight is done with. */
  async settleAll(): Promise<void> {
    while (this.#inFlightBatches.size > 0) await Promise.race([...this.#inFlightBatches]);
  }

  /** Gives up on the batches in flight when `deadline` fires: they stay unacknowledged. */
  abortAt(deadline: AbortSignal): void {
    deadline.addEventListener('abort', () => this.#abort.abort(), { once: true });
  }

  #openBatch(): OpenBatch {
    return { builder: new BatchBuilder(this.#pool), ends: new Map(), startedAt: Date.now() };
  }
}
