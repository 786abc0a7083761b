import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningShipper, shippedDocs, startShipper, until, workDir } from './helpers.js';

let shipper: RunningShipper | undefined;
afterEach(async () => {
  await shipper?.signal('SIGTERM');
  shipper = undefined;
});

interface Doc {
  message: string;
  '@timestamp': string;
  log: { offset: number; file: { path: string }; flags?: string[] };
  stream?: string;
  [key: string]: unknown;
}

function configFor(dir: string, input: string): string {
  return `inputs:\n  - paths: ["${dir}/logs/*.log"]\n${input}\nstate: { dir: ${dir}/state, flushMs: 50 }\nscanIntervalMs: 100\noutput:\n  type: file\n  file: { path: ${dir}/out.ndjson }\nadmin: { listen: 127.0.0.1:0 }\nlog: { level: warn }\n`;
}

const shipped = (dir: string): Doc[] => shippedDocs<Doc>(dir);

async function ship(format: string, lines: string, count: number, extra = ''): Promise<Doc[]> {
  const dir = workDir(format);
  writeFileSync(join(dir, 'logs', 'app.log'), lines);
  shipper = startShipper(dir, configFor(dir, `    format: ${format}\n${extra}`));
  return until(`${count} events`, () => (shipped(dir).length >= count ? shipped(dir) : undefined));
}

describe('formats', () => {
  it('json keeps object fields and flags a line that is not JSON, keeping it whole', async () => {
    const docs = await ship(
      'json',
      '{"level":"info","msg":"hello","user":{"id":7},"time":"2026-01-02T03:04:05Z"}\nnot json {\n',
      2,
    );
    expect(docs[0]).toMatchObject({
      level: 'info',
      message: 'hello',
      user: { id: 7 },
      '@timestamp': '2026-01-02T03:04:05.000Z',
    });
    expect(docs[1]).toMatchObject({ message: 'not json {', log: { flags: ['json_parse_error'] } });
  });

  it('raw lines keep every character: quotes, backslashes, control characters, non-ASCII', async () => {
    const messages = [
      'plain',
      'say "hi"',
      'C:\\logs\\app.log',
      'tab\there\u0001\u001f bell\u0007',
      'emoji 😀 and é 中文',
      'line separator \u2028 and \u2029, del \u007f',
    ];
    const docs = await ship('raw', `${messages.join('\n')}\n`, messages.length);
    expect(docs.map((doc) => doc.message)).toEqual(messages);
  });

  it('cri joins partial (P) lines into one event and keeps the stream and time', async () => {
    const lines = [
      '2026-01-02T03:04:05.000000001Z stdout P first half ',
      '2026-01-02T03:04:05.000000002Z stdout F and second half',
      '2026-01-02T03:04:06.000000000Z stderr F an error',
    ].join('\n');
    const docs = await ship('cri', `${lines}\n`, 2);
    expect(docs[0]).toMatchObject({
      message: 'first half and second half',
      stream: 'stdout',
      '@timestamp': '2026-01-02T03:04:05.000Z',
      log: { offset: 0 },
    });
    expect(docs[1]).toMatchObject({ message: 'an error', stream: 'stderr' });
  });

  it('docker json-file lines, joining a log split without its newline', async () => {
    const lines = [
      JSON.stringify({ log: 'split ', stream: 'stdout', time: '2026-01-02T03:04:05Z' }),
      JSON.stringify({ log: 'line\n', stream: 'stdout', time: '2026-01-02T03:04:05Z' }),
      JSON.stringify({ log: 'whole\n', stream: 'stderr', time: '2026-01-02T03:04:06Z' }),
    ].join('\n');
    const docs = await ship('docker', `${lines}\n`, 2);
    expect(docs.map((d) => [d.message, d.stream])).toEqual([
      ['split line', 'stdout'],
      ['whole', 'stderr'],
    ]);
  });

  it('multiline joins a Java stack trace into one event', async () => {
    const trace = [
      '2026-01-02 03:04:05 ERROR request failed',
      'java.lang.IllegalStateException: boom',
      '\tat com.example.Service.handle(Service.java:42)',
      '\tat com.example.Main.main(Main.java:7)',
      '2026-01-02 03:04:06 INFO next request',
    ].join('\n');
    const docs = await ship('raw', `${trace}\n`, 2, "    multiline: { start: '^\\d{4}-', timeoutMs: 200 }");
    expect(docs[0]?.message.split('\n')).toHaveLength(4);
    expect(docs[0]?.message).toContain('at com.example.Main.main');
    expect(docs[1]?.message).toBe('2026-01-02 03:04:06 INFO next request');
  });

  it('cuts a 1 MiB line at maxLineBytes, flags it, and goes on with the next line', async () => {
    const long = 'x'.repeat(1024 * 1024);
    const docs = await ship('raw', `before\n${long}\nafter\n`, 3, '    maxLineBytes: 64kb');
    expect(docs.map((d) => d.message.length)).toEqual([6, 64 * 1024, 5]);
    expect(docs[1]?.log.flags).toEqual(['truncated']);
    expect(docs[2]?.log.offset).toBe(7 + long.length + 1);
  });

  it('waits for a last line without its newline until it is completed', async () => {
    const dir = workDir('partial');
    const file = join(dir, 'logs', 'app.log');
    writeFileSync(file, 'complete\nincompl');
    shipper = startShipper(dir, configFor(dir, '    format: raw'));
    await until('first line', () => shipped(dir).length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(shipped(dir).map((d) => d.message)).toEqual(['complete']);
    appendFileSync(file, 'ete\n');
    const docs = await until('second line', () => (shipped(dir).length >= 2 ? shipped(dir) : undefined));
    expect(docs.map((d) => d.message)).toEqual(['complete', 'incomplete']);
  });

  it('carries static fields and Kubernetes metadata from the Downward API variables', async () => {
    const dir = workDir('meta');
    writeFileSync(join(dir, 'logs', 'app.log'), 'hello\n');
    shipper = startShipper(dir, configFor(dir, '    fields: { service: web, team: { name: core } }'), {
      POD_NAME: 'web-7d9f',
      POD_NAMESPACE: 'shop',
      NODE_NAME: 'node-1',
      POD_IP: '10.1.2.3',
      CONTAINER_NAME: 'app',
    });
    const [doc] = await until('one event', () => (shipped(dir).length >= 1 ? shipped(dir) : undefined));
    expect(doc).toMatchObject({
      message: 'hello',
      service: 'web',
      team: { name: 'core' },
      log: { offset: 0, file: { path: join(dir, 'logs', 'app.log') } },
      kubernetes: {
        pod: { name: 'web-7d9f', ip: '10.1.2.3' },
        namespace: 'shop',
        node: { name: 'node-1' },
        container: { name: 'app' },
      },
    });
    expect(doc?.['host']).toMatchObject({ name: expect.any(String) });
  });
});
