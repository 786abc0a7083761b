import { hostname } from 'node:os';
import type { Component, Logger } from '@sidecar-kit/core';
import { CheckpointStore } from './checkpoint/store.js';
import type { LogShipperConfig } from './config.js';
import type { DeadLetterWriter } from './dead-letter/writer.js';
import { Scanner } from './discovery/scan.js';
import { decoders } from './format/index.js';
import type { ShipperMetrics } from './metrics.js';
import type { Output } from './output/output.js';
import { sleep } from './output/output.js';
import { staticParts } from './pipeline/document.js';
import { Pipeline } from './pipeline/pipeline.js';
import { type TailContext, TrackedFile } from './tail/tracked-file.js';

const MAX_LAG_SERIES = 200;

/**
 * The whole shipper as one component: discovery every scanIntervalMs, one read loop over the
 * open files (paused while the pipeline is full), checkpoints every state.flushMs.
 * stop(): no more discovery; every open file read to its end; everything shipped and
 * acknowledged; checkpoints written. At the deadline: checkpoints of what was acknowledged.
 */
export class Shipper implements Component {
  readonly name = 'log-shipper';
  readonly store: CheckpointStore;
  readonly pipeline: Pipeline;
  readonly deadLetters: DeadLetterWriter;
  readonly #scanner: Scanner;
  readonly #contexts: TailContext[];
  /** Open files by device:inode. */
  readonly files = new Map<string, TrackedFile>();
  #stopping = false;
  #loop: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #wake: (() => void) | undefined;
  #firstScan = true;
  #scanning: Promise<void> | undefined;

