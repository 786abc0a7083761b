import { Counter, Gauge, Histogram, type Registry } from '@sidecar-kit/core';

/** The shipper's metrics (prefixed log_shipper_). Per-file series are labelled by path and removed with the file. */
export class ShipperMetrics {
  readonly read: Counter;
  readonly readBytes: Counter;
  readonly shipped: Counter;
  readonly retried: Counter;
  readonly deadLettered: Counter;
  readonly bulkSeconds: Histogram;
  readonly lagBytes: Gauge<'path'>;
  readonly openFiles: Gauge;
  readonly bufferedBytes: Gauge;
  readonly deadLetterRotations: Counter;
  readonly checkpointLastWrite: Gauge;

  constructor(registry: Registry, prefix: string, sources: { checkpointLastWriteAt?: () => number } = {}) {
    const registers = [registry];
    this.read = new Counter({
      name: `${prefix}events_read_total`,
      help: 'Events read from log files.',
      registers,
    });
    this.readBytes = new Counter({
      name: `${prefix}read_bytes_total`,
      help: 'Bytes read from log files.',
      registers,
    });
    this.shipped = new Counter({
      name: `${prefix}events_shipped_total`,
      help: 'Events acknowledged by the output (a 409 for an already stored id counts).',
      registers,
    });
    this.retried = new Counter({
      name: `${prefix}events_retried_total`,
      help: 'Events sent again after a failed request or a 429/5xx item.',
      registers,
    });
    this.deadLettered = new Counter({
      name: `${prefix}events_dead_lettered_total`,
      help: 'Events refused for good and written to the dead-letter file.',
      registers,
    });
    this.bulkSeconds = new Histogram({
      name: `${prefix}bulk_request_duration_seconds`,
      help: 'Duration of successful bulk requests.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.lagBytes = new Gauge({
      name: `${prefix}file_lag_bytes`,
      help: 'File size minus acknowledged offset.',
      labelNames: ['path'],
      registers,
    });
    this.openFiles = new Gauge({ name: `${prefix}open_files`, help: 'Files open for reading.', registers });
    this.deadLetterRotations = new Counter({
      name: `${prefix}dead_letter_rotations_total`,
      help: 'Times the dead-letter file reached maxBytes and replaced its .1 (older letters dropped).',
      registers,
    });
    this.checkpointLastWrite = new Gauge({
      name: `${prefix}checkpoint_last_write_timestamp_seconds`,
      help: 'Unix time the checkpoints were last written (progress recorded); the start counts as a write.',
      registers,
      collect() {
        if (sources.checkpointLastWriteAt) this.set(sources.checkpointLastWriteAt() / 1000);
      },
    });
    this.bufferedBytes = new Gauge({
      name: `${prefix}buffered_bytes`,
      help: 'Bytes of events read but not yet acknowledged.',
      registers,
    });
  }
}
