#!/usr/bin/env node
// `npm run demo`: the toolkit on one machine, wired as in a Pod, with no external server.
// A shared directory stands in for the emptyDir volume and 127.0.0.1 for the Pod's network namespace.
// Every sidecar with a config in examples/demo/<name>.yaml joins. Ctrl-C (or DEMO_DURATION_MS) stops all.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const work = resolve(process.env.DEMO_DIR ?? join(root, '.demo'));
rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'logs'), { recursive: true });
mkdirSync(join(work, 'state'), { recursive: true });

const children = [];
const colors = [36, 33, 35, 32, 34, 31];
/** `ready` resolves once the child logs that it is up (or has exited). */
function run(name, args, env = {}, readyLine = `"msg":"${name} started"`) {
  const color = colors[children.length % colors.length];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, DEMO_DIR: work, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C in the terminal reaches only this script, which then stops the
    // app first and the sidecars after it. Otherwise every child got that SIGINT too, and the
    // SIGTERM that follows was a second signal: the sidecars exited at once, with code 1.
    detached: true,
  });
  const prefix = `\x1b[${color}m${name.padEnd(16)}\x1b[0m| `;
  let up;
  const ready = new Promise((resolve) => (up = resolve));
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk) => {
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      if (lines.some((line) => line.includes(readyLine))) up();
      for (const line of lines)
        process.stdout.write(`${prefix}${line.length > 300 ? `${line.slice(0, 300)}...` : line}\n`);
    });
  }
  child.on('exit', (code, signal) => {
    up();
    process.stdout.write(`${prefix}exited (${signal ?? `code ${code}`})\n`);
  });
  children.push({ name, child, ready });
  return child;
}

const app = {
  PORT: '8080',
  LOG_FILE: join(work, 'logs', 'app.log'),
  LOG_INTERVAL_MS: '2000',
  UPSTREAM_URL: 'http://127.0.0.1:15001/',
};
const appReady = '"msg":"demo-app listening"';
run('app', ['packages/demo-app/bin/demo-app.js'], { ...app, INSTANCE: 'app' }, appReady);
run(
  'upstream-1',
  ['packages/demo-app/bin/demo-app.js'],
  {
    PORT: '8081',
    INSTANCE: 'upstream-1',
    LOG_INTERVAL_MS: '0',
  },
  appReady,
);
run(
  'upstream-2',
  ['packages/demo-app/bin/demo-app.js'],
  {
    PORT: '8082',
    INSTANCE: 'upstream-2',
    LOG_INTERVAL_MS: '0',
  },
  appReady,
);

const joined = [];
for (const file of readdirSync(join(root, 'examples/demo'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()) {
  const name = file.replace(/\.yaml$/, '');
  const bin = join(root, 'packages', name, 'bin', `${name}.js`);
  if (!existsSync(bin)) continue;
  joined.push(name);
  run(name, [bin, '--config', join('examples/demo', file)]);
}

const open = [
  ['the app', 'http://127.0.0.1:8080/  (its logs: ' + app.LOG_FILE + ')'],
  ['app -> ambassador -> upstreams', 'http://127.0.0.1:8080/call'],
];
if (joined.includes('log-shipper'))
  open.push([
    'log-shipper: shipped events',
    `${join(work, 'shipped.ndjson')}  (metrics http://127.0.0.1:2020/metrics)`,
  ]);
if (joined.includes('ambassador')) open.push(['ambassador clusters', 'http://127.0.0.1:9901/clusters']);
if (joined.includes('metrics-adapter')) {
  open.push(['health from /metrics', 'http://127.0.0.1:9102/health']);
  open.push(['metrics from JSON', 'http://127.0.0.1:9102/metrics']);
  open.push(['flip the app unready', 'http://127.0.0.1:8080/admin/ready?value=0  (and ?value=1)']);
}
// The banner once every process is up (a sidecar on a slow machine may take a few seconds).
Promise.race([
  Promise.all(children.map(({ ready }) => ready)),
  new Promise((resolve) => setTimeout(resolve, 60_000)),
]).then(() => {
  process.stdout.write(
    `\nsidecar-kit demo: app + ${joined.length ? joined.join(', ') : 'no sidecars yet'}; state in ${work}\n`,
  );
  for (const [what, url] of open) process.stdout.write(`  ${what.padEnd(32)} ${url}\n`);
  process.stdout.write('Ctrl-C stops everything.\n\n');
});

// What is flowing: every 5 s the app makes a call through the ambassador, and the demo prints
// lines written vs shipped, which replica answered, and the health the adapter computes.
const countLines = (file) => {
  try {
    const text = readFileSync(file, 'utf8');
    return text ? text.split('\n').length - 1 : 0;
  } catch {
    return 0;
  }
};
const fetchText = async (url) => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return { status: response.status, text: await response.text() };
  } catch (error) {
    return { status: 0, text: String(error.cause?.code ?? error.message) };
  }
};
const flow = setInterval(async () => {
  const parts = [`app log lines ${countLines(app.LOG_FILE)}`];
  if (joined.includes('log-shipper')) parts.push(`shipped ${countLines(join(work, 'shipped.ndjson'))}`);
  if (joined.includes('ambassador')) {
    const call = await fetchText('http://127.0.0.1:8080/call');
    const instance = /"instance":"([^"]+)"/.exec(call.text)?.[1];
    parts.push(`/call -> ${call.status}${instance ? ` from upstream ${instance}` : ''}`);
  }
  if (joined.includes('metrics-adapter')) {
    const health = await fetchText('http://127.0.0.1:9102/health');
    parts.push(`/health ${health.status}`);
  }
  process.stdout.write(`\x1b[1mflowing\x1b[0m ${parts.join(' | ')}\n`);
}, 5000);
flow.unref();

let stopping = false;
async function stop() {
  clearInterval(flow);
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nstopping: sidecars first get SIGTERM after the app, as native sidecars do\n');
  const exited = (child) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => child.once('exit', r));
  const apps = children.filter((c) => !joined.includes(c.name));
  for (const { child } of apps) child.kill('SIGTERM');
  await Promise.all(apps.map(({ child }) => exited(child)));
  const sidecars = children.filter((c) => joined.includes(c.name));
  for (const { child } of sidecars) child.kill('SIGTERM');
  await Promise.all(sidecars.map(({ child }) => exited(child)));
  const failed = children.filter(({ child }) => child.exitCode !== 0);
  process.stdout.write(
    failed.length ? `not clean: ${failed.map((c) => c.name).join(', ')}\n` : 'all stopped cleanly\n',
  );
  process.exit(failed.length ? 1 : 0);
}
// Detached children do not die with this script's process group: never leave one behind.
process.on('exit', () => {
  for (const { child } of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
if (process.env.DEMO_DURATION_MS) setTimeout(stop, Number(process.env.DEMO_DURATION_MS));
