#!/usr/bin/env node
// The HTTP/2 and gRPC part of `npm run bench:ambassador` (also runnable alone):
// - h2load (nghttp2-client) through the ambassador and through HAProxy, h2c on both sides, in front of
//   the same h2c upstream (nginx), next to the upstream direct and two bare Node h2 proxies
//   (node:http2 client sessions vs undici's HTTP/2 client), which is how the data path was chosen;
// - gRPC unary calls from a small @grpc/grpc-js load generator (one channel, so one connection,
//   BENCH_GRPC_STREAMS calls in flight) to a grpc-js server, direct, through the ambassador and HAProxy.
// Knobs: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_GRPC_STREAMS (64), BENCH_NODE, BENCH_WRITE=0.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchNode } from '../lib/node.mjs';
import { freePort, start, stopAll, treeCpuSeconds, waitPort } from '../lib/processes.mjs';
import { machine, table, writeSection } from '../lib/report.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STREAMS = Number(process.env.BENCH_GRPC_STREAMS ?? 64);
const { path: NODE, version: NODE_VERSION } = benchNode();
const CORES = availableParallelism();
const root = join(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'bench-ambassador-grpc-'));
const proto = join(root, 'packages/ambassador/test/fixtures/echo.proto');
const modules = join(root, 'node_modules');

function haveH2load() {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** h2load over one connection with STREAMS concurrent streams (prior knowledge h2c). */
function h2load(port) {
  const out = execFileSync(
    'h2load',
    ['-c1', `-m${STREAMS}`, '-t1', `-D${SECONDS}`, '--warm-up-time=1', `http://127.0.0.1:${port}/`],
    { encoding: 'utf8' },
  );
  const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1]);
  const failed = Number(/requests: .*?(\d+) failed/.exec(out)?.[1] ?? 0);
  const status2xx = Number(/status codes: (\d+) 2xx/.exec(out)?.[1] ?? 0);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? 'n/a';
  return { rps, failed, ok: status2xx, mean };
}

/** The gRPC load generator: its own process, one channel, STREAMS unary calls kept in flight. */
writeFileSync(
  join(work, 'grpc-load.mjs'),
  `import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(`${modules}/`)});
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const [target, seconds, streams] = process.argv.slice(2);
const pkg = grpc.loadPackageDefinition(loader.loadSync(${JSON.stringify(proto)}, { defaults: true }));
const client = new pkg.sidecarkit.test.Echo(target, grpc.credentials.createInsecure());
const until = Date.now() + Number(seconds) * 1000;
let calls = 0, errors = 0, measuring = false, measuredFrom = 0;
const times = [];
function one() {
  if (Date.now() > until) return Promise.resolve();
  const started = performance.now();
  return new Promise((resolve) => client.unary({ message: 'ping' }, (error) => {
    if (measuring) { if (error) errors++; else { calls++; times.push(performance.now() - started); } }
    resolve();
  })).then(one);
}
await new Promise((resolve) => client.waitForReady(Date.now() + 5000, resolve));
setTimeout(() => { measuring = true; measuredFrom = performance.now(); }, 1000);
await Promise.all(Array.from({ length: Number(streams) }, one));
const elapsed = (performance.now() - measuredFrom) / 1000;
times.sort((a, b) => a - b);
console.log(JSON.stringify({ rps: calls / elapsed, errors, p50: times[Math.floor(times.length / 2)], p99: times[Math.floor(times.length * 0.99)] }));
client.close();`,
);
writeFileSync(
  join(work, 'grpc-server.mjs'),
  `import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(`${modules}/`)});
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const pkg = grpc.loadPackageDefinition(loader.loadSync(${JSON.stringify(proto)}, { defaults: true }));
const server = new grpc.Server();
server.addService(pkg.sidecarkit.test.Echo.service, {
  unary: (call, callback) => callback(null, { message: call.request.message, server: 'bench' }),
});
server.bindAsync('127.0.0.1:' + process.argv[2], grpc.ServerCredentials.createInsecure(), () => {});`,
);

