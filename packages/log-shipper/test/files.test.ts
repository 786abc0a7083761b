import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningShipper, shippedDocs, sleep, startShipper, until, workDir } from './helpers.js';

const BIN = new URL('../bin/log-shipper.js', import.meta.url).pathname;

let shipper: RunningShipper | undefined;
afterEach(async () => {
  await shipper?.signal('SIGTERM');
  shipper = undefined;
});

function config(dir: string, paths: string, extra = ''): string {
  return `inputs:\n  - paths: ["${paths}"]\n    format: raw\n${extra}state: { dir: ${dir}/state, flushMs: 50 }\nscanIntervalMs: 100\noutput:\n  type: file\n  file: { path: ${dir}/out.ndjson }\nadmin: { listen: 127.0.0.1:0 }\nlog: { level: warn }\n`;
}

function messages(dir: string): string[] {
  return shippedDocs<{ message: string }>(dir).map((doc) => doc.message);
}

describe('files', () => {
  it('follows symlinks, as /var/log/containers links to /var/log/pods', async () => {
    const dir = workDir('symlink');
    mkdirSync(join(dir, 'pods'));
    mkdirSync(join(dir, 'containers'));
    writeFileSync(join(dir, 'pods', '0.log'), 'through a link\n');
    symlinkSync(join(dir, 'pods', '0.log'), join(dir, 'containers', 'app_default_web-1234.log'));
    shipper = startShipper(dir, config(dir, `${dir}/containers/*.log`));
    await until('the linked file', () => messages(dir).length >= 1);
    appendFileSync(join(dir, 'pods', '0.log'), 'second\n');
    await until('the appended line', () => messages(dir).length >= 2);
    expect(messages(dir)).toEqual(['through a link', 'second']);
  });

  it('reads a rotated file that leaves the glob to its end before closing it', async () => {
    const dir = workDir('leaves');
    const log = join(dir, 'logs', 'app.log');
    writeFileSync(log, 'one\n');
    shipper = startShipper(dir, config(dir, `${dir}/logs/*.log`, '    closeRemovedAfterMs: 500\n'));
    await until('first line', () => messages(dir).length >= 1);
    // Rotated out of the glob (app.log -> app.log.1), then written once more by the app's open handle.
    renameSync(log, join(dir, 'logs', 'app.log.1'));
    appendFileSync(join(dir, 'logs', 'app.log.1'), 'two\nthree\n');
    writeFileSync(log, 'four\n');
    await until('every line', () => messages(dir).length >= 4);
    expect(messages(dir).sort()).toEqual(['four', 'one', 'three', 'two']);
  });

  it('ships what a deleted file still held', async () => {
    const dir = workDir('deleted');
    const log = join(dir, 'logs', 'app.log');
    writeFileSync(log, 'kept\n');
    shipper = startShipper(dir, config(dir, `${dir}/logs/*.log`));
    await until('first line', () => messages(dir).length >= 1);
    appendFileSync(log, 'written just before the delete\n');
    unlinkSync(log);
    await until('the last line', () => messages(dir).length >= 2);
    expect(messages(dir)).toEqual(['kept', 'written just before the delete']);
  });

  it('copytruncate where the new content outgrows the old offset before a scan: each line once', async () => {
    const dir = workDir('outgrown');
    const log = join(dir, 'logs', 'app.log');
    const lines = (from: number, to: number) => {
      let text = '';
      for (let n = from; n <= to; n += 1) text += `line ${n} ${'x'.repeat(60)}\n`;
      return text;
    };
    writeFileSync(log, lines(1, 100));
    // Scans far apart: the reader (woken by the watcher) meets the rewritten file before a scan does.
    shipper = startShipper(
      dir,
      config(dir, `${dir}/logs/app.log*`).replace('scanIntervalMs: 100', 'scanIntervalMs: 3000'),
    );
    await until('the first file', () => messages(dir).length >= 100);
    copyFileSync(log, `${log}.1`);
    writeFileSync(log, lines(101, 400)); // truncated and rewritten longer than before, at once
    await until('every line', () => messages(dir).length >= 400, 20_000);
    await sleep(3_500); // a full scan interval: nothing more may come
    const seen = messages(dir);
    expect(seen).toHaveLength(400);
    expect(new Set(seen).size).toBe(400);
  });
});

