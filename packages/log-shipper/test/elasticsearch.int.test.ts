import {
  appendFileSync,
  copyFileSync,
  existsSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EsServer, freePort, startElasticsearch } from '../../../test/support/elasticsearch.js';
import { completeLines, type RunningShipper, sleep, startShipper, until, workDir } from './helpers.js';

// A real Elasticsearch (scripts/elasticsearch.sh); this file stops and starts it for the outage test.
let es: EsServer;
beforeAll(async () => {
  es = await startElasticsearch();
});
afterAll(async () => {
  await es?.stop();
});
const running: RunningShipper[] = [];
afterEach(async () => {
  for (const shipper of running.splice(0)) await shipper.signal('SIGKILL');
});

async function esRequest<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${es.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await response.json()) as T;
}

async function count(index: string): Promise<number> {
  await fetch(`${es.url}/${index}/_refresh`, { method: 'POST' });
  const result = await esRequest<{ count?: number }>(`/${index}/_count?ignore_unavailable=true`);
  return result.count ?? 0;
}

interface Hit {
  _id: string;
  _source: { n: number; log: { offset: number } };
  sort: [number];
}

/** Every document's n (paged by n) and, per file identity (the id prefix), the n values in offset order. */
async function allDocs(index: string): Promise<Hit[]> {
  const hits: Hit[] = [];
  let after: [number] | undefined;
  for (;;) {
    const page = await esRequest<{ hits: { hits: Hit[] } }>(`/${index}/_search`, {
      size: 10_000,
      _source: ['n', 'log.offset'],
      sort: [{ n: 'asc' }],
      ...(after ? { search_after: after } : {}),
    });
    hits.push(...page.hits.hits);
    const last = page.hits.hits.at(-1);
    if (!last || page.hits.hits.length < 10_000) return hits;
    after = last.sort;
  }
}

/** Exactly once: as many documents as lines, and every line's n among them. */
async function expectExactlyOnce(index: string, lines: number): Promise<Hit[]> {
  await until(`${lines} documents in ${index}`, async () => (await count(index)) >= lines, 120_000);
  await sleep(500);
  expect(await count(index)).toBe(lines);
  const hits = await allDocs(index);
  const seen = new Set(hits.map((hit) => hit._source.n));
  expect(seen.size).toBe(lines);
  expect(Math.min(...seen)).toBe(1);
  expect(Math.max(...seen)).toBe(lines);
  return hits;
}

const pad = 'x'.repeat(160);
const line = (n: number) => `{"n":${n},"msg":"line ${n}","pad":"${pad}"}\n`;

function config(dir: string, index: string, extra = '', glob = 'app.log*'): string {
  return `inputs:
  - paths: ["${dir}/logs/${glob}"]
    format: json
state: { dir: ${dir}/state, flushMs: 200 }
scanIntervalMs: 200
output:
  type: elasticsearch
  elasticsearch:
    node: ${es.url}
    index: ${index}-%{+yyyy.MM.dd}
    bulk: { maxDocs: 1000, flushMs: 200, concurrency: 2 }
    retry: { initialMs: 100, maxMs: 1000 }
  deadLetter: { path: ${dir}/dead-letter.ndjson }
${extra}
admin: { listen: 127.0.0.1:0 }
log: { level: info }
`;
}

