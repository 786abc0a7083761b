import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import type { BatchLimits } from '../batch/dispatcher.js';
import type { Batch, Output, OutputStatus } from './output.js';

/** NDJSON to a stream: stdout (the demo, debugging) or an appended file. A write that completes is an acknowledgement. */
export class StreamOutput implements Output {
  /** Fixed, not configurable: batches of at most 1000 events / 1 MiB, one at a time. */
  static readonly batchLimits: BatchLimits = {
    maxDocs: 1000,
    maxBytes: 1024 * 1024,
    flushMs: 200,
    concurrency: 1,
  };

  #lastDeliveryAt: number | undefined;
  #failure: { since: number; reason: string } | undefined;
  #delivered = 0;

  constructor(
    readonly name: string,
    private readonly stream: Writable,
    private readonly closeStream: boolean,
    private readonly destination: string = name,
  ) {}

  static stdout(): StreamOutput {
    return new StreamOutput('stdout', process.stdout, false);
  }

  static file(path: string): StreamOutput {
    mkdirSync(dirname(path), { recursive: true });
    const stream: WriteStream = createWriteStream(path, { flags: 'a' });
    return new StreamOutput('file', stream, true, path);
  }

  send(batch: Batch): Promise<boolean> {
    return new Promise((resolve, reject) => {
      // No action lines: the body is NDJSON already. The callback comes once it is written, so its buffer may be reused.
      this.stream.write(batch.body, (error) => {
        if (error) {
          this.#failure ??= { since: Date.now(), reason: error.message };
          reject(error);
          return;
        }
        this.#lastDeliveryAt = Date.now();
        this.#delivered += batch.count;
        this.#failure = undefined;
        resolve(true);
      });
    });
  }

  status(): OutputStatus {
    return {
      destination: this.destination,
      state: this.#failure ? 'failed' : 'ok',
      delivered: this.#delivered,
      ...(this.#failure ? { since: this.#failure.since, reason: this.#failure.reason } : {}),
      ...(this.#lastDeliveryAt ? { lastDeliveryAt: this.#lastDeliveryAt } : {}),
    };
  }

  ready(): true {
    return true;
  }

  async close(): Promise<void> {
    if (!this.closeStream) return;
    await new Promise<void>((resolve) => this.stream.end(resolve));
  }
}
