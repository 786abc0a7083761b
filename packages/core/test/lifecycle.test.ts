import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const fixture = new URL('./fixtures/work-sidecar.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'core-life-'));

interface Started {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
}

async function startFixture(workMs: number, graceMs: number): Promise<Started> {
  const file = join(dir, `c-${workMs}-${graceMs}.yaml`);
  writeFileSync(
    file,
    `work: { ms: ${workMs} }\nshutdown: { graceMs: ${graceMs} }\nadmin: { listen: 127.0.0.1:0 }\n`,
  );
  const child = spawn(process.execPath, [fixture, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  let started: () => void;
  const ready = new Promise<void>((resolve) => {
    started = resolve;
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let index = buffer.indexOf('\n');
    while (index >= 0) {
      const line = JSON.parse(buffer.slice(0, index)) as Record<string, unknown>;
      lines.push(line);
      if (line['msg'] === 'work-sidecar started') started();
      buffer = buffer.slice(index + 1);
      index = buffer.indexOf('\n');
    }
  });
  await ready;
  return { child, lines };
}

async function exitAfterSigterm({ child }: Started): Promise<{ code: number | null; elapsedMs: number }> {
  const begin = performance.now();
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, elapsedMs: performance.now() - begin };
}

describe('shutdown on SIGTERM', () => {
  it('lets in-flight work finish within graceMs, then exits 0', async () => {
    const started = await startFixture(300, 5_000);
    const { code } = await exitAfterSigterm(started);
    expect(code).toBe(0);
    expect(started.lines.map((l) => l['msg'])).toContain('in-flight work finished');
    expect(started.lines.at(-1)).toMatchObject({ msg: 'stopped', clean: true });
  });

  it('cuts off a component that overruns at graceMs and exits 1', async () => {
    const started = await startFixture(60_000, 400);
    const { code, elapsedMs } = await exitAfterSigterm(started);
    expect(code).toBe(1);
    expect(elapsedMs).toBeLessThan(30_000); // far below the 60 s the work wanted: it was cut off
    expect(started.lines.map((l) => l['msg'])).not.toContain('in-flight work finished');
    expect(started.lines.find((l) => l['msg'] === 'grace period over: component cut off')).toMatchObject({
      component: 'worker',
      graceMs: 400,
    });
  });

  it('exits at once on a second signal', async () => {
    const started = await startFixture(60_000, 60_000);
    started.child.kill('SIGTERM');
    // Signals of one kind do not queue: wait until the first was handled before sending the second.
    while (!started.lines.some((l) => l['msg'] === 'shutting down'))
      await new Promise((r) => setTimeout(r, 20));
    const { code } = await exitAfterSigterm(started);
    expect(code).toBe(1);
    expect(started.lines.map((l) => l['msg'])).toContain('second signal: exiting now');
  });

  it('writes every log line as one JSON object with level and time', async () => {
    const started = await startFixture(0, 1_000);
    await exitAfterSigterm(started);
    for (const line of started.lines) {
      expect(typeof line['level']).toBe('string');
      expect(Number.isNaN(Date.parse(String(line['time'])))).toBe(false);
    }
  });
});
