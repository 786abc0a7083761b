import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

  it('keeps writing checkpoints when the process is out of file descriptors (EMFILE)', () => {
    const dir = workDir('checkpoint-emfile');
    const dist = new URL('../dist/checkpoint/store.js', import.meta.url).href;
    // In a process of its own under ulimit -n 64: every descriptor is taken before each write.
    const script = `
      import { openSync, closeSync } from 'node:fs';
      import { CheckpointStore } from '${dist}';
      const store = new CheckpointStore(${JSON.stringify(dir)}, { info() {}, warn() {}, error() {} });
      store.load();
      const taken = [];
      try { for (;;) taken.push(openSync('/dev/null', 'r')); } catch (error) { if (error.code !== 'EMFILE') throw error; }
      for (let offset = 1; offset <= 3; offset++) {
        store.set('fp:a', { idBase: 'a', offset, path: '/logs/a.log', dev: '1', ino: '2', updatedAt: Date.now() });
        store.flush();
      }
      for (const fd of taken) closeSync(fd);
      console.log('written', taken.length);
    `;
    const result = spawnSync(
      'bash',
      ['-c', 'ulimit -n 64; exec "$0" --input-type=module -e "$1"', process.execPath, script],
      { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^written \d+/);
    const state = JSON.parse(readFileSync(join(dir, 'checkpoints.json'), 'utf8')) as {
      files: Record<string, { offset: number }>;
    };
    expect(state.files['fp:a']?.offset).toBe(3);
  });
});
