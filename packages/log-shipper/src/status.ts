import { getHeapStatistics } from 'node:v8';
import {
  type Counter,
  formatAge,
  formatDuration,
  type StatusCell,
  type StatusModel,
  type StatusState,
} from '@sidecar-kit/core';
import type { QueueState } from './batch/dispatcher.js';
import type { LogShipperConfig } from './config.js';
import type { ShipperMetrics } from './metrics.js';
import type { Output, OutputStatus } from './output/output.js';
import type { FileStatus } from './shipper.js';

/** What the log-shipper's status page reads: the objects that keep the data anyway. */
export interface ShipperStatusSources {
  config: Pick<LogShipperConfig, 'inputs' | 'output' | 'state' | 'scanIntervalMs'>;
  shipper: { files(): FileStatus[]; readonly queue: QueueState; readonly lastScan: number };
  output: Pick<Output, 'name' | 'status'>;
  checkpoints: { readonly lastWriteAt: number; readonly size: number };
  metrics: Pick<ShipperMetrics, 'shipped' | 'retried' | 'deadLettered' | 'deadLetterRotations' | 'readBytes'>;
}

/** "512 B", "3.4 KiB", "16.0 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

async function total(counter: Counter): Promise<number> {
  return (await counter.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/** A use against its limit, warned from 80 %, failing when reached. */
function usage(now: number, limit: number, text: (n: number) => string): StatusCell[] {
  const share = limit > 0 ? now / limit : 0;
  const state: StatusState = share >= 1 ? 'bad' : share >= 0.8 ? 'warn' : 'ok';
  return [text(now), text(limit), { value: `${Math.round(share * 100)}%`, state }];
}

function fileRow(file: FileStatus, now: number): StatusCell[] {
  const behind = Math.max(0, file.size - file.ackedOffset);
  const unread = Math.max(0, file.size - file.readOffset);
  const state: StatusCell =
    file.goneSince === undefined
      ? { value: 'following', state: 'ok' }
      : {
          value: 'draining',
          state: 'warn',
          detail: `rotated or deleted ${formatAge(file.goneSince, now)}; closed once read to its end and quiet for ${formatDuration(file.closeRemovedAfterMs / 1000)}`,
        };
  return [
    file.path,
    state,
    file.readOffset,
    file.ackedOffset,
    file.size,
    behind
      ? {
          value: formatBytes(behind),
          detail: `${formatBytes(unread)} unread, ${formatBytes(behind - unread)} read and not acknowledged`,
        }
      : '0 B',
    file.acknowledgedAt === undefined ? 'not since opened' : formatAge(file.acknowledgedAt, now),
    formatAge(file.lastGrowthAt, now),
  ];
}

function outputState(status: OutputStatus | undefined, now: number): StatusCell {
  if (!status) return 'unknown';
  if (status.state === 'ok') return { value: 'ok', state: 'ok' };
  return {
    value: `${status.state} since ${formatAge(status.since, now)}`,
    state: 'bad',
    ...(status.reason ? { detail: status.reason } : {}),
  };
}

/**
 * The log-shipper's status page: each followed file's offsets, the output's state and the queue
 * against its limits, read from what the pipeline keeps anyway (the page does no I/O: sizes are
 * as last read).
 */
export async function shipperStatus(
  sources: ShipperStatusSources,
  now: number = Date.now(),
): Promise<StatusModel> {
  const { config, shipper, output, metrics } = sources;
  const files = shipper.files().sort((a, b) => {
    const gone = Number(a.goneSince !== undefined) - Number(b.goneSince !== undefined);
    return gone || a.path.localeCompare(b.path);
  });
  const globs = config.inputs.flatMap((input) => input.paths).join(', ');
  const queue = shipper.queue;
  const status = output.status?.();
  const [shipped, retried, deadLettered, rotations, readBytes] = await Promise.all([
    total(metrics.shipped),
    total(metrics.retried),
    total(metrics.deadLettered),
    total(metrics.deadLetterRotations),
    total(metrics.readBytes),
  ]);
  const heap = getHeapStatistics();
  const memory = process.memoryUsage();
  const batch = queue.openBatch;
  return {
    sections: [
      {
        title: 'Files',
        note: `Globs: ${globs}; scanned ${formatAge(shipper.lastScan, now)}, every ${formatDuration(config.scanIntervalMs / 1000)}. Offsets and sizes in bytes, sizes as last read; behind is size minus acknowledged. Draining: gone from every glob, shown at the path it was last seen at.`,
        columns: [
          'file',
          'state',
          'read offset',
          'acked offset',
          'size',
          'behind',
          'last acknowledged',
          'last grew',
        ],
        rows: files.map((file) => fileRow(file, now)),
        empty: `no file matches ${globs}`,
      },
      {
        title: 'Output',
        fields: [
          { key: 'type', value: output.name },
          { key: 'destination', value: status?.destination ?? output.name },
          { key: 'state', value: outputState(status, now) },
          { key: 'last delivery', value: formatAge(status?.lastDeliveryAt, now) },
          { key: 'events delivered', value: status?.delivered ?? shipped },
          { key: 'events retried', value: retried },
          {
            key: 'events dead-lettered',
            value: {
              value: deadLettered,
              ...(deadLettered ? { state: 'warn' as const } : {}),
              detail: `${config.output.deadLetter.path}${rotations ? `, rotated ${rotations} times (older letters dropped)` : ''}`,
            },
          },
          { key: 'read since start', value: formatBytes(readBytes) },
        ],
      },
      {
        title: 'Queue and memory',
        note: queue.paused
          ? 'Reading is paused: output.maxBufferedBytes of events are read and not acknowledged; it goes on as batches are delivered.'
          : 'Reading pauses when buffered events reach output.maxBufferedBytes (the log files are the buffer then).',
        columns: ['what', 'now', 'limit', 'use'],
        rows: [
          [
            'buffered (read, not acknowledged)',
            ...usage(queue.bufferedBytes, queue.maxBufferedBytes, formatBytes),
          ],
          ['batches in flight', ...usage(queue.inFlight, queue.concurrency, String)],
          ['batch being filled: events', ...usage(batch.docs, queue.limits.maxDocs, String)],
          ['batch being filled: bytes', ...usage(batch.bytes, queue.limits.maxBytes, formatBytes)],
          [
            'batch being filled: age',
            batch.startedAt === undefined ? 'empty' : formatDuration((now - batch.startedAt) / 1000),
            `sent after ${formatDuration(queue.limits.flushMs / 1000)}`,
            null,
          ],
          ['JS heap used', ...usage(heap.used_heap_size, heap.heap_size_limit, formatBytes)],
          ['resident memory (RSS)', formatBytes(memory.rss), 'the container’s limit', null],
        ],
      },
      {
        title: 'Checkpoints',
        fields: [
          { key: 'file', value: `${config.state.dir}/checkpoints.json` },
          { key: 'files remembered', value: sources.checkpoints.size },
          {
            key: 'last written',
            value: {
              value: formatAge(sources.checkpoints.lastWriteAt, now),
              detail: `written every ${formatDuration(config.state.flushMs / 1000)} when offsets moved`,
            },
          },
        ],
      },
    ],
  };
}