describe('files closed for inactivity (closeInactiveMs) are reopened by identity', () => {
  const long = (from: number, to: number, tag: string) => {
    let text = '';
    for (let n = from; n <= to; n += 1) text += `${tag} ${n} ${'x'.repeat(60)}\n`;
    return text;
  };

  it('renamed while closed, then grown: resumes where it was (no line twice), and the new file under the old name is read from its start', async () => {
    const dir = workDir('closed-renamed');
    const log = join(dir, 'logs', 'app.log');
    writeFileSync(log, long(1, 30, 'old'));
    shipper = startShipper(dir, config(dir, `${dir}/logs/app.log*`, '    closeInactiveMs: 100\n'));
    await until('the first lines', () => messages(dir).length >= 30);
    await sleep(600); // closed as inactive
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, long(31, 40, 'old'));
    writeFileSync(log, long(1, 5, 'new'));
    await until('every line', () => messages(dir).length >= 45);
    await sleep(500);
    const seen = messages(dir);
    expect(seen).toHaveLength(45);
    expect(new Set(seen).size).toBe(45);
  });

  it('rewritten in place while closed (same inode, other first bytes, longer than before): read as new content', async () => {
    const dir = workDir('closed-rewritten');
    const log = join(dir, 'logs', 'app.log');
    writeFileSync(log, long(1, 30, 'first'));
    shipper = startShipper(dir, config(dir, `${dir}/logs/*.log`, '    closeInactiveMs: 100\n'));
    await until('the first lines', () => messages(dir).length >= 30);
    await sleep(600); // closed as inactive
    writeFileSync(log, long(1, 60, 'second')); // truncated and rewritten longer, at once
    await until('the new content', () => messages(dir).length >= 90);
    await sleep(500);
    const seen = messages(dir);
    expect(seen).toHaveLength(90);
    expect(seen.filter((line) => line.startsWith('second'))).toHaveLength(60);
  });
});

describe('bad config', () => {
  it.each([
    [
      'an unknown key',
      'inputs: [{ paths: ["/x/*.log"], formatt: raw }]\nstate: { dir: /tmp/s }\noutput: { type: stdout }\n',
      'inputs[0].formatt: unknown key',
    ],
    [
      'a wrong format',
      'inputs: [{ paths: ["/x/*.log"], format: xml }]\nstate: { dir: /tmp/s }\noutput: { type: stdout }\n',
      'inputs[0].format',
    ],
    [
      'a bad multiline regex',
      'inputs: [{ paths: ["/x/*.log"], multiline: { start: "(" } }]\nstate: { dir: /tmp/s }\noutput: { type: stdout }\n',
      'inputs[0].multiline.start: expected a valid regular expression',
    ],
    [
      'elasticsearch without its section',
      'inputs: [{ paths: ["/x/*.log"] }]\nstate: { dir: /tmp/s }\noutput: { type: elasticsearch }\n',
      'output.elasticsearch: required when type is elasticsearch',
    ],
    [
      'both index and dataStream',
      'inputs: [{ paths: ["/x/*.log"] }]\nstate: { dir: /tmp/s }\noutput: { type: elasticsearch, elasticsearch: { node: "http://127.0.0.1:9200", index: a, dataStream: logs-a-b } }\n',
      'output.elasticsearch: expected exactly one of index or dataStream',
    ],
    ['a missing state dir', 'inputs: [{ paths: ["/x/*.log"] }]\noutput: { type: stdout }\n', 'state'],
    [
      'a misspelt top-level key',
      'inputs: [{ paths: ["/x/*.log"] }]\nstate: { dir: /tmp/s }\noutput: { type: stdout }\nadmn: { listen: 127.0.0.1:0 }\n',
      ':4:1: admn: unknown key "admn" (did you mean "admin"?)',
    ],
    [
      'a misspelt nested key',
      'inputs: [{ paths: ["/x/*.log"], multilne: { start: "^x" } }]\nstate: { dir: /tmp/s }\noutput: { type: stdout }\n',
      'inputs[0].multilne: unknown key "multilne" (did you mean "multiline"?)',
    ],
  ])('rejects %s: exit 2, one line naming the file and field, no stack trace', (_name, yaml, message) => {
    const dir = workDir('config');
    const file = join(dir, 'shipper.yaml');
    writeFileSync(file, yaml);
    const result = spawnSync(process.execPath, [BIN, '--check-config', '--config', file], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reports several problems at once, one line each, the misspelling before the missing section it explains', () => {
    const dir = workDir('config');
    const file = join(dir, 'shipper.yaml');
    writeFileSync(
      file,
      'inputs: [{ paths: ["/x/*.log"], format: xml }]\nstat: { dir: /tmp/s }\noutput: { type: stdout }\n',
    );
    const result = spawnSync(process.execPath, [BIN, '--check-config', '--config', file], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain(`${file}:2:1: stat: unknown key "stat" (did you mean "state"?)`);
    expect(lines.slice(1).join('\n')).toContain('inputs[0].format');
    expect(lines.slice(1).join('\n')).toContain('state: required');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
