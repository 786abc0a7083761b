import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningShipper, shippedDocs, startShipper, until, workDir } from './helpers.js';

let shipper: RunningShipper | undefined;
afterEach(async () => {
  await shipper?.signal('SIGTERM');
  shipper = undefined;
});

function config(dir: string, extra = ''): string {
  return `inputs:\n  - paths: ["${dir}/logs/*.log"]\n    format: raw\n${extra}state: { dir: ${dir}/state, flushMs: 200 }\nscanIntervalMs: 200\noutput:\n  type: file\n  file: { path: ${dir}/out.ndjson }\nadmin: { listen: 127.0.0.1:0 }\nlog: { level: warn }\n`;
}

function messages(dir: string): string[] {
  return shippedDocs<{ message: string }>(dir).map((doc) => doc.message);
}

function writeFiles(dir: string, files: number, lines: number): Set<string> {
  const expected = new Set<string>();
  for (let f = 0; f < files; f++) {
    let text = '';
    for (let l = 0; l < lines; l++) {
      const line = `file ${f} line ${l} ${'x'.repeat(40)}`;
      expected.add(line);
      text += `${line}\n`;
    }
    writeFileSync(join(dir, 'logs', `app-${String(f).padStart(4, '0')}.log`), text);
  }
  return expected;
}

/** Fails on a duplicate: each line must be shipped once. */
function shippedOnce(dir: string): Set<string> {
  const seen = messages(dir);
  const unique = new Set(seen);
  expect(unique.size).toBe(seen.length);
  return unique;
}

describe('many files', () => {
  it('2,000 files: every line once, open fds under maxOpenFiles + a constant, RSS bounded; idle files reopened when they grow', async () => {
    const dir = workDir('many');
    const expected = writeFiles(dir, 2000, 3);
    const started = Date.now();
    shipper = startShipper(dir, config(dir, '    closeInactiveMs: 500\nmaxOpenFiles: 100\n'));
    const running = shipper;
    await until('the first document', () => messages(dir).length > 0);
    const firstDocumentMs = Date.now() - started;
    await until('every line', () => messages(dir).length >= expected.size, 120_000);
    expect(shippedOnce(dir)).toEqual(expected);
    // Idle files were closed; a line appended to some of them is found by a scan and read after a reopen.
    for (let f = 0; f < 2000; f += 20) {
      const line = `file ${f} appended`;
      expected.add(line);
      appendFileSync(join(dir, 'logs', `app-${String(f).padStart(4, '0')}.log`), `${line}\n`);
    }
    await until('the appended lines', () => messages(dir).length >= expected.size, 60_000);
    expect(shippedOnce(dir)).toEqual(expected);
    const fdsNow = running.openFds();
    console.log(
      `2000 files: first document after ${firstDocumentMs} ms, peak fds ${running.peakFds()}, fds now ${fdsNow}, peak RSS ${running.peakRssMiB().toFixed(0)} MiB, RSS now ${running.rssMiB().toFixed(0)} MiB`,
    );
    // Node itself holds ~20-30 (stdio, epoll, eventfds, the admin socket, inotify, the checkpoint store's two).
    expect(running.peakFds()).toBeLessThan(100 + 40);
    expect(running.peakRssMiB()).toBeLessThan(200);
    expect(await running.signal('SIGTERM')).toBe(0);
    shipper = undefined;
  }, 240_000);

  it('under ulimit -n 200 with 1,000 files: every file shipped, EMFILE a back-off with one warning, checkpoints kept', async () => {
    const dir = workDir('emfile');
    const expected = writeFiles(dir, 1000, 2);
    shipper = startShipper(dir, config(dir), {}, { fdLimit: 200 });
    const running = shipper;
    await until('every line', () => messages(dir).length >= expected.size, 120_000);
    expect(shippedOnce(dir)).toEqual(expected);
    await until('checkpoints of every file', () => {
      try {
        const state = JSON.parse(readFileSync(join(dir, 'state', 'checkpoints.json'), 'utf8')) as {
          files: Record<string, { offset: number }>;
        };
        const entries = Object.values(state.files);
        return entries.length === 1000 && entries.every((entry) => entry.offset > 0);
      } catch {
        return false;
      }
    });
    expect(await running.signal('SIGTERM')).toBe(0);
    const logs = running.logLines();
    const fdWarnings = logs.filter((line) => /EMFILE|ENFILE|file descriptors/.test(JSON.stringify(line)));
    console.log(
      `ulimit 200: ${fdWarnings.length} fd warnings, ${logs.length} log lines, peak fds ${running.peakFds()}`,
    );
    expect(fdWarnings.length).toBeGreaterThanOrEqual(1);
    expect(fdWarnings.length).toBeLessThanOrEqual(3);
    expect(logs.filter((line) => /checkpoint/.test(String(line['msg'])))).toEqual([]);
    expect(logs.filter((line) => line['level'] === 'error' || line['level'] === 50)).toEqual([]);
    shipper = undefined;
  }, 240_000);
});
