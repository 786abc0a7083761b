import { createLogger } from '@sidecar-kit/core';
import { describe, expect, it } from 'vitest';
import { CheckpointStore } from '../src/index.js';
import { sleep, workDir } from './helpers.js';

describe('checkpoint store', () => {
  it('records when progress was last written (log_shipper_checkpoint_last_write_timestamp_seconds), and only when there was progress', async () => {
    const store = new CheckpointStore(workDir('checkpoint'), createLogger({ name: 'test', level: 'silent' }));
    store.load();
    const started = store.lastWriteAt;
    expect(started).toBeGreaterThan(Date.now() - 5_000);

    await sleep(20);
    store.flush();
    expect(store.lastWriteAt).toBe(started);

    store.set('ino:1:2', {
      idBase: 'a',
      offset: 10,
      path: '/logs/a.log',
      dev: '1',
      ino: '2',
      updatedAt: Date.now(),
    });
    store.flush();
    expect(store.lastWriteAt).toBeGreaterThan(started);
  });
});
