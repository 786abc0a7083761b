import { describe, expect, it } from 'vitest';
import type { FileStatus } from '../src/index.js';
import { formatBytes, type ShipperStatusSources, shipperStatus } from '../src/index.js';

const counter = (value: number) => ({ get: async () => ({ values: [{ value, labels: {} }] }) });

function sources(files: FileStatus[], overrides: Partial<ShipperStatusSources> = {}): ShipperStatusSources {
  return {
    config: {
      inputs: [{ paths: ['/logs/*.log'] }],
      output: { maxBufferedBytes: 1000, deadLetter: { path: '/state/dead-letter.ndjson' } },
      state: { dir: '/state', flushMs: 1000 },
      scanIntervalMs: 1000,
    } as unknown as ShipperStatusSources['config'],
    shipper: {
      files: () => files,
      lastScan: 0,
      queue: {
        bufferedBytes: 900,
        maxBufferedBytes: 1000,
        paused: false,
        inFlight: 1,
        concurrency: 1,
        openBatch: { docs: 0, bytes: 0 },
        limits: { maxDocs: 1000, maxBytes: 1 << 20, flushMs: 200, concurrency: 1 },
      },
    },
    output: {
      name: 'elasticsearch',
      status: () => ({
        destination: 'http://es:9200 (index logs)',
        state: 'retrying',
        since: 0,
        reason: 'HTTP 503',
      }),
    },
    checkpoints: { lastWriteAt: 0, size: 2 },
    metrics: {
      shipped: counter(10),
      retried: counter(4),
      deadLettered: counter(2),
      deadLetterRotations: counter(0),
      readBytes: counter(2048),
    } as unknown as ShipperStatusSources['metrics'],
    ...overrides,
  };
}

const file = (path: string, extra: Partial<FileStatus> = {}): FileStatus => ({
  path,
  readOffset: 100,
  ackedOffset: 60,
  size: 150,
  acknowledgedAt: 1_000,
  lastGrowthAt: 1_000,
  goneSince: undefined,
  closeRemovedAfterMs: 5000,
  batchesInFlight: 1,
  ...extra,
});

describe('log-shipper status page', () => {
  it('formats bytes for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(3.5 * 1024)).toBe('3.5 KiB');
    expect(formatBytes(16 * 1024 * 1024)).toBe('16.0 MiB');
  });

  it('lists followed files before draining ones, with offsets, size and bytes behind', async () => {
    const model = await shipperStatus(
      sources([file('/logs/z.log', { goneSince: 2_000 }), file('/logs/<b>a</b>.log')]),
      10_000,
    );
    const files = model.sections[0] as { rows: unknown[][]; columns: string[] };
    expect(files.rows.map((row) => row[0])).toEqual(['/logs/<b>a</b>.log', '/logs/z.log']);
    expect(files.rows[0]?.slice(1, 5)).toEqual([{ value: 'following', state: 'ok' }, 100, 60, 150]);
    expect(files.rows[0]?.[5]).toMatchObject({
      value: '90 B',
      detail: '50 B unread, 40 B read and not acknowledged',
    });
    expect(files.rows[0]?.[6]).toBe('9s ago');
    expect(files.rows[1]?.[1]).toMatchObject({ value: 'draining', state: 'warn' });
    for (const row of files.rows) expect(row).toHaveLength(files.columns.length);
  });

  it('shows the output retrying since when, dead letters, and the queue against its limits', async () => {
    const model = await shipperStatus(sources([]), 12_000);
    const output = model.sections[1] as { fields: Array<{ key: string; value: unknown }> };
    const field = (key: string) => output.fields.find((f) => f.key === key)?.value;
    expect(field('state')).toEqual({ value: 'retrying since 12s ago', state: 'bad', detail: 'HTTP 503' });
    expect(field('events delivered')).toBe(10);
    expect(field('events dead-lettered')).toMatchObject({ value: 2, state: 'warn' });
    const queue = model.sections[2] as { rows: unknown[][] };
    expect(queue.rows[0]).toEqual([
      'buffered (read, not acknowledged)',
      '900 B',
      '1000 B',
      { value: '90%', state: 'warn' },
    ]);
    expect(queue.rows[1]?.[3]).toEqual({ value: '100%', state: 'bad' });
    const empty = model.sections[0] as { rows: unknown[]; empty: string };
    expect(empty.rows).toEqual([]);
    expect(empty.empty).toBe('no file matches /logs/*.log');
  });
});
