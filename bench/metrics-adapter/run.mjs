#!/usr/bin/env node
// npm run bench:metrics-adapter — the adapter's /health against an upstream /metrics of 10,000
// series, cached and uncached, next to fetching that /metrics directly; and our parser against
// parse-prometheus-text-format on the same payload. Loopback only, about a minute.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parsePrometheusText } from '../../packages/metrics-adapter/dist/index.js';
import { machine, table, writeSection } from '../lib/report.mjs';

const SERIES = 10_000;
const DURATION = Number(process.env.BENCH_SECONDS ?? 5);

function payload() {
  const lines = [];
  for (let family = 0; family < 100; family += 1) {
    lines.push(
      `# HELP app_metric_${family} Synthetic metric ${family}.`,
      `# TYPE app_metric_${family} gauge`,
    );
    for (let series = 0; series < SERIES / 100; series += 1) {
      lines.push(
        `app_metric_${family}{instance="pod-${series}",path="/api/v1/items/${series}",method="GET"} ${(family * series) % 997}`,
      );
    }
  }
  lines.push('# TYPE app_ready gauge', 'app_ready 1');
  return `${lines.join('\n')}\n`;
}

function timeParse(parse, text, runs = 30) {
  for (let i = 0; i < 5; i += 1) parse(text);
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const start = performance.now();
    parse(text);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function load(url) {
  const result = await autocannon({ url, connections: 16, duration: DURATION, pipelining: 1 });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx + result.errors,
  };
}

const text = payload();
const ours = timeParse(parsePrometheusText, text);
const theirs = timeParse(parsePrometheusTextFormat, text);
console.log(
  `payload: ${SERIES} series, ${(text.length / 1024).toFixed(0)} KiB; parse median: ours ${ours.toFixed(2)} ms, parse-prometheus-text-format ${theirs.toFixed(2)} ms`,
);

const upstream = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
  response.end(text);
});
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}/metrics`;

async function adapter(cacheMs, port) {
  const file = join(tmpdir(), `bench-adapter-${cacheMs}.yaml`);
  writeFileSync(
    file,
    `listen: 127.0.0.1:${port}\nadmin: { listen: 127.0.0.1:0 }\nlog: { level: warn }\nendpoints:\n  - path: /health\n    source: { url: ${upstreamUrl}, format: prometheus, cacheMs: ${cacheMs}, timeoutMs: 5000 }\n    checks:\n      - { name: ready, expr: 'app_ready == 1' }\n      - { name: busiest, expr: 'max(app_metric_7{method="GET"}) < 100000' }\n`,
  );
  const child = spawn(
    process.execPath,
    ['packages/metrics-adapter/bin/metrics-adapter.js', '--config', file],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return child;
}

const rows = [];
const direct = await load(upstreamUrl);
rows.push(['direct GET upstream /metrics (10,000 series)', direct]);
for (const [label, cacheMs, port] of [
  ['adapter /health, cached (cacheMs 1000)', 1000, 19102],
  ['adapter /health, uncached (cacheMs 0)', 0, 19103],
]) {
  const child = await adapter(cacheMs, port);
  rows.push([label, await load(`http://127.0.0.1:${port}/health`)]);
  child.kill('SIGTERM');
  await once(child, 'exit');
}
upstream.close();

const fmt = (n, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const resultRows = rows.map(([label, r]) => [
  label,
  fmt(r.rps),
  `${fmt(r.p50, 1)} ms`,
  `${fmt(r.p99, 1)} ms`,
  String(r.non2xx),
]);
const parseRows = [
  ['sidecar-kit parser (text 0.0.4 + OpenMetrics)', `${ours.toFixed(2)} ms`, '1.00x'],
  [
    'parse-prometheus-text-format 1.1 (no OpenMetrics)',
    `${theirs.toFixed(2)} ms`,
    `${(theirs / ours).toFixed(2)}x slower`,
  ],
];
const markdown = `## metrics-adapter

Command: \`npm run bench:metrics-adapter\` (autocannon, 16 connections, ${DURATION} s per row, loopback).
Machine: ${machine()}. Run: ${new Date().toISOString()}.

Payload: ${SERIES.toLocaleString('en-US')} series, ${(text.length / 1024).toFixed(0)} KiB of Prometheus text.

${table(['path', 'requests/s', 'p50', 'p99', 'errors'], resultRows)}

Parse time of that payload (median of 30 runs, same process):

${table(['parser', 'median', 'ratio'], parseRows)}

Cached /health p99 aim: under 5 ms. Parser aim: at least 3x faster than parse-prometheus-text-format.
`;
console.log(markdown);
writeSection('metrics-adapter', markdown);
