import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningAmbassador, startAmbassador, waitFor } from './helpers.js';

const SCRIPT = fileURLToPath(new URL('./upstream-process.mjs', import.meta.url));

/** An upstream process (test/upstream-process.mjs) that can be SIGKILLed and started again on its port. */
class UpstreamProcess {
  readonly name: string;
  port = 0;
  #child: ChildProcess | undefined;

  constructor(name: string) {
    this.name = name;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  start(): Promise<this> {
    const child = spawn(process.execPath, [SCRIPT, this.name, String(this.port)], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    this.#child = child;
    return new Promise((resolve, reject) => {
      let output = '';
      child.once('exit', (code) => reject(new Error(`${this.name} exited with ${code}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening (\d+)/.exec(output);
        if (match) {
          child.removeAllListeners('exit');
          this.port = Number(match[1]);
          resolve(this);
        }
      });
    });
  }

  /** SIGKILL: the process dies at once, its connections are reset by the kernel. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

let ambassador: RunningAmbassador | undefined;
let processes: UpstreamProcess[] = [];
afterEach(async () => {
  await ambassador?.stop();
  for (const upstream of processes) await upstream.kill();
  ambassador = undefined;
  processes = [];
});

interface Kind {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST';
  bytes: number;
}
const KIB = 1024;
const KINDS: Kind[] = [
  { method: 'GET', bytes: 0 },
  { method: 'POST', bytes: 70 * KIB },
  { method: 'HEAD', bytes: 0 },
  { method: 'PUT', bytes: 70 * KIB },
  { method: 'POST', bytes: 0 },
  { method: 'PUT', bytes: 0 },
  { method: 'GET', bytes: 0 },
  { method: 'POST', bytes: 70 * KIB },
  { method: 'PUT', bytes: 2048 * KIB },
  { method: 'POST', bytes: 2048 * KIB },
];
const label = (kind: Kind) =>
  `${kind.method} ${kind.bytes >= 1024 * KIB ? '2 MiB' : kind.bytes ? '70 KB' : '0 B'}`;
const bodies = new Map(KINDS.map((kind) => [kind.bytes, Buffer.alloc(kind.bytes, 120)]));

describe('an endpoint that dies under load', () => {
  it('fails no request but those already sent to it that cannot be replayed: every connect failure is retried, bodies included, and the endpoint is taken out by its health checks, then returns', async () => {
    processes = await Promise.all(['u0', 'u1', 'u2'].map((name) => new UpstreamProcess(name).start()));
    // The retry budget (retries in flight below 20% of requests in flight, at least 3) is a
    // separate safeguard that may leave a failure standing under this load: lifted here. Outlier
    // detection ejects the killed endpoint after 3 connect failures in a row (the default
    // consecutiveConnectFailures), before the next pick; a passing health check ends that ejection.
    // One for 5xx or resets while its health checks still passed lasts baseEjectionMs: short here,
    // so the restarted endpoint is back within the wait below.
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters:
  - name: web
    endpoints: [${processes.map((p) => `"${p.address}"`).join(', ')}]
    lb: round_robin
    healthCheck: { path: /healthz, intervalMs: 200, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 2 }
    outlierDetection: { consecutiveFailures: 5, baseEjectionMs: 1000 }
    retries: { attempts: 2, on: [connect-failure, reset, 503], budgetPercent: 100 }`);
    const url = `${ambassador.urls[0]}/`;
    const victim = processes[1] as UpstreamProcess;
    const clients = 6;
    const perClient = 30;
    const killAfter = 60;
    const served = new Map<string, number>();
    const failures: Array<{ kind: string; status: number; error: string | undefined }> = [];
    let completed = 0;
    let killed: Promise<void> | undefined;
    const run = async (client: number) => {
      for (let i = 0; i < perClient; i++) {
        const kind = KINDS[(client * 3 + i) % KINDS.length] as Kind;
        // Kept-alive connections (the client's default): an answer given before a streamed body was
        // read to its end must close its connection, or the next request on it is never parsed (it
        // hung about one run in three before). headersTimeout turns such a hang into a failure.
        const response = await request(url, {
          method: kind.method,
          headersTimeout: 20_000,
          ...(kind.bytes ? { body: bodies.get(kind.bytes) } : {}),
        });
        const text = await response.body.text();
        if (response.statusCode === 200) {
          const upstream =
            kind.method === 'HEAD' ? 'HEAD (no body)' : (JSON.parse(text) as { upstream: string }).upstream;
          served.set(upstream, (served.get(upstream) ?? 0) + 1);
        } else
          failures.push({
            kind: label(kind),
            status: response.statusCode,
            error: response.headers['x-ambassador-error'] as string | undefined,
          });
        if (++completed === killAfter) killed = victim.kill();
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, client) => run(client)));
    await killed;
    const cluster = (await ambassador.clusters()).clusters[0];
    const dead = cluster?.endpoints.find((endpoint) => endpoint.address === victim.address);
    console.log(
      `requests answered per upstream: ${JSON.stringify(Object.fromEntries(served))}; failed: ${JSON.stringify(failures)}; the killed endpoint: ${JSON.stringify(dead)}`,
    );
    // Nothing was sent on a connect failure: it is never the answer, whatever the method or body.
    expect(failures.filter((failure) => failure.error === 'upstream_connect_failure')).toEqual([]);
    // What may fail: a request already sent to the endpoint as it died that cannot be replayed
    // (a POST, which it may have processed, or a body beyond requestBufferBytes that streamed):
    // at most one per client, the requests in flight at the kill.
    for (const failure of failures) {
      expect(failure.error).toBe('upstream_reset');
      expect(failure.kind.startsWith('POST') || failure.kind.endsWith('2 MiB')).toBe(true);
    }
    expect(failures.length).toBeLessThanOrEqual(clients);
    expect(completed).toBe(clients * perClient);
    // Out of rotation: failing its health checks (or ejected by outlier detection).
    expect(dead?.ejected || dead?.healthy === false).toBe(true);

    // Started again on its port: the active health check brings it back.
    await victim.start();
    const running = ambassador;
    await waitFor(async () => {
      const endpoint = (await running.clusters()).clusters[0]?.endpoints.find(
        (e) => e.address === victim.address,
      );
      return endpoint?.state === 'healthy' ? endpoint : undefined;
    });
    const after = new Map<string, number>();
    for (let i = 0; i < 9; i++) {
      const response = await request(url, { method: 'POST', body: bodies.get(70 * KIB) });
      const { upstream } = (await response.body.json()) as { upstream: string };
      after.set(upstream, (after.get(upstream) ?? 0) + 1);
    }
    console.log(`after the restart, 9 POSTs per upstream: ${JSON.stringify(Object.fromEntries(after))}`);
    expect(after.get(victim.name)).toBe(3);
  });
});
