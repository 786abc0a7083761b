#!/usr/bin/env node
// The redis section of `npm run bench:ambassador` (alone: `node bench/ambassador/redis.mjs`, after
// `npm run build`): redis-benchmark GET/SET with 50 clients over random keys (-r), without and with -P 16,
// against one redis-server direct, nutcracker in front of 3 shards, and the ambassador's redis listener in
// front of the same 3 shards (1 worker, and workers: 2). Rounds interleave the targets; medians are shown;
// CPU per request is the proxy's own (for "direct": the shard's) CPU over the requests of its runs.
// Knobs: BENCH_REDIS_REQUESTS (100000 per test unpipelined, 4x with -P 16), BENCH_ROUNDS (3),
// BENCH_NODE, BENCH_WRITE=0 to print without touching BENCHMARKS.md, BENCH_REDIS_BASELINE=<path to another
// build's packages/ambassador/bin/ambassador.js> to add that build (1 worker) to the same interleaved rounds, for a
// before/after comparison under the same load.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchNode } from '../lib/node.mjs';
import { freePort, start, stopAll, treeCpuSeconds, waitPort } from '../lib/processes.mjs';
import { machine, table, writeSection } from '../lib/report.mjs';

const REQUESTS = Number(process.env.BENCH_REDIS_REQUESTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = 50;
const { path: NODE } = benchNode();
const BASELINE = process.env.BENCH_REDIS_BASELINE;
const root = join(import.meta.dirname, '../..');

function redisBenchmark(port, pipeline) {
  const requests = pipeline > 1 ? REQUESTS * 4 : REQUESTS;
  const out = execFileSync(
    'redis-benchmark',
    [
      ...['-h', '127.0.0.1', '-p', String(port), '-c', String(CLIENTS), '-n', String(requests)],
      ...['-r', '100000', '-t', 'set,get', '-P', String(pipeline), '--csv'],
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const result = { requests: requests * 2 };
  for (const line of out.split('\n')) {
    const cells = line.split(',').map((cell) => cell.replace(/"/g, ''));
    if (cells[0] === 'SET' || cells[0] === 'GET')
      result[cells[0]] = { rps: Number(cells[1]), p50: Number(cells[4]), p99: Number(cells[6]) };
  }
  if (!result.SET || !result.GET) throw new Error(`redis-benchmark printed no results:\n${out}`);
  return result;
}

export async function runRedisBench() {
  const missing = ['redis-server', 'redis-benchmark', 'nutcracker'].filter(
    (program) => spawnSync('which', [program]).status !== 0,
  );
  if (missing.length > 0) {
    console.log(
      `redis bench skipped: missing ${missing.join(', ')} (apt-get install redis-server redis-tools nutcracker)`,
    );
    return undefined;
  }
  const work = mkdtempSync(join(tmpdir(), 'bench-ambassador-redis-'));
  const ports = {};
  for (const name of [
    's0',
    's1',
    's2',
    'nutcracker',
    'nutcrackerStats',
    'one',
    'two',
    'adminOne',
    'adminTwo',
    'base',
    'adminBase',
  ])
    ports[name] = await freePort();
  const processes = {};
  for (const shard of ['s0', 's1', 's2'])
    processes[shard] = start('redis-server', [
      ...['--port', String(ports[shard]), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    ]);
  const servers = ['s0', 's1', 's2'].map((shard, index) => `127.0.0.1:${ports[shard]}:1 shard-${index}`);
  writeFileSync(
    join(work, 'nutcracker.yml'),
    `pool:
  listen: 127.0.0.1:${ports.nutcracker}
  redis: true
  hash: fnv1a_64
  distribution: ketama
  timeout: 1000
  servers:
${servers.map((spec) => `    - ${spec}`).join('\n')}
`,
  );
  processes.nutcracker = start('nutcracker', [
    ...['-c', join(work, 'nutcracker.yml'), '-s', String(ports.nutcrackerStats), '-a', '127.0.0.1'],
    ...['-o', join(work, 'nutcracker.log')],
  ]);
  const ambassador = (
    name,
    port,
    admin,
    workers,
    bin = join(root, 'packages/ambassador/bin/ambassador.js'),
  ) => {
    const config = join(work, `${name}.yaml`);
    writeFileSync(
      config,
      `listeners:
  - { name: redis, listen: 127.0.0.1:${port}, protocol: redis, cluster: cache }
clusters:
  - name: cache
    sharding:
      hash: fnv1a_64
      distribution: ketama
      timeoutMs: 1000
      servers: [${servers.map((spec) => `"${spec}"`).join(', ')}]
workers: ${workers}
admin: { listen: 127.0.0.1:${admin} }
log: { level: warn }
`,
    );
    return start(NODE, [bin, '--config', config]);
  };
  processes.one = ambassador('redis-one', ports.one, ports.adminOne, 1);
  processes.two = ambassador('redis-two', ports.two, ports.adminTwo, 2);
  if (BASELINE) processes.base = ambassador('redis-base', ports.base, ports.adminBase, 1, BASELINE);
  const loadBefore = loadavg();
  try {
    for (const name of ['s0', 's1', 's2', 'nutcracker', 'one', 'two', ...(BASELINE ? ['base'] : [])])
      await waitPort(ports[name]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const targets = [
      ['one redis-server, direct', 's0'],
      ['nutcracker 0.5.0 (3 shards)', 'nutcracker'],
      ['ambassador redis (3 shards, 1 worker)', 'one'],
      ['ambassador redis (3 shards, workers: 2)', 'two'],
      ...(BASELINE ? [['baseline build: ambassador redis (3 shards, 1 worker)', 'base']] : []),
    ];
    const runs = {};
    for (const pipeline of [1, 16]) {
      for (const [, key] of targets) redisBenchmark(ports[key], pipeline); // warm-up, discarded
      for (let round = 1; round <= ROUNDS; round++)
        for (const [label, key] of targets) {
          const pid = processes[key].pid;
          const before = treeCpuSeconds(pid);
          const run = redisBenchmark(ports[key], pipeline);
          run.cpu = treeCpuSeconds(pid) - before;
          const name = `${key}:${pipeline}`;
          runs[name] = [...(runs[name] ?? []), run];
          console.log(
            `-P ${pipeline} round ${round}: ${label}: SET ${Math.round(run.SET.rps)} GET ${Math.round(run.GET.rps)} req/s, CPU ${run.cpu.toFixed(2)} s`,
          );
        }
    }
    const loadAfter = loadavg();
    const median = (values) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    };
    const spread = (values) => Math.max(...values) / Math.min(...values);
    const summary = {};
    for (const pipeline of [1, 16])
      for (const [label, key] of targets) {
        const list = runs[`${key}:${pipeline}`];
        const cpu = list.reduce((sum, run) => sum + run.cpu, 0);
        const requests = list.reduce((sum, run) => sum + run.requests, 0);
        summary[`${key}:${pipeline}`] = {
          label,
          set: median(list.map((run) => run.SET.rps)),
          get: median(list.map((run) => run.GET.rps)),
          getP99: median(list.map((run) => run.GET.p99)),
          spread: Math.max(spread(list.map((run) => run.SET.rps)), spread(list.map((run) => run.GET.rps))),
          usPerRequest: (cpu / requests) * 1e6,
        };
      }
    const r = (value) => Math.round(value).toLocaleString('en-US');
    const x = (a, b) => `${(a / b).toFixed(2)}x`;
    const rows = [];
    for (const pipeline of [1, 16])
      for (const [, key] of targets) {
        const s = summary[`${key}:${pipeline}`];
        const n = summary[`nutcracker:${pipeline}`];
        rows.push([
          pipeline === 1 ? 'no' : '-P 16',
          s.label,
          r(s.set),
          r(s.get),
          s.getP99.toFixed(2),
          key === 'nutcracker' || key === 's0' ? '' : `${x(s.set, n.set)} / ${x(s.get, n.get)}`,
          s.usPerRequest.toFixed(1),
          `${s.spread.toFixed(2)}x`,
        ]);
      }
    const worst = Math.max(...Object.values(summary).map((s) => s.spread));
    const ratio = (key, pipeline) => {
      const s = summary[`${key}:${pipeline}`];
      const n = summary[`nutcracker:${pipeline}`];
      return Math.min(s.set / n.set, s.get / n.get);
    };
    const load = (values) => values.map((value) => value.toFixed(2)).join(', ');
    const noisy = worst > 1.5 || loadBefore[0] > 2;
    const markdown = `### ambassador: redis sharding (vs nutcracker)

Command: \`npm run bench:ambassador\` (redis part alone: \`node bench/ambassador/redis.mjs\`). \`redis-benchmark -c ${CLIENTS} -r 100000 -t set,get\`, ${r(REQUESTS)} requests per test unpipelined and ${r(REQUESTS * 4)} with \`-P 16\`, ${ROUNDS} rounds over all targets in turn after a discarded warm-up of each, medians shown. Three redis-server 7 shards on loopback behind nutcracker 0.5.0 and the ambassador (same \`servers:\`, ketama, fnv1a_64); "direct" is one of those redis-servers alone. CPU per request: the proxy's own processes (for direct: the redis-server) over the requests of its runs. Machine: ${machine()}, shared with other work: load average ${load(loadBefore)} before and ${load(loadAfter)} after (1/5/15 min). Date: ${new Date().toISOString().slice(0, 10)}.

${table(['pipelining', 'path', 'SET req/s', 'GET req/s', 'GET p99 ms', 'vs nutcracker (SET / GET)', 'CPU µs per request', 'max/min over rounds'], rows)}

- ambassador (1 worker) / nutcracker, the lower of SET and GET: **${x(ratio('one', 1), 1)}** unpipelined (aim ≥ 0.8x), **${x(ratio('one', 16), 1)}** with \`-P 16\` (aim ≥ 1.0x); workers: 2: ${x(ratio('two', 1), 1)} and ${x(ratio('two', 16), 1)}.${BASELINE ? `\n- Baseline build (\`BENCH_REDIS_BASELINE\`, ${process.env.BENCH_REDIS_BASELINE_LABEL ?? BASELINE}) in the same rounds: ${x(ratio('base', 1), 1)} unpipelined and ${x(ratio('base', 16), 1)} with \`-P 16\`; CPU per request ${summary['base:1'].usPerRequest.toFixed(1)} µs → ${summary['one:1'].usPerRequest.toFixed(1)} µs unpipelined, ${summary['base:16'].usPerRequest.toFixed(1)} µs → ${summary['one:16'].usPerRequest.toFixed(1)} µs with \`-P 16\`.` : ''}
${noisy ? `- **These numbers are noisy**: the rounds of one target differ by up to ${worst.toFixed(2)}x and the machine was loaded (load average ${loadBefore[0].toFixed(2)} on ${machine().split(' ')[0]} cores) by work outside this benchmark; read the ratios as rough, and the CPU per request as the steadier figure.` : `- The rounds of one target differ by at most ${worst.toFixed(2)}x.`}`;
    console.log(`\n${markdown}`);
    return markdown;
  } finally {
    for (const child of Object.values(processes)) child.kill('SIGTERM');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const markdown = await runRedisBench();
    if (markdown && process.env.BENCH_WRITE !== '0') writeSection('ambassador-redis', markdown);
  } finally {
    stopAll('SIGTERM');
  }
}
