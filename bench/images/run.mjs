#!/usr/bin/env node
// Measures every container image: size, cold start to /readyz 200, idle RSS.
//   node bench/images/run.mjs [--repo ghcr.io/sidecar-kit[,OTHER...]] [--tag 0.1.0] [--runs 5] [--idle-ms 10000]
//                             [--base localhost/sidecar-kit/node-runtime:24] [--json FILE] [NAME...]
// NAME defaults to log-shipper ambassador metrics-adapter demo-app base (base: the runtime base
// image running a bare node http server, the floor for every image). Needs root (ip netns), podman,
// and the images (images/build.sh --local-bases).
//
// Each run is one fresh container, created first (`podman create`, not timed) and then started:
// - cold start: from `podman start` to the first HTTP 200 from the admin /readyz (demo-app: GET /),
//   polled every 5 ms from inside the container's network namespace. It includes runc starting the
//   container (the same for every image) and node loading the code, the config and the listeners.
// - idle RSS: VmRSS of the container's node process (its PID 1) after --idle-ms of no traffic.
// Every container runs as in the e2e tests: --read-only, --cap-drop ALL, in a network namespace this
// script makes (ip netns, loopback only: nothing leaves it), with a stub Elasticsearch (for
// log-shipper's readiness) and a stub app /metrics (for metrics-adapter) on 127.0.0.1 in it.
// - CPU to ready: user+sys CPU time of that node process, read from /proc just after the 200
//   (within a few hundred ms: podman inspect). Unlike the wall time it hardly moves when other
//   work shares the machine's CPUs.
// The median of --runs runs is reported, after one warm-up run that is not counted. With several
// repositories (--repo A,B: e.g. images before and after a change) the runs alternate between them,
// so both see the same load on a shared machine.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return value;
};
const repos = option('repo', 'ghcr.io/sidecar-kit').split(',');
const tag = option('tag', '0.1.0');
const runs = Number(option('runs', '5'));
const idleMs = Number(option('idle-ms', '10000'));
const base = option('base', 'localhost/sidecar-kit/node-runtime:24');
const jsonFile = option('json', undefined);
const names = args.length ? args : ['log-shipper', 'ambassador', 'metrics-adapter', 'demo-app', 'base'];

const sh = (cmd, argv, opts = {}) => execFileSync(cmd, argv, { encoding: 'utf8', ...opts }).trim();
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Config for each image; the container mounts the folder at /config (read-only).
const configs = {
  'log-shipper': {
    file: 'log-shipper.yaml',
    text: `inputs: [{ paths: ["/tmp/logs/*.log"], format: json }]
state: { dir: /tmp/state }
output: { type: elasticsearch, elasticsearch: { node: "http://127.0.0.1:9200", index: bench } }
admin: { listen: 127.0.0.1:2020 }
`,
    ready: 'http://127.0.0.1:2020/readyz',
  },
  ambassador: {
    file: 'ambassador.yaml',
    text: `listeners: [{ name: web, listen: 127.0.0.1:15001, cluster: up }]
clusters: [{ name: up, endpoints: ["127.0.0.1:9200"] }]
admin: { listen: 127.0.0.1:9901 }
`,
    ready: 'http://127.0.0.1:9901/readyz',
  },
  'metrics-adapter': {
    file: 'metrics-adapter.yaml',
    text: `listen: 127.0.0.1:9102
endpoints:
  - path: /health
    source: { url: http://127.0.0.1:9200/metrics, format: prometheus }
    checks: [{ name: ready, expr: 'app_ready == 1' }]
admin: { listen: 127.0.0.1:9902 }
`,
    ready: 'http://127.0.0.1:9902/readyz',
  },
  'demo-app': { env: ['HOST=127.0.0.1', 'PORT=8080'], ready: 'http://127.0.0.1:8080/' },
  // The floor: the runtime base image itself, node answering 200 from a bare http server.
  base: {
    image: base,
    args: [
      '-e',
      "process.on('SIGTERM', () => process.exit(0)); require('node:http').createServer((q, s) => s.end()).listen(8080, '127.0.0.1')",
    ],
    ready: 'http://127.0.0.1:8080/',
  },
};

// Stub Elasticsearch and app metrics, run inside the namespace.
const stub = `import { createServer } from 'node:http';
createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.url.startsWith('/metrics')) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return res.end('# TYPE app_ready gauge\\napp_ready 1\\n');
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
    res.end(req.url.includes('_bulk') ? '{"took":1,"errors":false,"items":[]}' : '{"status":"green","version":{"number":"8.19.0"}}');
  });
}).listen(9200, '127.0.0.1', () => console.log('ready'));
`;
// Polls URL every 5 ms; prints process.hrtime.bigint() (CLOCK_MONOTONIC, shared by processes) at the first 200.
const probe = `import { get } from 'node:http';
const url = process.argv[2];
const deadline = Date.now() + 60_000;
const once = () => get(url, { agent: false }, (res) => {
  res.resume();
  if (res.statusCode === 200) { console.log(String(process.hrtime.bigint())); process.exit(0); }
  retry();
}).on('error', retry);
const retry = () => (Date.now() > deadline ? process.exit(1) : setTimeout(once, 5));
console.log('polling');
once();
`;

