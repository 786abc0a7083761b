import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('npm run demo (scripts/demo.mjs, on the built packages)', () => {
  it('stops cleanly on Ctrl-C: the SIGINT to its whole process group is not a second signal for the sidecars', async () => {
    // detached: the demo leads its own process group, as a shell's foreground job does; Ctrl-C signals that group.
    const demo = spawn(process.execPath, [join(root, 'scripts/demo.mjs')], {
      cwd: root,
      env: { ...process.env, DEMO_DIR: mkdtempSync(join(tmpdir(), 'demo-')) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    try {
      // Up once it prints where the app answers (after every process has started).
      const deadline = Date.now() + 60_000;
      while (!/the app\s+http:\/\/127\.0\.0\.1:8080\//.test(output) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 200));
      expect(output).toMatch(/the app\s+http:\/\/127\.0\.0\.1:8080\//);
      process.kill(-(demo.pid as number), 'SIGINT');
      expect(await exited).toBe(0);
      expect(output).toContain('all stopped cleanly');
      expect(output).not.toContain('second signal');
    } finally {
      if (demo.exitCode === null) process.kill(-(demo.pid as number), 'SIGKILL');
    }
  }, 120_000);
});