describe('log-shipper -> a real Elasticsearch', () => {
  it('ships 100,000 lines across a rename rotation and a copytruncate rotation exactly once, in order per file', async () => {
    const dir = workDir('rotation');
    const log = join(dir, 'logs', 'app.log');
    const shipper = startShipper(dir, config(dir, 'rotation'));
    running.push(shipper);
    for (let n = 1; n <= 100_000; n += 200) {
      let chunk = '';
      for (let i = n; i < n + 200; i += 1) chunk += line(i);
      appendFileSync(log, chunk);
      if (n + 199 === 30_000) renameSync(log, `${log}.1`); // rename rotation: a new app.log follows
      if (n + 199 === 60_000) {
        renameSync(`${log}.1`, `${log}.2`); // copytruncate, logrotate style: shift, copy, truncate
        copyFileSync(log, `${log}.1`);
        truncateSync(log, 0);
      }
      await sleep(5);
    }
    const hits = await expectExactlyOnce('rotation-*', 100_000);
    const byFile = new Map<string, Hit[]>();
    for (const hit of hits) {
      const file = hit._id.split('-')[0] as string;
      const list = byFile.get(file);
      if (list)
        list.push(hit); // not a spread per hit: that is quadratic, ~25 s for 100,000 hits
      else byFile.set(file, [hit]);
    }
    expect(byFile.size).toBe(3);
    for (const fileHits of byFile.values()) {
      const byOffset = [...fileHits].sort((a, b) => a._source.log.offset - b._source.log.offset);
      const ns = byOffset.map((hit) => hit._source.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
  }, 240_000); // 100,000 lines through a real Elasticsearch: minutes on a loaded 2-core machine

  it('a file truncated and rewritten in place, tiny or grown from tiny: the new lines are shipped, none taken for old ones', async () => {
    const dir = workDir('rewrite');
    const tiny = join(dir, 'logs', 'a.log');
    const grown = join(dir, 'logs', 'b.log');
    writeFileSync(tiny, '{"n":1}\n{"n":2}\n');
    writeFileSync(grown, '{"n":3}\n');
    running.push(startShipper(dir, config(dir, 'rewrite', '', '*.log')));
    await until('the first lines', async () => (await count('rewrite-*')) === 3);
    // Same length, other content: only the first bytes tell (an app that truncates its log at start).
    writeFileSync(tiny, '{"n":4}\n{"n":5}\n');
    // Known by its inode while tiny, by its fingerprint once grown; its inode's next content is new.
    let chunk = '';
    for (let n = 6; n <= 25; n += 1) chunk += line(n);
    appendFileSync(grown, chunk);
    await until('the grown file', async () => (await count('rewrite-*')) === 25);
    await sleep(500); // a scan gives it its fingerprint
    writeFileSync(grown, '{"n":26}\n');
    await expectExactlyOnce('rewrite-*', 26);
  });

  it('delivers exactly one document per line when killed with SIGKILL three times while the app writes', async () => {
    const dir = workDir('sigkill');
    const log = join(dir, 'logs', 'app.log');
    let written = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        let chunk = '';
        for (let i = 0; i < 50; i += 1) chunk += line(++written);
        appendFileSync(log, chunk);
        await sleep(10);
      }
    })();
    for (let kill = 0; kill < 3; kill += 1) {
      const shipper = startShipper(dir, config(dir, 'sigkill'));
      running.push(shipper);
      await sleep(700 + Math.random() * 1500);
      expect(await shipper.signal('SIGKILL')).toBe(null);
    }
    writing = false;
    await writer;
    running.push(startShipper(dir, config(dir, 'sigkill')));
    await expectExactlyOnce('sigkill-*', written);
  });

  it('loses nothing through a 20 s Elasticsearch outage, with memory under its bound, and reports not ready meanwhile', async () => {
    const dir = workDir('outage');
    const log = join(dir, 'logs', 'app.log');
    const adminPort = await freePort();
    const shipper = startShipper(
      dir,
      config(dir, 'outage', '  maxBufferedBytes: 4mb').replace(
        'admin: { listen: 127.0.0.1:0 }',
        `admin: { listen: 127.0.0.1:${adminPort} }`,
      ),
      // As the README recommends for a 128Mi container: V8 otherwise grows its heap lazily far
      // beyond what the shipper holds (it sizes the heap from the machine, not from the work).
      { NODE_OPTIONS: '--max-old-space-size=64' },
    );
    running.push(shipper);
    let written = 0;
    const write = (lines: number) => {
      let chunk = '';
      for (let i = 0; i < lines; i += 1) chunk += line(++written);
      appendFileSync(log, chunk);
    };
    write(5_000);
    await until('first documents', async () => (await count('outage-*')) > 0);
    await es.pause();
    const outageStart = Date.now();
    let sawNotReady = false;
    const waiting: number[] = [];
    while (Date.now() - outageStart < 20_000) {
      write(2_000); // ~40,000 lines (~8 MiB) pile up in the file while Elasticsearch is away
      const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined);
      if (ready?.status === 503) sawNotReady = true;
      await sleep(1_000);
      waiting.push(shipper.rssMiB());
    }
    await es.resume();
    write(1_000);
    await expectExactlyOnce('outage-*', written);
    expect(sawNotReady).toBe(true);
    // The documented bound (README, "Memory"): the backlog stays in the file, so memory is flat
    // while Elasticsearch is away (the second half of the outage is no higher than the first
    // plus GC noise), and with --max-old-space-size=64 the whole run, catch-up included, stays
    // under 150 MiB RSS (runtime 75-85 MiB + bulk requests in flight + read buffer + garbage V8
    // has not collected yet; ~110 MiB while waiting, ~130 MiB peak measured).
    const firstHalf = Math.max(...waiting.slice(0, waiting.length / 2));
    const secondHalf = Math.max(...waiting.slice(waiting.length / 2));
    console.info(
      `outage: RSS while waiting ${waiting.map((mib) => mib.toFixed(0)).join(' ')} MiB; peak ${shipper.peakRssMiB().toFixed(0)} MiB`,
    );
    expect(firstHalf).toBeGreaterThan(0);
    expect(secondHalf).toBeLessThan(firstHalf + 24);
    expect(shipper.peakRssMiB()).toBeLessThan(150);
  }, 240_000); // the outage itself is 20 s, and Elasticsearch takes ~20 s to start again here

  interface DeadLetter {
    status: number;
    reason: string;
    id: string;
    document: { n: number };
  }

  /** Ships three lines of which the second cannot be mapped; returns the dead letters once the other two are indexed. */
  async function shipMappingConflict(index: string, adjust = (yaml: string) => yaml): Promise<DeadLetter[]> {
    const dir = workDir(index);
    writeFileSync(
      join(dir, 'logs', 'app.log'),
      '{"n":1,"code":200}\n{"n":2,"code":"not a number"}\n{"n":3,"code":404}\n',
    );
    running.push(startShipper(dir, adjust(config(dir, index))));
    await until('two documents', async () => (await count(`${index}-*`)) === 2, 60_000);
    const deadLetters = await until('a dead letter', () => {
      const file = join(dir, 'dead-letter.ndjson');
      const lines = completeLines(existsSync(file) ? readFileSync(file, 'utf8') : '');
      return lines.length ? lines : undefined;
    });
    return deadLetters.map((text) => JSON.parse(text) as DeadLetter);
  }

  it('puts a mapping conflict in the dead-letter file with the reason and indexes the others', async () => {
    const deadLetters = await shipMappingConflict('conflict');
    expect(deadLetters).toHaveLength(1);
    const letter = deadLetters[0] as DeadLetter;
    expect(letter.status).toBe(400);
    expect(letter.reason).toContain('document_parsing_exception');
    expect(letter.document.n).toBe(2);
  });

  it.each(['http', 'undici'])(
    'with bulk.gzip over the %s connection, requests and responses are compressed and a refused item is still told apart',
    async (connection) => {
      const deadLetters = await shipMappingConflict(`gzip-${connection}`, (yaml) => {
        const gzipped = yaml.replace(
          'concurrency: 2 }',
          `concurrency: 2, gzip: true }\n    connection: ${connection}`,
        );
        expect(gzipped).toContain(`gzip: true }\n    connection: ${connection}\n`);
        return gzipped;
      });
      expect(deadLetters).toHaveLength(1);
      const letter = deadLetters[0] as DeadLetter;
      expect(letter.status).toBe(400);
      expect(letter.document.n).toBe(2);
      expect(letter.id).toMatch(/-[0-9a-z]+$/);
    },
  );

  it('on SIGTERM ships every line the app wrote, then exits 0; a one-line file is shipped; a damaged checkpoint does not stop a restart', async () => {
    const dir = workDir('drain');
    const shipper = startShipper(dir, config(dir, 'drain', '', '*.log'));
    running.push(shipper);
    await until('the shipper to start', () =>
      shipper.logLines().some((l) => String(l['msg']).includes('started')),
    );
    let chunk = '';
    for (let n = 1; n <= 10_000; n += 1) chunk += line(n);
    appendFileSync(join(dir, 'logs', 'app.log'), chunk); // the app writes 10,000 lines and exits
    writeFileSync(join(dir, 'logs', 'tiny.log'), '{"n":10001}\n');
    await sleep(300); // the next scan finds tiny.log
    expect(await shipper.signal('SIGTERM')).toBe(0);
    expect(await count('drain-*')).toBe(10_001);

    writeFileSync(join(dir, 'state', 'checkpoints.json'), '{"version":1,"files":{"fp:abc":{"idBase":');
    const restarted = startShipper(dir, config(dir, 'drain', '', '*.log'));
    running.push(restarted);
    await until('the restart to report its recovery', () =>
      restarted.logLines().some((l) => String(l['msg']).includes('damaged')),
    );
    await sleep(1_500);
    expect(await restarted.signal('SIGTERM')).toBe(0);
    expect(await count('drain-*')).toBe(10_001);
  });
});