const work = mkdtempSync(join(tmpdir(), 'bench-images-'));
chmodSync(work, 0o755); // the images run as uid 65532
writeFileSync(join(work, 'stub.mjs'), stub);
writeFileSync(join(work, 'probe.mjs'), probe);
const netns = `sk-bench-images-${process.pid}`;
sh('ip', ['netns', 'add', netns]);
sh('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
const children = [];
const cleanup = () => {
  for (const child of children) child.kill();
  try {
    sh('ip', ['netns', 'del', netns]);
  } catch {}
  rmSync(work, { recursive: true, force: true });
};
process.on('exit', () => {
  if (current) execFileSync('podman', ['rm', '-f', '-t', '0', current], { stdio: 'ignore' });
  cleanup();
});
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const CLOCK_TICKS = Number(sh('getconf', ['CLK_TCK']));

/** Starts NODE ARGS in the namespace; resolves with the child once it printed its first line. */
function inNetns(script, scriptArgs = []) {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, script, ...scriptArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  const lines = [];
  const waiters = [];
  child.stdout.on('data', (chunk) => {
    out += chunk;
    let i = out.indexOf('\n');
    while (i >= 0) {
      lines.push(out.slice(0, i));
      out = out.slice(i + 1);
      i = out.indexOf('\n');
      waiters.shift()?.();
    }
  });
  const next = () =>
    new Promise((ok, fail) => {
      if (lines.length) return ok(lines.shift());
      child.once('exit', (code) => fail(new Error(`${script} exited ${code}`)));
      waiters.push(() => ok(lines.shift()));
    });
  return { child, next };
}

const stubServer = inNetns(join(work, 'stub.mjs'));
await stubServer.next();

let current;
async function oneRun(name, image) {
  const config = configs[name];
  const container = `sk-bench-${name}-${process.pid}`;
  const argv = [
    'create',
    '--pull=never',
    '--read-only',
    '--cap-drop',
    'ALL',
    '--network',
    `ns:/run/netns/${netns}`,
  ];
  argv.push('--name', container, '-v', `${work}:/config:ro,Z`);
  for (const env of config.env ?? []) argv.push('-e', env);
  argv.push(image);
  if (config.file) argv.push('--config', `/config/${config.file}`);
  argv.push(...(config.args ?? []));
  sh('podman', ['rm', '-f', container]);
  sh('podman', argv);
  current = container;
  try {
    const poller = inNetns(join(work, 'probe.mjs'), [config.ready]);
    await poller.next(); // polling
    const t0 = process.hrtime.bigint();
    sh('podman', ['start', container]);
    const t1 = BigInt(await poller.next());
    const coldMs = Number(t1 - t0) / 1e6;
    const pid = sh('podman', ['inspect', container, '--format', '{{.State.Pid}}']);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const cpuMs = ((Number(stat[11]) + Number(stat[12])) / CLOCK_TICKS) * 1000;
    await sleep(idleMs);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(status.match(/^VmRSS:\s+(\d+) kB/m)[1]);
    return { coldMs, cpuMs, rssMb: rssKb / 1024 };
  } finally {
    sh('podman', ['rm', '-f', '-t', '10', container]);
    current = undefined;
  }
}

const mb = (bytes) => bytes / 1e6;
const baseSize = Number(sh('podman', ['image', 'inspect', base, '--format', '{{.Size}}']));
for (const name of names) writeFileSync(join(work, configs[name].file ?? 'none'), configs[name].text ?? '');
const results = [];
for (const name of names) {
  const images = configs[name].image ? [configs[name].image] : repos.map((repo) => `${repo}/${name}:${tag}`);
  const samples = new Map(images.map((image) => [image, []]));
  for (const image of images) await oneRun(name, image); // warm-up: page cache, podman's storage
  for (let i = 0; i < runs; i += 1)
    for (const image of images) samples.get(image).push(await oneRun(name, image));
  for (const image of images) {
    const size = Number(sh('podman', ['image', 'inspect', image, '--format', '{{.Size}}']));
    const list = samples.get(image);
    const pick = (key) => list.map((sample) => sample[key]);
    const result = {
      name,
      image,
      sizeMb: mb(size),
      overBaseMb: mb(size - baseSize),
      coldStartMs: median(pick('coldMs')),
      coldStartMsRange: [Math.min(...pick('coldMs')), Math.max(...pick('coldMs'))],
      cpuToReadyMs: median(pick('cpuMs')),
      idleRssMb: median(pick('rssMb')),
      samples: list,
    };
    results.push(result);
    console.error(`${image}: ${JSON.stringify({ ...result, samples: undefined })}`);
  }
}

const cpus = (await import('node:os')).cpus();
console.log(
  `Machine: ${cpus.length} × ${cpus[0]?.model}, podman ${sh('podman', ['version', '--format', '{{.Client.Version}}'])}, load average at the end ${(
    await import('node:os')
  )
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(
      ' ',
    )}. Base \`${base}\`: ${mb(baseSize).toFixed(1)} MB. Median of ${runs} runs; idle RSS after ${idleMs / 1000} s. Date: ${new Date().toISOString().slice(0, 10)}.\n`,
);
console.log(
  '| image | size | on top of the base | cold start to /readyz 200 (min-max) | CPU to ready | idle RSS |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  const [lo, hi] = r.coldStartMsRange.map((x) => x.toFixed(0));
  console.log(
    `| \`${r.image}\` | ${r.sizeMb.toFixed(1)} MB | ${r.overBaseMb.toFixed(1)} MB | ${r.coldStartMs.toFixed(0)} ms (${lo}-${hi}) | ${r.cpuToReadyMs.toFixed(0)} ms | ${r.idleRssMb.toFixed(1)} MiB |`,
  );
}
if (jsonFile)
  writeFileSync(
    jsonFile,
    `${JSON.stringify({ base, baseSizeMb: mb(baseSize), idleMs, runs, results }, null, 2)}\n`,
  );