  constructor(
    private readonly config: LogShipperConfig,
    private readonly output: Output,
    private readonly metrics: ShipperMetrics,
    private readonly logger: Logger,
    deadLetters: DeadLetterWriter,
  ) {
    this.store = new CheckpointStore(config.state.dir, logger);
    this.deadLetters = deadLetters;
    const es = config.output.elasticsearch;
    this.pipeline = new Pipeline(
      {
        maxDocs: es?.bulk.maxDocs ?? 1000,
        maxBytes: es?.bulk.maxBytes ?? 1024 * 1024,
        flushMs: es?.bulk.flushMs ?? 200,
        concurrency: es?.bulk.concurrency ?? 1,
        maxBufferedBytes: config.output.maxBufferedBytes,
      },
      output,
      metrics,
      logger,
    );
    this.#scanner = new Scanner(config.inputs);
    const host = hostname();
    this.#contexts = config.inputs.map((input) => ({
      decoder: decoders[input.format],
      multiline: input.multiline
        ? {
            start: new RegExp(input.multiline.start),
            maxLines: input.multiline.maxLines,
            timeoutMs: input.multiline.timeoutMs,
          }
        : undefined,
      maxLineBytes: input.maxLineBytes,
      fingerprintBytes: input.fingerprintBytes,
      parts: staticParts(host, input.fields, process.env),
      store: this.store,
      pipeline: this.pipeline,
      metrics,
      logger,
    }));
  }

  async start(): Promise<void> {
    this.store.load();
    await this.scan();
    this.#firstScan = false;
    this.#timers.push(setInterval(() => void this.scan(), this.config.scanIntervalMs));
    this.#timers.push(setInterval(() => this.#flushCheckpoints(), this.config.state.flushMs));
    this.#loop = this.#run();
  }

  /** Finds new files, renamed ones (same inode, new name) and removed ones. */
  scan(): Promise<void> {
    this.#scanning ??= this.#scan().finally(() => {
      this.#scanning = undefined;
    });
    return this.#scanning;
  }

  async #scan(): Promise<void> {
    if (this.#stopping) return;
    let found: Awaited<ReturnType<Scanner['scan']>>;
    try {
      found = await this.#scanner.scan();
    } catch (error) {
      this.logger.warn({ err: error }, 'scan failed');
      return;
    }
    const now = Date.now();
    for (const [key, file] of this.files) {
      const seen = found.get(key);
      if (seen) {
        if (seen.path !== file.path)
          this.logger.info({ from: file.path, to: seen.path }, 'file renamed: still following it');
        file.setPath(seen.path);
        file.removedSince = undefined;
      } else if (file.removedSince === undefined) {
        file.removedSince = now;
        this.logger.info(
          { path: file.path },
          'file no longer matched (removed or renamed away): reading it to its end',
        );
      }
    }
    for (const [key, seen] of found) {
      if (this.files.has(key) || this.#stopping) continue;
      const context = this.#contexts[seen.input] as TailContext;
      try {
        const input = this.config.inputs[seen.input];
        const file = await TrackedFile.open(
          seen.path,
          seen.stat,
          this.#firstScan && input?.readFrom === 'tail',
          context,
        );
        this.files.set(key, file);
      } catch (error) {
        this.logger.warn({ path: seen.path, err: error }, 'cannot open file');
      }
    }
    this.metrics.openFiles.set(this.files.size);
    this.store.prune(
      now,
      this.config.state.forgetAfterMs,
      new Set([...this.files.values()].map((f) => f.key)),
    );
    this.#wake?.();
  }

  /** The read loop: a chunk from each file in turn while the pipeline has room. */
  async #run(): Promise<void> {
    while (!this.#stopping) {
      const read = await this.#pass();
      if (this.#stopping) break;
      if (read === 0) {
        this.pipeline.flush();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.config.pollIntervalMs);
          this.#wake = done;
          function done() {
            clearTimeout(timer);
            resolve();
          }
        });
        this.#wake = undefined;
      }
    }
  }

  /** One chunk from every file that has bytes to read; returns the bytes consumed. */
  async #pass(): Promise<number> {
    let total = 0;
    const now = Date.now();
    const readTime = new Date(now).toISOString();
    for (const [key, file] of this.files) {
      if (file.closed) continue;
      await this.pipeline.waitForRoom();
      let state: 'same' | 'grown' | 'replaced';
      try {
        state = file.atEnd ? await file.check() : 'grown';
      } catch (error) {
        this.logger.warn({ path: file.path, err: error }, 'cannot stat file');
        continue;
      }
      if (state === 'replaced') {
        await this.#replace(key, file);
        total += 1;
        continue;
      }
      if (!file.atEnd) {
        try {
          total += await file.readChunk(readTime);
        } catch (error) {
          this.logger.warn({ path: file.path, err: error }, 'read failed');
        }
      } else {
        file.tick(now, readTime);
        if (file.removedSince !== undefined && now - file.removedSince >= this.#closeAfter(file))
          await this.#close(key, file);
      }
    }
    return total;
  }

  #closeAfter(file: TrackedFile): number {
    for (const [i, context] of this.#contexts.entries())
      if (context === file.context) return this.config.inputs[i]?.closeRemovedAfterMs ?? 0;
    return 0;
  }

  /** Truncated in place (copytruncate) or rewritten: the inode now holds a new file. */
  async #replace(key: string, file: TrackedFile): Promise<void> {
    this.logger.info(
      { path: file.path, offset: file.offset },
      'file truncated or replaced: following the new content from its start',
    );
    file.flushPending(new Date().toISOString());
    await file.close();
    this.files.delete(key);
    try {
      const { statSync } = await import('node:fs');
      const stat = statSync(file.path);
      if (`${stat.dev}:${stat.ino}` === key)
        this.files.set(key, await TrackedFile.open(file.path, stat, false, file.context));
    } catch (error) {
      this.logger.warn({ path: file.path, err: error }, 'cannot reopen file');
    }
  }

  async #close(key: string, file: TrackedFile): Promise<void> {
    file.flushPending(new Date().toISOString());
    await file.close();
    this.files.delete(key);
    this.metrics.openFiles.set(this.files.size);
    this.metrics.lagBytes.remove({ path: file.path });
    this.logger.info({ path: file.path }, 'closed removed file');
  }

  #flushCheckpoints(): void {
    let series = 0;
    for (const file of this.files.values()) {
      if (series++ >= MAX_LAG_SERIES) break;
      this.metrics.lagBytes.set({ path: file.path }, Math.max(0, file.size - file.tracker.acked));
    }
    try {
      this.store.flush();
    } catch (error) {
      this.logger.error({ err: error }, 'cannot write checkpoints');
    }
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#wake?.();
    const aborted = new Promise<void>((resolve) => {
      if (deadline.aborted) resolve();
      deadline.addEventListener('abort', () => resolve(), { once: true });
    });
    const drain = async () => {
      await this.#scanning;
      await this.#loop;
      // Read every file to its current end: the app has exited, its last lines are on disk.
      for (;;) {
        if (deadline.aborted) return;
        const read = await this.#finalPass();
        if (read === 0) break;
      }
      const readTime = new Date().toISOString();
      for (const file of this.files.values()) file.flushPending(readTime);
      await this.pipeline.drain();
    };
    await Promise.race([drain(), aborted]);
    if (deadline.aborted) {
      this.pipeline.abort();
      this.logger.warn('grace period over: writing checkpoints of what was acknowledged');
    }
    this.#flushCheckpoints();
    for (const file of this.files.values()) await file.close();
    await this.output.close();
  }

  async #finalPass(): Promise<number> {
    let total = 0;
    const readTime = new Date().toISOString();
    for (const file of this.files.values()) {
      await this.pipeline.waitForRoom();
      try {
        await file.check();
        if (!file.atEnd) total += await file.readChunk(readTime);
      } catch (error) {
        this.logger.warn({ path: file.path, err: error }, 'read failed during shutdown');
      }
    }
    return total;
  }
}

export { sleep };
