import { join, join as joinPath } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EsServer } from '../support/elasticsearch.js';
import { run, waitFor } from './support/exec.js';
import { adaptPodForPodman, kustomize, type Manifest } from './support/manifests.js';
import { type PlayedPod, playPod } from './support/podman.js';
import {
  proveCallsReachEveryReplica,
  proveHealthFollowsAppMetric,
  proveLogsShippedExactlyOnce,
  startEsInNamespace,
  startPodDns,
  volumeMountpoint,
} from './support/stories.js';

const examples = join(import.meta.dirname, '../../examples');
let pod: PlayedPod | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await pod?.down();
  pod = undefined;
});

const BACKEND_NAME = 'backend.default.svc.cluster.local';
const replicas = ['backend-0', 'backend-1', 'backend-2'];
// The Deployment's replicas, as containers in the Pod's own namespace on 127.0.0.2-4 (the whole of
// 127/8 is loopback): podman gives this test no cluster network to put them in Pods of their own.
function backendReplicas(example: string) {
  return async () => {
    const manifests = await kustomize(join(examples, example));
    const deployment = manifests.find((m) => m.kind === 'Deployment') as Manifest;
    const template = (
      deployment['spec'] as { template: { spec: { containers: Array<Record<string, unknown>> } } }
    ).template.spec.containers[0] as Record<string, unknown>;
    return replicas.map((name, index) => ({
      ...structuredClone(template),
      name,
      env: [
        { name: 'HOST', value: `127.0.0.${index + 2}` },
        { name: 'INSTANCE', value: name },
        { name: 'LOG_INTERVAL_MS', value: '0' },
      ],
    }));
  };
}
const backendAddresses = replicas.map((_, index) => `127.0.0.${index + 2}`);

async function withEs(running: PlayedPod): Promise<EsServer> {
  const es = await startEsInNamespace(running.infraPid);
  cleanups.push(() => es.stop());
  return es;
}
const esCurl = (running: PlayedPod) => async (args: string[]) => (await running.inPod('curl', args)).stdout;

async function play(
  example: string,
  adapt: Parameters<typeof adaptPodForPodman>[1] = {},
): Promise<PlayedPod> {
  const manifests = await kustomize(join(examples, example));
  const played = manifests
    .filter((m) => m.kind === 'Pod' || m.kind === 'ConfigMap')
    .map((m): Manifest => (m.kind === 'Pod' ? adaptPodForPodman(m, adapt) : m));
  pod = await playPod(played);
  return pod;
}

describe('example Pods run with podman kube play', () => {
  it('init-container: the init container copies the site into the emptyDir and the server serves it', async () => {
    const running = await play('init-container');
    const page = await waitFor('the server to answer', async () => {
      const response = await running.curl('http://127.0.0.1:8080/');
      return response.status === 200 ? response.body : undefined;
    });
    expect(page).toContain('built site v1');
    expect((await running.curl('http://127.0.0.1:8080/VERSION')).body.trim()).toBe('v1');
    // The server mounts the volume read-only: only the init container can have written the site.
  });

  it('metrics-adapter: /health turns 503 when the app says it is not ready, and back', async () => {
    const running = await play('metrics-adapter');
    await proveHealthFollowsAppMetric(running.curl);
  });

  it('ambassador: the app calls 127.0.0.1:15001 and reaches every backend replica found by DNS', async () => {
    const running = await play('ambassador', {
      extraContainers: (await backendReplicas('ambassador')()) as never,
    });
    const dns = startPodDns(running.infraPid, BACKEND_NAME, backendAddresses);
    cleanups.push(dns.stop);
    await proveCallsReachEveryReplica(running.curl, replicas);
  });

  it('log-shipping: every app line arrives in Elasticsearch exactly once, also across a SIGKILL of the shipper', async () => {
    const running = await play('log-shipping', {
      env: { 'log-shipper': { ES_URL: 'http://127.0.0.1:9200' }, app: { LOG_INTERVAL_MS: '50' } },
    });
    await withEs(running);
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
    await run('podman', ['kill', '--signal', 'KILL', running.container('log-shipper')]);
    await run('podman', ['start', running.container('log-shipper')]);
    await waitFor('shipping to go on after the restart', async () => (await count()) >= before + 40, {
      timeoutMs: 120_000,
    });
    const logFile = joinPath(await volumeMountpoint('app-logs'), 'app.log');
    const shipped = await proveLogsShippedExactlyOnce(curlEs, logFile, 'logs-demo-app-*');
    expect(shipped).toBeGreaterThan(before);
  });

  it('all-in-one: logs shipped exactly once, calls reach every replica, /health follows the app', async () => {
    const running = await play('all-in-one', {
      env: { 'log-shipper': { ES_URL: 'http://127.0.0.1:9200' }, app: { LOG_INTERVAL_MS: '100' } },
      extraContainers: (await backendReplicas('all-in-one')()) as never,
    });
    const dns = startPodDns(running.infraPid, BACKEND_NAME, backendAddresses);
    cleanups.push(dns.stop);
    await withEs(running);
    await proveHealthFollowsAppMetric(running.curl);
    await proveCallsReachEveryReplica(running.curl, replicas);
    const logFile = joinPath(await volumeMountpoint('app-logs'), 'app.log');
    await proveLogsShippedExactlyOnce(esCurl(running), logFile, 'logs-demo-app-*');
  });
});
