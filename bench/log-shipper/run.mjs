#!/usr/bin/env node
// npm run bench:log-shipper — 1,000,000 lines of ~200 bytes, shipped by our log-shipper and by
// rsyslog (imfile -> omelasticsearch, Debian packages) in the same run: into a null _bulk sink
// (a local server that answers every _bulk with success), then into a real Elasticsearch.
// Reports lines/s, MiB/s and peak RSS, and the ratio ours/rsyslog.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { freePort, start, stopAll } from '../lib/processes.mjs';
import { machine, table, writeSection } from '../lib/report.mjs';

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);
const WITH_ES = process.env.BENCH_ES !== '0';
// What the README recommends for a 128Mi container; V8 otherwise sizes its heap from the machine.
const NODE_OPTIONS = process.env.BENCH_NODE_OPTIONS ?? '--max-old-space-size=64';
const root = join(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'bench-log-shipper-'));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function getJson(url, init) {
  const response = await fetch(url, init);
  return response.json();
}

function peakRssMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return Number.NaN;
  }
}

function writeInput(dir) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'app.log');
  const pad = 'x'.repeat(120);
  const chunks = [];
  let batch = '';
  for (let n = 1; n <= LINES; n++) {
    batch += `2026-11-24T12:00:00.000Z INFO [worker-${n % 16}] request ${n} handled in ${n % 997} ms ${pad}\n`;
    if (n % 10_000 === 0) {
      chunks.push(batch);
      batch = '';
    }
  }
  chunks.push(batch);
  writeFileSync(file, chunks.join(''));
  return file;
}

/** Runs one shipper until `count()` reaches LINES; returns seconds and peak RSS. */
async function measure(label, launch, count) {
  const started = performance.now();
  const child = launch();
  let done = 0;
  let peak = 0;
  const deadline = Date.now() + 15 * 60_000;
  while (done < LINES) {
    if (Date.now() > deadline) throw new Error(`${label}: only ${done} of ${LINES} after 15 minutes`);
    if (child.exitCode !== null)
      throw new Error(`${label}: exited with ${child.exitCode} after ${done} lines`);
    await sleep(100);
    peak = Math.max(peak, peakRssMiB(child.pid));
    done = await count();
  }
  const seconds = (performance.now() - started) / 1000;
  peak = Math.max(peak, peakRssMiB(child.pid));
  child.kill('SIGKILL');
  console.log(`${label}: ${LINES} lines in ${seconds.toFixed(2)} s, peak RSS ${peak.toFixed(0)} MiB`);
  return { label, seconds, peak };
}

function ourShipper(input, stateDir, esUrl, index, nodeOptions = '') {
  const config = join(work, `shipper-${index}-${basename(stateDir)}.yaml`);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(
    config,
    `inputs:
  - paths: ["${input}"]
    format: raw
state: { dir: ${stateDir} }
output:
  type: elasticsearch
  elasticsearch:
    node: ${esUrl}
    index: ${index}
admin: { listen: 127.0.0.1:0 }
log: { level: warn }
`,
  );
  return () =>
    start(process.execPath, [join(root, 'packages/log-shipper/bin/log-shipper.js'), '--config', config], {
      env: { ...process.env, NODE_OPTIONS: nodeOptions },
    });
}

function rsyslog(input, esPort, index, name) {
  const dir = join(work, `rsyslog-${name}`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'rsyslog.conf');
  writeFileSync(
    config,
    `global(workDirectory="${dir}" maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omelasticsearch")
template(name="doc" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
  property(outname="path" name="$!metadata!filename" format="jsonf")
}
input(type="imfile" File="${input}" Tag="app" addMetadata="on" ruleset="ship")
ruleset(name="ship") {
  action(type="omelasticsearch" server="127.0.0.1" serverport="${esPort}" template="doc"
         searchIndex="${index}" esVersion.major="8" bulkmode="on" maxbytes="5m" action.resumeRetryCount="-1")
}
`,
  );
  return () => start('rsyslogd', ['-n', '-f', config, '-i', join(dir, 'rsyslogd.pid')]);
}

