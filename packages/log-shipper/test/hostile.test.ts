import { appendFileSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningShipper, shippedDocs, sleep, startShipper, until, workDir } from './helpers.js';

let shipper: RunningShipper | undefined;
afterEach(async () => {
  await shipper?.signal('SIGTERM');
  shipper = undefined;
});

interface Doc {
  message: string;
  log: { offset: number; file: { path: string }; flags?: string[] };
  [key: string]: unknown;
}

function config(dir: string, paths: string, extra = '', format = 'raw'): string {
  return `inputs:\n  - paths: ["${paths}"]\n    format: ${format}\n${extra}state: { dir: ${dir}/state, flushMs: 50 }\nscanIntervalMs: 100\noutput:\n  type: file\n  file: { path: ${dir}/out.ndjson }\nadmin: { listen: 127.0.0.1:0 }\nlog: { level: warn }\n`;
}

/** Every complete output line must be valid JSON: a line that is not fails the test here. */
const shipped = (dir: string): Doc[] => shippedDocs<Doc>(dir);

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The shipper's own warnings and errors (its logs are JSON lines on stdout). */
function complaints(running: RunningShipper): Array<Record<string, unknown>> {
  return running.logLines().filter((line) => line['level'] === 'warn' || line['level'] === 'error');
}

