import { setTimeout as sleep } from 'node:timers/promises';
import type { Component, Logger } from '@sidecar-kit/core';
import { Acknowledgements } from './ack/acknowledgements.js';
import { type BatchLimits, Dispatcher, type QueueState } from './batch/dispatcher.js';
import type { CheckpointStore } from './checkpoint/store.js';
import type { LogShipperConfig } from './config.js';
import { EventEncoder } from './encode/event-encoder.js';
import type { ShipperMetrics } from './metrics.js';
import type { Output } from './output/output.js';
import { Tailer } from './tail/tailer.js';
import type { TrackedFile } from './tail/tracked-file.js';

/** A followed file as the status page shows it. */
export interface FileStatus {
  path: string;
  readOffset: number;
  ackedOffset: number;
  /** As last seen by a read (the page does no I/O). */
  size: number;
  /** When the output last acknowledged events of it (since it was opened), if ever. */
  acknowledgedAt: number | undefined;
  lastGrowthAt: number;
  /** Gone from every glob (rotated away or deleted) since then: read to its end, then closed. */
  goneSince: number | undefined;
  closeRemovedAfterMs: number;
  /** Batches on their way out with events of it. */
  batchesInFlight: number;
}

/**
 * The pipeline as one component: the tailer reads the inputs' files into events, the encoder
 * turns each into its document, the dispatcher batches the documents and sends them to the
 * output, and delivered batches move the files' checkpoints.
 */
export class Shipper implements Component {
  readonly name = 'tail';
  readonly #tailer: Tailer;
  readonly #dispatcher: Dispatcher;
  readonly #acknowledgements: Acknowledgements;
  #wake: (() => void) | undefined;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #checkpointTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: LogShipperConfig,
    private readonly output: Output,
    private readonly store: CheckpointStore,
    metrics: ShipperMetrics,
    limits: BatchLimits,
    private readonly logger: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const encoder = new EventEncoder(env);
    const acknowledgements = new Acknowledgements(store, metrics, (key) => this.#tailer.isTracked(key));
    const dispatcher = new Dispatcher(
      output,
      acknowledgements,
      metrics,
      limits,
      config.output.maxBufferedBytes,
      logger,
      () => this.#wake?.(),
    );
    this.#dispatcher = dispatcher;
    this.#acknowledgements = acknowledgements;
    this.#tailer = new Tailer(
      config.inputs,
      store,
      metrics,
      logger,
      dispatcher,
      (file, event, timestamp) =>
        dispatcher.add(file, event, timestamp, encoder.encode(event, timestamp, file.input.config)),
      { maxOpenFiles: config.maxOpenFiles },
    );
  }

  async start(): Promise<void> {
    this.store.load();
    await this.#tailer.scan(Date.now());
    this.#checkpointTimer = setInterval(() => this.store.tryFlush(), this.config.state.flushMs);
    this.#loop = this.#run();
  }

  /** The files followed now (read by the status page). */
  files(): FileStatus[] {
    return [...this.#tailer.files].map((file: TrackedFile) => ({
      path: file.path,
      readOffset: file.readOffset,
      ackedOffset: file.ackedOffset,
      size: file.size,
      acknowledgedAt: this.#acknowledgements.acknowledgedAt(file),
      lastGrowthAt: file.lastGrowthAt,
      goneSince: file.goneSince,
      closeRemovedAfterMs: file.input.config.closeRemovedAfterMs,
      batchesInFlight: file.acks.length,
    }));
  }

  /** The dispatcher's queue against its limits (read by the status page). */
  get queue(): QueueState {
    return this.#dispatcher.queue;
  }

  /** When the globs were last scanned. */
  get lastScan(): number {
    return this.#tailer.lastScan;
  }

  /** Wakes the read loop early (a watcher saw a change). */
  poke(): void {
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const tailer = this.#tailer;
    while (!this.#stopping) {
      const now = Date.now();
      if (now - tailer.lastScan >= this.config.scanIntervalMs) await tailer.scan(now);
      const progressed = await tailer.readAll();
      tailer.flushStale(now);
      if (this.#dispatcher.due(now)) await this.#dispatcher.send();
      await tailer.closeFinished(now);
      if (!progressed) {
        const wake = new AbortController();
        this.#wake = () => wake.abort();
        await sleep(100, undefined, { signal: wake.signal }).catch(() => {}); // woken early
        this.#wake = undefined;
      }
    }
  }

  /**
   * SIGTERM: as a native sidecar this runs after the app exited, so its last lines are on disk.
   * Read every file to its end, ship it, wait for the acknowledgements, write the checkpoints.
   */
  async stop(deadline: AbortSignal): Promise<void> {
    const tailer = this.#tailer;
    const dispatcher = this.#dispatcher;
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    dispatcher.abortAt(deadline);
    // Files closed while idle may have grown since the last scan: a last scan finds them.
    await tailer.scan(Date.now());
    while (!deadline.aborted) {
      if (await tailer.readAll()) continue;
      if (!dispatcher.paused) break; // every file is at its end
      // Paused by the memory bound: let batches complete, then read on.
      if (dispatcher.inFlight > 0) await dispatcher.settleOne();
      else await dispatcher.send();
    }
    tailer.flushAll();
    if (!deadline.aborted) await dispatcher.send();
    await dispatcher.settleAll();
    clearInterval(this.#checkpointTimer);
    this.store.tryFlush();
    this.store.close();
    const files = [...tailer.files];
    const unacknowledged = files.filter((file) => file.ackedOffset < file.readOffset).length;
    this.logger.info(
      { files: files.length, unacknowledged, cutOff: deadline.aborted },
      'tailing stopped, checkpoints written',
    );
    await tailer.closeAll();
    await this.output.close();
  }
}