function grpcLoad(port) {
  const out = execFileSync(
    NODE,
    [join(work, 'grpc-load.mjs'), `127.0.0.1:${port}`, String(SECONDS + 1), String(STREAMS)],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out.trim().split('\n').pop());
}

export async function runGrpcBench() {
  const ports = {};
  for (const name of [
    'upstream',
    'grpcUpstream',
    'ambassador',
    'grpcAmbassador',
    'admin',
    'haproxy',
    'haproxyGrpc',
    'bareNode',
    'bareUndici',
  ])
    ports[name] = await freePort();
  const processes = {};
  const loadBefore = loadavg();
  writeFileSync(
    join(work, 'nginx-h2c.conf'),
    `worker_processes 1; daemon off; pid ${work}/up.pid; error_log ${work}/up.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; http2_max_concurrent_streams 1024;
  server { listen 127.0.0.1:${ports.upstream} http2; location / { return 200 "hello from the upstream\\n"; } } }`,
  );
  processes.upstream = start('nginx', ['-c', join(work, 'nginx-h2c.conf'), '-p', work]);
  processes.grpcUpstream = start(NODE, [join(work, 'grpc-server.mjs'), String(ports.grpcUpstream)]);
  // gRPC has its own listener (and cluster): each listener fronts one cluster.
  writeFileSync(
    join(work, 'ambassador.yaml'),
    `listeners:
  - { name: h2, listen: 127.0.0.1:${ports.ambassador}, cluster: up }
  - { name: grpc, listen: 127.0.0.1:${ports.grpcAmbassador}, cluster: grpc }
clusters:
  - { name: up, protocol: h2c, endpoints: ["127.0.0.1:${ports.upstream}"] }
  - { name: grpc, protocol: h2c, endpoints: ["127.0.0.1:${ports.grpcUpstream}"] }
admin: { listen: 127.0.0.1:${ports.admin} }
log: { level: warn }
`,
  );
  processes.ambassador = start(NODE, [
    join(root, 'packages/ambassador/bin/ambassador.js'),
    '--config',
    join(work, 'ambassador.yaml'),
  ]);
  processes.grpcAmbassador = processes.ambassador;
  writeFileSync(
    join(work, 'haproxy.cfg'),
    `global
  maxconn 4096
  nbthread ${CORES}
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
frontend h2
  bind 127.0.0.1:${ports.haproxy} proto h2
  default_backend up
backend up
  http-reuse always
  server s1 127.0.0.1:${ports.upstream} proto h2
frontend grpc
  bind 127.0.0.1:${ports.haproxyGrpc} proto h2
  default_backend grpc
backend grpc
  http-reuse always
  server s1 127.0.0.1:${ports.grpcUpstream} proto h2
`,
  );
  processes.haproxy = start('haproxy', ['-f', join(work, 'haproxy.cfg'), '-db']);
  processes.haproxyGrpc = processes.haproxy;
  // The two ways to speak HTTP/2 to upstreams from Node, each the smallest proxy of its kind.
  writeFileSync(
    join(work, 'bare-node.mjs'),
    `import http2 from 'node:http2';
let upstream;
http2.createServer({ settings: { maxConcurrentStreams: 1000 } }).on('stream', (stream, headers) => {
  if (!upstream || upstream.destroyed || upstream.closed) {
    upstream = http2.connect('http://127.0.0.1:${ports.upstream}');
    upstream.on('error', () => {});
  }
  const up = upstream.request({ ':method': headers[':method'], ':path': headers[':path'] }, { endStream: true });
  up.on('response', (h) => { if (!stream.destroyed) stream.respond({ ':status': h[':status'], 'content-type': h['content-type'] }); });
  up.pipe(stream);
  up.on('error', () => stream.destroy());
  stream.on('error', () => up.destroy());
}).listen(${ports.bareNode}, '127.0.0.1');`,
  );
  processes.bareNode = start(NODE, [join(work, 'bare-node.mjs')]);
  writeFileSync(
    join(work, 'bare-undici.mjs'),
    `import http2 from 'node:http2';
import { Client } from ${JSON.stringify(join(modules, 'undici/index.js'))};
const client = new Client('http://127.0.0.1:${ports.upstream}', { allowH2: true, connect: { useH2c: true }, maxConcurrentStreams: 1000, pipelining: 1000 });
http2.createServer({ settings: { maxConcurrentStreams: 1000 } }).on('stream', (stream, headers) => {
  client.dispatch({ method: headers[':method'], path: headers[':path'], headers: {}, body: null }, {
    onRequestStart() {},
    onResponseStart(c, status, h) { if (!stream.destroyed) stream.respond({ ':status': status, 'content-type': h['content-type'] }); },
    onResponseData(c, chunk) { if (!stream.destroyed) stream.write(chunk); },
    onResponseEnd() { if (!stream.destroyed) stream.end(); },
    onResponseError() { stream.destroy(); },
  });
  stream.on('error', () => {});
}).listen(${ports.bareUndici}, '127.0.0.1');`,
  );
  processes.bareUndici = start(NODE, [join(work, 'bare-undici.mjs')]);

  try {
    for (const key of Object.keys(processes)) await waitPort(ports[key]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const h2Targets = haveH2load()
      ? [
          ['direct to the upstream (nginx h2c)', 'upstream'],
          ['ambassador (h2c → h2c, 1 worker)', 'ambassador'],
          [`HAProxy (h2 → h2, ${CORES} threads)`, 'haproxy'],
          ['bare node:http2 server + node:http2 client session', 'bareNode'],
          ['bare node:http2 server + undici Client (allowH2, useH2c)', 'bareUndici'],
        ]
      : [];
    if (!h2Targets.length)
      console.log('h2load not found (apt-get install nghttp2-client): the h2load part is skipped');
    const grpcTargets = [
      ['direct to the grpc-js server', 'grpcUpstream'],
      ['ambassador (1 worker)', 'grpcAmbassador'],
      [`HAProxy (h2, ${CORES} threads)`, 'haproxyGrpc'],
    ];
    const runs = {};
    for (const [, key] of [...h2Targets, ...grpcTargets]) runs[key] = [];
    for (const [, key] of h2Targets) h2load(ports[key]); // warm-up, discarded
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [label, key] of h2Targets) {
        const cpuBefore = treeCpuSeconds(processes[key].pid);
        const run = h2load(ports[key]);
        run.cpu = treeCpuSeconds(processes[key].pid) - cpuBefore;
        runs[key].push(run);
        console.log(
          `round ${round}: h2load ${label}: ${Math.round(run.rps)} req/s, ${run.failed} failed, CPU ${run.cpu.toFixed(1)} s`,
        );
      }
      for (const [label, key] of grpcTargets) {
        const cpuBefore = treeCpuSeconds(processes[key].pid);
        const run = grpcLoad(ports[key]);
        run.cpu = treeCpuSeconds(processes[key].pid) - cpuBefore;
        runs[key].push(run);
        console.log(
          `round ${round}: grpc ${label}: ${Math.round(run.rps)} calls/s, ${run.errors} errors, p50 ${run.p50?.toFixed(2)} ms`,
        );
      }
    }
    const loadAfter = loadavg();
    const median = (values) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    };
    const r = (value) => Math.round(value).toLocaleString('en-US');
    const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
    const rps = (key) => median(runs[key].map((run) => run.rps));
    const cpu = (key) => runs[key].reduce((sum, run) => sum + run.cpu, 0) / runs[key].length;
    const h2Table = table(
      ['path', 'req/s', 'failed', 'vs direct', 'vs HAProxy', 'CPU s per run (the proxy; direct: nginx)'],
      h2Targets.map(([label, key]) => [
        label,
        r(rps(key)),
        String(runs[key].reduce((sum, run) => sum + run.failed, 0)),
        ratio(rps(key), rps('upstream')),
        ratio(rps(key), rps('haproxy')),
        cpu(key).toFixed(1),
      ]),
    );
    const grpcTable = table(
      [
        'path',
        'calls/s',
        'errors',
        'p50 ms',
        'p99 ms',
        'vs direct',
        'CPU s per run (the proxy; direct: the server)',
      ],
      grpcTargets.map(([label, key]) => [
        label,
        r(rps(key)),
        String(runs[key].reduce((sum, run) => sum + run.errors, 0)),
        median(runs[key].map((run) => run.p50)).toFixed(2),
        median(runs[key].map((run) => run.p99)).toFixed(2),
        ratio(rps(key), rps('grpcUpstream')),
        cpu(key).toFixed(1),
      ]),
    );
    const grpcRatio = rps('grpcAmbassador') / rps('grpcUpstream');
    /** The ratio a / b of each round (same moment, same machine load), lowest to highest. */
    const perRound = (a, b) =>
      runs[a]
        .map((run, index) => run.rps / runs[b][index].rps)
        .sort((x, y) => x - y)
        .map((value) => `${value.toFixed(2)}x`)
        .join(', ');
    const load = (values) => values.map((value) => value.toFixed(2)).join(' / ');
    const lines = [
      `- gRPC unary, ${STREAMS} calls in flight on one connection: ambassador / direct **${ratio(rps('grpcAmbassador'), rps('grpcUpstream'))}** calls/s (aim ≥ 0.5x: ${grpcRatio >= 0.5 ? 'met' : 'not met'} in this run); HAProxy / direct ${ratio(rps('haproxyGrpc'), rps('grpcUpstream'))}; ambassador / HAProxy ${ratio(rps('grpcAmbassador'), rps('haproxyGrpc'))}; ambassador / direct round by round: ${perRound('grpcAmbassador', 'grpcUpstream')}`,
    ];
    if (h2Targets.length)
      lines.push(
        `- h2load, 1 connection × ${STREAMS} streams: ambassador / HAProxy (h2 on both sides) **${ratio(rps('ambassador'), rps('haproxy'))}** req/s (round by round: ${perRound('ambassador', 'haproxy')}); ambassador / direct ${ratio(rps('ambassador'), rps('upstream'))}`,
        `- data path: bare node:http2 client sessions / bare undici HTTP/2 client: **${ratio(rps('bareNode'), rps('bareUndici'))}** req/s; ambassador / the bare node:http2 proxy (the ceiling with no features): ${ratio(rps('ambassador'), rps('bareNode'))}`,
      );
    const markdown = `## ambassador: HTTP/2 and gRPC

Command: \`npm run bench:ambassador\` (this part: \`node bench/ambassador/grpc.mjs\`). ${ROUNDS} rounds over all targets in turn, ${SECONDS} s each, medians shown. h2load (nghttp2 ${haveH2load() ? execFileSync('h2load', ['--version'], { encoding: 'utf8' }).match(/nghttp2\/([\d.]+)/)?.[1] : 'missing'}): \`-c1 -m${STREAMS} -D${SECONDS} --warm-up-time=1\`, prior-knowledge h2c, against nginx (1 worker, \`listen … http2\`, a 24-byte body). gRPC: a @grpc/grpc-js load generator in its own process, one channel (one HTTP/2 connection), ${STREAMS} unary calls in flight, 1 s warm-up, against a grpc-js Echo server (1 process). The ambassador runs with 1 worker (one client connection lands on one worker anyway); HAProxy with \`nbthread ${CORES}\`, \`proto h2\` on both sides. Load generators, upstreams and proxies share the cores. Node.js ${NODE_VERSION}. Machine: ${machine()}. **Load average (1/5/15 min) at the start: ${load(loadBefore)}; at the end: ${load(loadAfter)}** — the machine was shared with other work, so absolute numbers are low and noisy; compare the ratios within the run. Date: ${new Date().toISOString().slice(0, 10)}.

${lines.join('\n')}

gRPC unary (closed loop, one connection):

${grpcTable}
${
  h2Targets.length
    ? `
h2load (closed loop, one connection):

${h2Table}
`
    : ''
}`;
    return markdown;
  } finally {
    stopAll('SIGTERM');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const markdown = await runGrpcBench();
  console.log(`\n${markdown}`);
  if (process.env.BENCH_WRITE !== '0') writeSection('ambassador-grpc', markdown);
}
