import type { Logger } from '@sidecar-kit/core';
import type { ShipperMetrics } from '../metrics.js';
import type { Batch, EventRef, Output } from '../output/output.js';
import type { AckTracker, Segment } from './acks.js';

export interface PipelineOptions {
  maxDocs: number;
  maxBytes: number;
  flushMs: number;
  concurrency: number;
  /** Read-ahead bound: events read but not acknowledged; reading pauses above it. */
  maxBufferedBytes: number;
}

interface OpenBatch extends Batch {
  segments: Map<AckTracker, Segment>;
  firstAt: number;
}

/**
 * Events -> batches -> the output, with bounded memory: at most `concurrency` batches in flight,
 * one being filled and one waiting, each at most maxDocs/maxBytes, and at most maxBufferedBytes
 * of documents not yet acknowledged in all. `hasRoom()` false means: stop reading.
 */
export class Pipeline {
  #current: OpenBatch | undefined;
  readonly #ready: OpenBatch[] = [];
  #inFlight = 0;
  #buffered = 0;
  #roomWaiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];
  #abort = new AbortController();
  #failed: unknown;

  constructor(
    private readonly options: PipelineOptions,
    private readonly output: Output,
    private readonly metrics: ShipperMetrics,
    private readonly logger: Logger,
  ) {}

  add(event: EventRef, end: number, doc: string, tracker: AckTracker): void {
    let batch = this.#current;
    if (!batch) {
      batch = { events: [], docs: [], bytes: 0, segments: new Map(), firstAt: Date.now() };
      this.#current = batch;
    }
    batch.events.push(event);
    batch.docs.push(doc);
    const bytes = doc.length + 80;
    batch.bytes += bytes;
    this.#buffered += bytes;
    const segment = batch.segments.get(tracker);
    if (segment) segment.end = end;
    else batch.segments.set(tracker, tracker.open(end));
    if (batch.events.length >= this.options.maxDocs || batch.bytes >= this.options.maxBytes) this.#seal();
  }

  /** Sends the batch being filled if it is older than flushMs (or now, with force). */
  flush(force = false): void {
    const batch = this.#current;
    if (batch && (force || Date.now() - batch.firstAt >= this.options.flushMs)) this.#seal();
  }

  hasRoom(): boolean {
    return this.#buffered < this.options.maxBufferedBytes && this.#ready.length === 0;
  }

  waitForRoom(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  get buffered(): number {
    return this.#buffered;
  }

  get idle(): boolean {
    return this.#current === undefined && this.#ready.length === 0 && this.#inFlight === 0;
  }

  /** Resolves when everything added so far is acknowledged (or dead-lettered). */
  async drain(): Promise<void> {
    this.flush(true);
    if (this.idle) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Gives up on batches still in flight (the shutdown deadline). */
  abort(): void {
    this.#abort.abort();
  }

  get failure(): unknown {
    return this.#failed;
  }

  #seal(): void {
    const batch = this.#current;
    if (!batch) return;
    this.#current = undefined;
    this.#ready.push(batch);
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.options.concurrency && this.#ready.length > 0) {
      const batch = this.#ready.shift() as OpenBatch;
      this.#inFlight += 1;
      this.#send(batch);
    }
    this.#wake();
  }

  #send(batch: OpenBatch): void {
    this.output.send(batch, this.#abort.signal).then(
      (done) => {
        this.#inFlight -= 1;
        this.#buffered -= batch.bytes;
        if (done) {
          for (const [tracker, segment] of batch.segments)
            if (tracker.complete(segment)) tracker.onMove(tracker.acked);
        }
        this.#pump();
      },
      (error: unknown) => {
        // An output that throws has a bug or a broken destination (stdout closed): stop acknowledging.
        this.#inFlight -= 1;
        this.#failed = error;
        this.logger.error({ err: error, output: this.output.name }, 'output failed');
        this.metrics.bufferedBytes.set(this.#buffered);
        this.#pump();
      },
    );
  }

  #wake(): void {
    this.metrics.bufferedBytes.set(this.#buffered);
    if (this.hasRoom() && this.#roomWaiters.length > 0) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.idle && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
