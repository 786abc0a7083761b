import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const fixture = new URL('./fixtures/slow-start-sidecar.mjs', import.meta.url).pathname;

/** Runs the fixture, sends `signal` once `when` appears in its output, resolves with how it ended. */
function signalWhen(when: string, signal: NodeJS.Signals, loadMs: number) {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, LOAD_MS: String(loadMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let sent = false;
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    if (!sent && output.includes(when)) {
      sent = true;
      child.kill(signal);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) =>
    child.once('exit', (code, exitSignal) => resolve({ code, signal: exitSignal, output })),
  );
}

describe('startCli (a sidecar bin)', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'a %s while the modules still load exits 0 at once: nothing has started, and the process does not die of the signal',
    async (signal) => {
      const result = await signalWhen('loading', signal, 5000);
      expect(result).toMatchObject({ code: 0, signal: null });
      expect(result.output).not.toContain('worker started');
    },
  );

  it("once started, a SIGTERM is the CLI's: drained and logged, exit 0", async () => {
    const result = await signalWhen('slow-start-sidecar started', 'SIGTERM', 0);
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.output).toContain('"msg":"shutting down"');
    expect(result.output).toContain('"clean":true');
  });
});