const results = { sink: [], es: [] };
try {
  const input = writeInput(join(work, 'logs'));
  const bytes = statSync(input).size;
  console.log(
    `input: ${LINES} lines, ${(bytes / 2 ** 20).toFixed(1)} MiB (${Math.round(bytes / LINES)} bytes/line)`,
  );

  // Null sink: one fresh sink process per contender.
  for (const [name, make] of [
    [
      'sidecar-kit log-shipper',
      (port) => ourShipper(input, join(work, 'state-sink'), `http://127.0.0.1:${port}`, 'bench'),
    ],
    [
      `sidecar-kit log-shipper, NODE_OPTIONS=${NODE_OPTIONS}`,
      (port) =>
        ourShipper(input, join(work, 'state-small'), `http://127.0.0.1:${port}`, 'bench', NODE_OPTIONS),
    ],
    ['rsyslog imfile -> omelasticsearch', (port) => rsyslog(input, port, 'bench', 'sink')],
  ].filter(([name]) => process.env.BENCH_RSYSLOG !== '0' || !name.startsWith('rsyslog'))) {
    const port = await freePort();
    const sink = start(process.execPath, [join(import.meta.dirname, 'sink.mjs'), String(port)]);
    await sleep(300);
    results.sink.push(
      await measure(
        `${name} -> null sink`,
        make(port),
        async () => (await getJson(`http://127.0.0.1:${port}/_sink/count`)).docs,
      ),
    );
    sink.kill();
  }

  if (WITH_ES) {
    const port = await freePort();
    execFileSync('bash', [join(root, 'scripts/elasticsearch.sh'), 'start', '--port', String(port)], {
      stdio: 'inherit',
    });
    const es = `http://127.0.0.1:${port}`;
    try {
      for (const [name, index, make] of [
        [
          'sidecar-kit log-shipper',
          'bench-ours',
          () => ourShipper(input, join(work, 'state-es'), es, 'bench-ours'),
        ],
        [
          'rsyslog imfile -> omelasticsearch',
          'bench-rsyslog',
          () => rsyslog(input, port, 'bench-rsyslog', 'es'),
        ],
      ]) {
        results.es.push(
          await measure(`${name} -> Elasticsearch`, make(), async () => {
            await fetch(`${es}/${index}/_refresh`, { method: 'POST' }).catch(() => {});
            const body = await getJson(`${es}/${index}/_count`).catch(() => ({}));
            return body.count ?? 0;
          }),
        );
      }
    } finally {
      execFileSync('bash', [join(root, 'scripts/elasticsearch.sh'), 'stop', '--port', String(port)], {
        stdio: 'inherit',
      });
    }
  }

  const mib = bytes / 2 ** 20;
  const rows = (list) =>
    list.map((r) => [
      r.label,
      `${r.seconds.toFixed(2)} s`,
      Math.round(LINES / r.seconds).toLocaleString('en-US'),
      (mib / r.seconds).toFixed(1),
      `${r.peak.toFixed(0)} MiB`,
    ]);
  // Ours with Node's defaults (first row) against rsyslog (last row).
  const ratio = (list) =>
    list.length >= 2 ? `${(list.at(-1).seconds / list[0].seconds).toFixed(2)}x` : 'n/a';
  const headers = ['shipper', 'time', 'lines/s', 'MiB/s', 'peak RSS'];
  const markdown = `## log-shipper

Command: \`npm run bench:log-shipper\` (${LINES.toLocaleString('en-US')} lines, ${Math.round(bytes / LINES)} bytes each, ${mib.toFixed(0)} MiB, one file, read from the start; time from process start until the target holds every line). Our shipper runs with its defaults (checkpoints on, idempotent ids, bulk 1000 docs / 5 MiB, concurrency 2), once with Node's default heap sizing and once with the heap limit the README recommends for a 128Mi container. rsyslog ${
    execFileSync('rsyslogd', ['-v'], { encoding: 'utf8' })
      .split('\n')[0]
      .replace(/^rsyslogd\s*/, '')
      .split(' ')[0]
  } with imfile (inotify) and omelasticsearch in bulk mode. Machine: ${machine()}. Date: ${new Date().toISOString().slice(0, 10)}.

Null \`_bulk\` sink (a local server answering every bulk request with success):

${table(headers, rows(results.sink))}

Ours / rsyslog, lines/s: **${ratio(results.sink)}** (aim ≥ 1.2x, with peak RSS under 100 MB).

What this means: on the null sink our shipper is faster than rsyslog with checkpoints and
idempotent ids on; the memory part of the aim is not met. The process idles at about 85 MiB RSS
before reading a line (Node itself ~40 MiB, the official Elasticsearch client with its undici
~29 MiB, plus zod, pino, prom-client and yaml), which leaves ~15 MiB under 100 MB for data. With
Node's default heap sizing V8 collects lazily (peak ~210 MiB); with the recommended
\`--max-old-space-size=64\` the peak is ~140 MiB at some cost in speed, and memory stays flat for
any file size or backlog (the outage test checks it). Against a real Elasticsearch on the same
two cores indexing dominates, and \`create\` with our own ids (exactly-once) costs Elasticsearch an
id lookup per document that rsyslog's auto-generated ids avoid; our documents also carry
\`log.file.path\`, \`log.offset\` and \`host.name\`.
${
  results.es.length
    ? `
Real Elasticsearch 8.19 (single node on the same machine):

${table(headers, rows(results.es))}

Ours / rsyslog, lines/s: **${ratio(results.es)}**.`
    : ''
}`;
  console.log(`\n${markdown}`);
  if (process.env.BENCH_WRITE !== '0') writeSection('log-shipper', markdown);
} finally {
  stopAll('SIGKILL');
}