describe('hostile input', () => {
  it('a 50 MB line without a newline: bounded memory, other files keep shipping; once ended it is cut at maxLineBytes on a character boundary and flagged', async () => {
    const dir = workDir('huge-line');
    const huge = join(dir, 'logs', 'huge.log');
    // 'a' then 2-byte characters: maxLineBytes (256 KiB, the default) falls inside a character.
    writeFileSync(huge, Buffer.concat([Buffer.from('a'), Buffer.alloc(50 * 1024 * 1024, 'é')]));
    writeFileSync(join(dir, 'logs', 'other.log'), 'other 1\n');
    shipper = startShipper(dir, config(dir, `${dir}/logs/*.log`));
    const running = shipper;
    await until('the other file', () => shipped(dir).length >= 1);
    await sleep(1500); // the huge file is read past meanwhile (50 MB at disk speed)
    appendFileSync(join(dir, 'logs', 'other.log'), 'other 2\n');
    await until('the other file again', () => shipped(dir).length >= 2);
    appendFileSync(huge, '\nafter the huge line\n');
    const docs = await until('the huge line and the next', () =>
      shipped(dir).length >= 4 ? shipped(dir) : undefined,
    );
    const cut = docs.find((doc) => doc.log.flags?.includes('truncated'));
    expect(cut?.message.startsWith('aéé')).toBe(true);
    expect(cut?.message).not.toContain('\ufffd');
    expect(Buffer.byteLength(cut?.message ?? '')).toBeGreaterThan(256 * 1024 - 4);
    expect(Buffer.byteLength(cut?.message ?? '')).toBeLessThanOrEqual(256 * 1024);
    expect(docs.map((doc) => (doc === cut ? 'cut' : doc.message)).sort()).toEqual(
      ['after the huge line', 'cut', 'other 1', 'other 2'].sort(),
    );
    const after = docs.find((doc) => doc.message === 'after the huge line');
    expect(after?.log.offset).toBe(1 + 50 * 1024 * 1024 + 1);
    console.log(`50 MB line: peak RSS ${running.peakRssMiB().toFixed(0)} MiB`);
    expect(running.peakRssMiB()).toBeLessThan(200); // 50 MB held (as a string: 100+ MB) would pass it
    expect(complaints(running)).toEqual([]);
  });

  it('NUL bytes and invalid UTF-8 are shipped as replacement characters or escapes: valid JSON of valid Unicode, never a crash', async () => {
    const dir = workDir('bytes');
    const lines = [
      Buffer.from('nul \u0000 inside'),
      Buffer.from([
        0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x20, 0xc0, 0xaf, 0x20, 0xed, 0xa0, 0x80, 0x20, 0xe2, 0x82,
      ]),
      Buffer.from('{"message":"json with \\u0000 and a lone \\ud800 surrogate","k":"\\udfff"}'),
      Buffer.concat([
        Buffer.from('{"message":"invalid '),
        Buffer.from([0xf0, 0x28, 0x8c, 0x28]),
        Buffer.from('"}'),
      ]),
      Buffer.from('ok'),
    ];
    writeFileSync(
      join(dir, 'logs', 'app.log'),
      Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')])),
    );
    shipper = startShipper(dir, config(dir, `${dir}/logs/*.log`, '', 'json'));
    const docs = await until('every line', () =>
      shipped(dir).length >= lines.length ? shipped(dir) : undefined,
    );
    const text = readFileSync(join(dir, 'out.ndjson'), 'utf8');
    expect(LONE_SURROGATE.test(text)).toBe(false);
    expect(text).not.toMatch(/\\ud[89a-f]/i); // no escaped lone surrogate either
    expect(docs.map((doc) => doc.message)).toEqual([
      'nul \u0000 inside',
      'bad \ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd \ufffd',
      'json with \u0000 and a lone \ufffd surrogate',
      'invalid \ufffd(\ufffd(',
      'ok',
    ]);
    expect(docs[2]?.['k']).toBe('\ufffd');
    expect(docs[0]?.log.flags).toEqual(['json_parse_error']);
    expect(complaints(shipper)).toEqual([]);
  });

  it('a file deleted while it is read: all it held is shipped, it is closed, no error loop; other files go on', async () => {
    const dir = workDir('deleted-while-read');
    const log = join(dir, 'logs', 'big.log');
    let text = '';
    for (let n = 0; n < 200_000; n++) text += `line ${n} ${'x'.repeat(80)}\n`;
    writeFileSync(log, text);
    shipper = startShipper(dir, config(dir, `${dir}/logs/*.log`, '    closeRemovedAfterMs: 200\n'));
    const running = shipper;
    await until('the first lines', () => shipped(dir).length > 0, 60_000);
    unlinkSync(log);
    writeFileSync(join(dir, 'logs', 'other.log'), 'after the delete\n');
    await until('every line', () => shipped(dir).length >= 200_001, 120_000);
    await sleep(1000);
    const docs = shipped(dir);
    expect(docs).toHaveLength(200_001);
    expect(new Set(docs.map((doc) => doc.message)).size).toBe(200_001);
    expect(complaints(running)).toEqual([]);
    // Closed: the deleted file's descriptor is gone.
    expect(running.openFds()).toBeLessThan(40);
  }, 180_000);

  it('a file deleted while closed for inactivity: nothing to reopen, no error loop, other files go on', async () => {
    const dir = workDir('deleted-while-closed');
    writeFileSync(join(dir, 'logs', 'a.log'), 'a 1\n');
    writeFileSync(join(dir, 'logs', 'b.log'), 'b 1\n');
    shipper = startShipper(
      dir,
      config(dir, `${dir}/logs/*.log`, '    closeInactiveMs: 100\n    closeRemovedAfterMs: 100\n'),
    );
    await until('both files', () => shipped(dir).length >= 2);
    await sleep(500); // both closed as inactive
    unlinkSync(join(dir, 'logs', 'a.log'));
    appendFileSync(join(dir, 'logs', 'b.log'), 'b 2\n');
    await until('the appended line', () => shipped(dir).length >= 3);
    await sleep(500);
    expect(
      shipped(dir)
        .map((doc) => doc.message)
        .sort(),
    ).toEqual(['a 1', 'b 1', 'b 2']);
    expect(complaints(shipper)).toEqual([]);
  });

  it('symlink loops in a watched directory (a link to itself, a cycle, a directory linking to its parent): no hang, no crash, each real file once', async () => {
    const dir = workDir('loops');
    const logs = join(dir, 'logs');
    writeFileSync(join(logs, 'real.log'), 'real 1\n');
    symlinkSync(join(logs, 'self.log'), join(logs, 'self.log'));
    symlinkSync(join(logs, 'b.log'), join(logs, 'a.log'));
    symlinkSync(join(logs, 'a.log'), join(logs, 'b.log'));
    symlinkSync(logs, join(logs, 'sub'));
    mkdirSync(join(logs, 'deeper'));
    symlinkSync(logs, join(logs, 'deeper', 'up'));
    shipper = startShipper(dir, config(dir, `${logs}/**/*.log`));
    await until('the real file', () => shipped(dir).length >= 1);
    appendFileSync(join(logs, 'real.log'), 'real 2\n');
    await until('the appended line', () => shipped(dir).length >= 2);
    await sleep(1000); // several scans
    expect(shipped(dir).map((doc) => doc.message)).toEqual(['real 1', 'real 2']);
    expect(complaints(shipper)).toEqual([]);
    expect(await shipper.signal('SIGTERM')).toBe(0);
    shipper = undefined;
  });
});
