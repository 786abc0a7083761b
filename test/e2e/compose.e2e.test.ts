import { join, join as joinPath } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ComposeProject, composeUp, startPodmanSocket, stopPodmanSocket } from './support/compose.js';
import { run, waitFor } from './support/exec.js';
import {
  proveCallsReachEveryReplica,
  proveHealthFollowsAppMetric,
  proveLogsShippedExactlyOnce,
  startEsInNamespace,
  startPodDns,
  volumeMountpoint,
} from './support/stories.js';

const examples = join(import.meta.dirname, '../../examples');
let project: ComposeProject | undefined;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(startPodmanSocket);
afterAll(stopPodmanSocket);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await project?.down();
  project = undefined;
});

const replicas = ['backend-1', 'backend-2', 'backend-3'];
// compose's "backend" service with 3 replicas, as 3 services in the app's namespace on
// 127.0.0.2-4: this machine allows no container network that compose's DNS could serve.
const backendServices = Object.fromEntries(
  replicas.map((name, index) => [
    name,
    {
      image: 'ghcr.io/sidecar-kit/demo-app:0.1.0',
      read_only: true,
      user: '65532:65532',
      cap_drop: ['ALL'],
      environment: { HOST: `127.0.0.${index + 2}`, INSTANCE: name, LOG_INTERVAL_MS: '0' },
      depends_on: ['app'],
    },
  ]),
);
const backendAddresses = replicas.map((_, index) => `127.0.0.${index + 2}`);
const esCurl = (running: ComposeProject) => async (args: string[]) =>
  (await running.inApp('curl', args)).stdout;

describe('example compose files run with docker-compose against podman', () => {
  it('init-container: copy-site completes, then the server serves what it copied', async () => {
    project = await composeUp(join(examples, 'init-container'));
    const running = project;
    const page = await waitFor('the server to answer', async () => {
      const response = await running.curl('http://127.0.0.1:8080/');
      return response.status === 200 ? response.body : undefined;
    });
    expect(page).toContain('built site v1');
  });

  it('metrics-adapter: /health turns 503 when the app says it is not ready, and back', async () => {
    project = await composeUp(join(examples, 'metrics-adapter'));
    await proveHealthFollowsAppMetric(project.curl);
  });

  it('ambassador: the app reaches every backend replica through the ambassador', async () => {
    project = await composeUp(join(examples, 'ambassador'), {
      drop: ['backend'],
      extraServices: backendServices,
      // The app's 0.0.0.0:8080 (for the published port) would hold 8080 on the replicas' 127.0.0.x.
      env: { app: { HOST: '127.0.0.1' } },
    });
    const dns = startPodDns(await project.appPid(), 'backend', backendAddresses);
    cleanups.push(dns.stop);
    await proveCallsReachEveryReplica(project.curl, replicas);
  });

  it('log-shipping: every app line arrives in Elasticsearch exactly once, also across a SIGKILL of the shipper', async () => {
    project = await composeUp(join(examples, 'log-shipping'), {
      drop: ['elasticsearch'],
      env: { 'log-shipper': { ES_URL: 'http://127.0.0.1:9200' }, app: { LOG_INTERVAL_MS: '50' } },
    });
    const running = project;
    const es = await startEsInNamespace(await running.appPid());
    cleanups.push(() => es.stop());
    const curlEs = esCurl(running);
    const count = async () => {
      await curlEs(['-s', '-XPOST', 'http://127.0.0.1:9200/logs-demo-app-*/_refresh']);
      const body = JSON.parse(await curlEs(['-s', 'http://127.0.0.1:9200/logs-demo-app-*/_count'])) as {
        count?: number;
      };
      return body.count ?? 0;
    };
    const before = await waitFor(
      'first documents',
      async () => ((await count()) >= 20 ? count() : undefined),
      { timeoutMs: 120_000 },
    );
    const shipper = await running.container('log-shipper');
    await run('podman', ['kill', '--signal', 'KILL', shipper]);
    await run('podman', ['start', shipper]);
    await waitFor('shipping to go on after the restart', async () => (await count()) >= before + 40, {
      timeoutMs: 120_000,
    });
    const logFile = joinPath(
      await volumeMountpoint(`${running.project.replace(/[^-_a-z0-9]/g, '')}_app-logs`),
      'app.log',
    );
    await proveLogsShippedExactlyOnce(curlEs, logFile, 'logs-demo-app-*');
  });

  it('all-in-one: logs shipped exactly once, calls reach every replica, /health follows the app', async () => {
    project = await composeUp(join(examples, 'all-in-one'), {
      drop: ['backend', 'elasticsearch'],
      extraServices: backendServices,
      env: {
        app: { HOST: '127.0.0.1', LOG_INTERVAL_MS: '100' },
        'log-shipper': { ES_URL: 'http://127.0.0.1:9200' },
      },
    });
    const running = project;
    const dns = startPodDns(await running.appPid(), 'backend', backendAddresses);
    cleanups.push(dns.stop);
    const es = await startEsInNamespace(await running.appPid());
    cleanups.push(() => es.stop());
    await proveHealthFollowsAppMetric(running.curl);
    await proveCallsReachEveryReplica(running.curl, replicas);
    const logFile = joinPath(
      await volumeMountpoint(`${running.project.replace(/[^-_a-z0-9]/g, '')}_app-logs`),
      'app.log',
    );
    await proveLogsShippedExactlyOnce(esCurl(running), logFile, 'logs-demo-app-*');
  });
});
