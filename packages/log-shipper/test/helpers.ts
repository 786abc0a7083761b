import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../bin/log-shipper.js', import.meta.url).pathname;

export function workDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `log-shipper-${name}-`));
  mkdirSync(join(dir, 'logs'));
  return dir;
}

export interface RunningShipper {
  child: ChildProcess;
  output: () => string;
  logLines: () => Array<Record<string, unknown>>;
  /** Highest resident set size seen so far (VmHWM), in MiB. */
  peakRssMiB: () => number;
  /** Resident set size now (VmRSS), in MiB. */
  rssMiB: () => number;
  /** File descriptors the process holds now (entries of /proc/<pid>/fd). */
  openFds: () => number;
  /** Most file descriptors seen held at once so far (sampled every 100 ms). */
  peakFds: () => number;
  signal: (signal: NodeJS.Signals) => Promise<number | null>;
}

export interface StartOptions {
  /** Runs the bin under `ulimit -n <fdLimit>` (through bash, exec'ed: the pid is the shipper's). */
  fdLimit?: number;
}

/** Runs the real bin as a child process, the way a container runs it. */
export function startShipper(
  dir: string,
  configYaml: string,
  env: NodeJS.ProcessEnv = {},
  options: StartOptions = {},
): RunningShipper {
  const file = join(dir, `config-${Date.now()}-${Math.random()}.yaml`);
  writeFileSync(file, configYaml);
  const args = [bin, '--config', file];
  const child =
    options.fdLimit === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
      : spawn('bash', ['-c', `ulimit -n ${options.fdLimit}; exec "$0" "$@"`, process.execPath, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, ...env },
        });
  let output = '';
  let logs = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    logs += chunk.toString();
  });
  let peak = 0;
  let peakFds = 0;
  const openFds = () => {
    try {
      return readdirSync(`/proc/${child.pid}/fd`).length;
    } catch {
      return 0; // exited
    }
  };
  const sampler = setInterval(() => {
    peakFds = Math.max(peakFds, openFds());
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1024);
    } catch {
      // exited
    }
  }, 100);
  child.once('exit', () => clearInterval(sampler));
  return {
    child,
    output: () => output,
    logLines: () =>
      completeLines(output + logs)
        .filter((line) => line.startsWith('{"level"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    peakRssMiB: () => peak,
    openFds,
    peakFds: () => peakFds,
    rssMiB: () => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
      } catch {
        return 0;
      }
    },
    signal: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/**
 * The complete lines of a file or stream another process is still writing: a read can end
 * inside a line the writer has not finished, so what follows the last newline is left for
 * the next read.
 */
export function completeLines(text: string): string[] {
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean);
}

/** The documents the file output has written so far, each line parsed as JSON. */
export function shippedDocs<T>(dir: string): T[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'out.ndjson'), 'utf8');
  } catch {
    return [];
  }
  return completeLines(text).map((line) => JSON.parse(line) as T);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined or false; fails after timeoutMs. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}
