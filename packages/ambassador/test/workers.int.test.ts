import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/elasticsearch.js';
import { type Handler, Upstream, waitFor, writeConfig } from './helpers.js';

const BIN = join(import.meta.dirname, '../bin/ambassador.js');

let primary: ChildProcess | undefined;
let upstream: Upstream | undefined;
afterEach(async () => {
  primary?.kill('SIGKILL');
  primary = undefined;
  await upstream?.kill();
});

async function startUpstream(handler: Handler): Promise<number> {
  upstream = await new Upstream('u0', handler).start();
  return upstream.port;
}

async function getText(url: string): Promise<{ status: number; text: string }> {
  const response = await request(url);
  return { status: response.statusCode, text: await response.body.text() };
}

/** One request on a connection of its own, so the kernel picks the worker that accepts it. */
function freshConnectionGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    }).on('error', reject);
  });
}

function workerPids(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

async function startWorkers(upstreamPort: number, workers = 2) {
  const port = await freePort();
  const admin = await freePort();
  const file = writeConfig(`listeners: [{ name: web, listen: 127.0.0.1:${port}, cluster: web }]
clusters: [{ name: web, endpoints: ["127.0.0.1:${upstreamPort}"] }]
workers: ${workers}
admin: { listen: 127.0.0.1:${admin} }
log: { level: warn }
`);
  primary = spawn(process.execPath, [BIN, '--config', file], { stdio: ['ignore', 'inherit', 'inherit'] });
  const adminUrl = `http://127.0.0.1:${admin}`;
  await waitFor(async () => {
    try {
      return (await getText(`${adminUrl}/readyz`)).status === 200;
    } catch {
      return false;
    }
  }, 20_000);
  return { url: `http://127.0.0.1:${port}`, adminUrl, pid: primary.pid as number };
}

describe('the ambassador with workers: 2', () => {
  it('serves from two worker processes; /clusters and /metrics merge what every worker saw', async () => {
    const { url, adminUrl, pid } = await startWorkers(await startUpstream((_req, res) => res.end('ok')));
    expect(workerPids(pid)).toHaveLength(2);
    for (let i = 0; i < 40; i++) expect(await freshConnectionGet(`${url}/`)).toBe(200);

    const clusters = JSON.parse((await getText(`${adminUrl}/clusters`)).text) as {
      workers: number;
      clusters: Array<{
        endpoints: Array<{ requests: number; state: string; states: Record<string, string> }>;
      }>;
    };
    expect(clusters.workers).toBe(2);
    const endpoint = clusters.clusters[0]?.endpoints[0];
    expect(endpoint).toMatchObject({
      requests: 40,
      state: 'healthy',
      states: { 1: 'healthy', 2: 'healthy' },
    });

    const metrics = (await getText(`${adminUrl}/metrics`)).text;
    expect(metrics).toMatch(/^ambassador_workers 2$/m);
    expect(metrics).toMatch(/^ambassador_upstream_requests_total\{[^}]*class="2xx"\} 40$/m);
    // A gauge of state is not summed over the workers: 1 means every worker routes to it.
    expect(metrics).toMatch(/^ambassador_endpoint_healthy\{[^}]*state="healthy"\} 1$/m);
    const readiness = JSON.parse((await getText(`${adminUrl}/readyz`)).text) as {
      checks: Record<string, { ok: boolean }>;
    };
    expect(readiness.checks['workers']).toEqual({ ok: true });
  });

  it('restarts a worker that dies while the other keeps answering, and stays ready meanwhile', async () => {
    const { url, adminUrl, pid } = await startWorkers(await startUpstream((_req, res) => res.end('ok')));
    const [victim, survivor] = workerPids(pid) as [number, number];
    process.kill(victim, 'SIGKILL');
    // Connections accepted from now on go to the survivor (or the replacement): none fails, and
    // the Pod is not taken out of service for a lost worker.
    for (let i = 0; i < 50; i++) {
      expect(await freshConnectionGet(`${url}/`)).toBe(200);
      if (i % 10 === 0) expect((await getText(`${adminUrl}/readyz`)).status).toBe(200);
    }
    const replaced = await waitFor(() => {
      const pids = workerPids(pid);
      return pids.length === 2 && !pids.includes(victim) ? pids : undefined;
    }, 20_000);
    expect(replaced).toContain(survivor);
    const metrics = await waitFor(async () => {
      const text = (await getText(`${adminUrl}/metrics`)).text;
      return /^ambassador_workers 2$/m.test(text) ? text : undefined;
    }, 20_000);
    expect(metrics).toMatch(/^ambassador_worker_restarts_total\{worker="\d"\} 1$/m);
  });

  it('on SIGTERM every worker finishes its request in flight, then the ambassador exits 0', async () => {
    const port = await startUpstream((_req, res) => setTimeout(() => res.end('finished'), 800));
    const { url } = await startWorkers(port);
    const running = primary as ChildProcess;
    const exited = new Promise<number | null>((resolve) => running.on('exit', (code) => resolve(code)));
    const pending = Promise.all(
      [1, 2, 3, 4].map(() => request(`${url}/`).then(async (r) => [r.statusCode, await r.body.text()])),
    );
    await sleep(200);
    running.kill('SIGTERM');
    expect(await pending).toEqual(Array(4).fill([200, 'finished']));
    expect(await exited).toBe(0);
  });

  it('a second SIGTERM exits at once (code 1), its workers with it', async () => {
    const port = await startUpstream((_req, res) => setTimeout(() => res.end('late'), 10_000));
    const { url, pid } = await startWorkers(port);
    const workers = workerPids(pid);
    const running = primary as ChildProcess;
    const exited = new Promise<number | null>((resolve) => running.on('exit', (code) => resolve(code)));
    const pending = request(`${url}/`).catch((error: Error) => error);
    await sleep(200);
    running.kill('SIGTERM');
    await sleep(200);
    running.kill('SIGTERM');
    expect(await exited).toBe(1);
    await waitFor(() => workers.every((worker) => !existsSync(`/proc/${worker}`)), 2_000);
    expect(await pending).toBeInstanceOf(Error);
  });

  it('its workers exit when the primary is killed with SIGKILL (nothing is left listening)', async () => {
    const { pid } = await startWorkers(await startUpstream((_req, res) => res.end('ok')));
    const workers = workerPids(pid);
    expect(workers).toHaveLength(2);
    (primary as ChildProcess).kill('SIGKILL');
    await waitFor(() => workers.every((worker) => !existsSync(`/proc/${worker}`)), 20_000);
  });

  it('fails to start with exit 1 when its workers cannot listen (a port in use)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const file = writeConfig(
        `listeners: [{ name: web, listen: 127.0.0.1:${port}, cluster: c }]\nclusters: [{ name: c, endpoints: ["127.0.0.1:2"] }]\nworkers: 2\nadmin: { listen: 127.0.0.1:0 }\n`,
      );
      const child = spawn(process.execPath, [BIN, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(1);
      expect(output).toContain('EADDRINUSE');
      expect(output).toMatch(/"msg":"cannot start: worker \d exited with code 1 before it started/);
      expect(output).not.toContain('"stack"');
    } finally {
      taken.close();
    }
  });
});
