import { join } from 'node:path';
import { type ComposeAdaptation, type ComposeProject, composeUp, type Service } from './compose.js';
import { run } from './exec.js';
import { adaptPodForPodman, kustomize, type Manifest, type PodmanAdaptation } from './manifests.js';
import { type PlayedPod, playPod } from './podman.js';
import {
  type Curl,
  proveCallsReachEveryReplica,
  proveGrpcCallsSpreadOverReplicas,
  proveHealthFollowsAppMetric,
  proveInitContainerSiteServed,
  proveKeysShardedOverEveryShard,
  proveLogsShippedExactlyOnce,
  proveLogsSurviveShipperKill,
  startEsInNamespace,
  startNamespaceDns,
} from './stories.js';

export const examplesDir = join(import.meta.dirname, '../../../examples');
const repoRoot = join(import.meta.dirname, '../../..');

/**
 * A running example, whichever way it was started (a Pod with `podman kube play`, or its compose
 * file with docker-compose): what an example's story needs to check it, and nothing that tells
 * the two apart.
 */
export interface ExampleRun {
  kind: 'pod' | 'compose';
  /** A process in the example's network namespace (the Pod's infra container, compose's app). */
  netnsPid: number;
  /** curl from inside that namespace: reaches what the example binds on 127.0.0.1. */
  curl: Curl;
  /** A host command inside that namespace (curl, redis-cli...). */
  inNetns(
    command: string,
    args: string[],
    options?: { allowFailure?: boolean; timeoutMs?: number; input?: string },
  ): ReturnType<typeof run>;
  /** The podman container of a Pod container or a compose service, by its name in the example. */
  container(name: string): Promise<string>;
  logs(name: string): Promise<string>;
  /** Where a volume of the example (an emptyDir, a compose named volume) is on the host. */
  volumePath(name: string): Promise<string>;
  /** Runs at the end of the test, before the example is torn down. */
  defer(cleanup: () => Promise<void>): void;
}

/**
 * One example: how each run departs from its files (this machine has no registry, no container
 * network and no cluster DNS) and its story, the assertions made once it is up. The story is the
 * same for the Pod and the compose run, so each example's checks exist once and run twice.
 */
export interface ExampleCase {
  example: string;
  /** What the story proves: the test's name, in both suites. */
  proves: string;
  /** Images the example needs beyond images/build.sh's defaults (built if missing or stale). */
  prepare?: () => Promise<void>;
  pod?: () => Promise<PodmanAdaptation>;
  compose?: () => Promise<ComposeAdaptation>;
  /** Names the example looks up, with the in-namespace addresses of their stand-ins, per run kind. */
  dns?: Record<ExampleRun['kind'], Record<string, string[]>>;
  story(run: ExampleRun): Promise<void>;
}

// Deployment and StatefulSet replicas cannot have Pods (or compose networks) of their own here:
// they run in the example's namespace, each on its own loopback address (the whole of 127/8 is
// loopback), and dnsmasq answers their Service names with those addresses.
const replicaAddresses = (count: number) =>
  Array.from({ length: count }, (_, index) => `127.0.0.${index + 2}`);

const backends = ['backend-0', 'backend-1', 'backend-2'];
const backendAddresses = replicaAddresses(backends.length);
const demoAppImage = 'ghcr.io/sidecar-kit/demo-app:0.1.0';

/** The backend Deployment's Pod template, once per replica, as containers of the example's Pod. */
async function backendReplicaContainers(example: string): Promise<PodmanAdaptation['extraContainers']> {
  const manifests = await kustomize(join(examplesDir, example));
  const deployment = manifests.find((m) => m.kind === 'Deployment') as Manifest;
  const template = (
    deployment['spec'] as { template: { spec: { containers: Array<Record<string, unknown>> } } }
  ).template.spec.containers[0] as Record<string, unknown>;
  return backends.map((name, index) => ({
    ...structuredClone(template),
    name,
    env: [
      { name: 'HOST', value: backendAddresses[index] },
      { name: 'INSTANCE', value: name },
      { name: 'LOG_INTERVAL_MS', value: '0' },
    ],
  }));
}

/** compose's "backend" service with 3 replicas, as 3 services in the app's namespace. */
const backendServices: Record<string, Service> = Object.fromEntries(
  backends.map((name, index) => [
    name,
    {
      image: demoAppImage,
      read_only: true,
      user: '65532:65532',
      cap_drop: ['ALL'],
      environment: { HOST: backendAddresses[index] as string, INSTANCE: name, LOG_INTERVAL_MS: '0' },
      depends_on: ['app'],
    },
  ]),
);

const REDIS_IMAGE = 'redis:7.2-alpine';
const REDIS_STAND_IN = 'localhost/sidecar-kit/redis:7';
const shards = ['redis-0', 'redis-1', 'redis-2'];
const shardAddresses = replicaAddresses(shards.length);

/** The redis StatefulSet's Pod template, once per shard, each bound to its own 127.0.0.x. */
async function redisShardContainers(): Promise<PodmanAdaptation> {
  const manifests = await kustomize(join(examplesDir, 'ambassador-redis'));
  const statefulSet = manifests.find((m) => m.kind === 'StatefulSet') as Manifest;
  const podTemplate = (
    statefulSet['spec'] as {
      template: {
        spec: {
          securityContext: Record<string, unknown>;
          containers: Array<Record<string, unknown> & { name: string }>;
        };
      };
    }
  ).template.spec;
  const template = podTemplate.containers[0] as unknown as Record<string, unknown> & {
    args: string[];
    volumeMounts: Array<{ name: string; mountPath: string }>;
    securityContext: Record<string, unknown>;
  };
  const { runAsUser, runAsGroup } = podTemplate.securityContext;
  return {
    images: { [REDIS_IMAGE]: REDIS_STAND_IN },
    extraContainers: shards.map((name, index) => ({
      ...structuredClone(template),
      name,
      // Three servers in one namespace: each binds its own address (redis binds every one by default).
      args: [...template.args, '--bind', shardAddresses[index] as string],
      // The StatefulSet's Pod-level user (redis, 999) on the container: the example's Pod runs as 65532.
      securityContext: { ...template.securityContext, runAsUser, runAsGroup },
      volumeMounts: template.volumeMounts.map((mount) => ({ ...mount, name: `${name}-data` })),
    })),
    extraVolumes: shards.map((name) => ({ name: `${name}-data`, emptyDir: { sizeLimit: '16Mi' } })),
  };
}

const buildRedisStandIn = async () => {
  await run('bash', [join(repoRoot, 'images/base/build-local-redis.sh')], { timeoutMs: 120_000 });
};
const buildGrpcDemo = async () => {
  // Cached by podman's layers: after the first build this takes seconds.
  await run('bash', [join(repoRoot, 'images/build.sh'), '--local-bases', 'grpc-demo'], {
    timeoutMs: 600_000,
  });
};

const backendDns = {
  pod: { 'backend.default.svc.cluster.local': backendAddresses },
  compose: { backend: backendAddresses },
};

export const exampleCases: ExampleCase[] = [
  {
    example: 'init-container',
    proves: 'the init container copies the site into the volume and the server serves it',
    story: (running) => proveInitContainerSiteServed(running.curl),
  },
  {
    example: 'metrics-adapter',
    proves: '/health turns 503 when the app says it is not ready, and back',
    story: (running) => proveHealthFollowsAppMetric(running.curl),
  },
  {
    example: 'ambassador',
    proves: 'the app calls 127.0.0.1:15001 and reaches every backend replica found by DNS',
    pod: async () => ({ extraContainers: await backendReplicaContainers('ambassador') }),
    compose: async () => ({
      drop: ['backend'],
      extraServices: backendServices,
      // The app's 0.0.0.0:8080 (for the published port) would hold 8080 on the replicas' 127.0.0.x.
      env: { app: { HOST: '127.0.0.1' } },
    }),
    dns: backendDns,
    story: (running) => proveCallsReachEveryReplica(running.curl, backends),
  },
  {
    example: 'ambassador-grpc',
    proves:
      "the app's gRPC calls through the ambassador (h2c both ways, gRPC health checks) are answered by all three replicas",
    prepare: buildGrpcDemo,
    story: (running) => proveGrpcCallsSpreadOverReplicas(running, ['greeter-0', 'greeter-1', 'greeter-2']),
  },
  {
    example: 'ambassador-redis',
    proves: 'keys written through the ambassador land on every shard, and all of them read back through it',
    prepare: buildRedisStandIn,
    pod: redisShardContainers,
    compose: async () => ({
      images: { [REDIS_IMAGE]: REDIS_STAND_IN },
      joinApp: Object.fromEntries(
        shards.map((name, index) => [
          name,
          (service: Service) => ({
            ...service,
            command: [...(service['command'] as string[]), '--bind', shardAddresses[index] as string],
          }),
        ]),
      ),
    }),
    dns: {
      pod: Object.fromEntries(
        shards.map((name, index) => [
          `${name}.redis.default.svc.cluster.local`,
          [shardAddresses[index] as string],
        ]),
      ),
      compose: Object.fromEntries(shards.map((name, index) => [name, [shardAddresses[index] as string]])),
    },
    story: (running) => proveKeysShardedOverEveryShard(running, shardAddresses),
  },
  {
    example: 'log-shipping',
    proves: 'every app line arrives in Elasticsearch exactly once, also across a SIGKILL of the shipper',
    pod: async () => ({
      env: { 'log-shipper': { ES_URL: 'http://127.0.0.1:9200' }, app: { LOG_INTERVAL_MS: '50' } },
    }),
    compose: async () => ({
      drop: ['elasticsearch'],
      env: { 'log-shipper': { ES_URL: 'http://127.0.0.1:9200' }, app: { LOG_INTERVAL_MS: '50' } },
    }),
    story: async (running) => {
      const es = await startEsInNamespace(running.netnsPid);
      running.defer(() => es.stop());
      await proveLogsSurviveShipperKill(running, 'app-logs', 'logs-demo-app-*');
    },
  },
  {
    example: 'all-in-one',
    proves: 'logs shipped exactly once, calls reach every replica, /health follows the app',
    pod: async () => ({
      env: { 'log-shipper': { ES_URL: 'http://127.0.0.1:9200' }, app: { LOG_INTERVAL_MS: '100' } },
      extraContainers: await backendReplicaContainers('all-in-one'),
    }),
    compose: async () => ({
      drop: ['backend', 'elasticsearch'],
      extraServices: backendServices,
      env: {
        app: { HOST: '127.0.0.1', LOG_INTERVAL_MS: '100' },
        'log-shipper': { ES_URL: 'http://127.0.0.1:9200' },
      },
    }),
    dns: backendDns,
    story: async (running) => {
      const es = await startEsInNamespace(running.netnsPid);
      running.defer(() => es.stop());
      await proveHealthFollowsAppMetric(running.curl);
      await proveCallsReachEveryReplica(running.curl, backends);
      const logFile = join(await running.volumePath('app-logs'), 'app.log');
      await proveLogsShippedExactlyOnce(esCurl(running), logFile, 'logs-demo-app-*');
    },
  },
];

export const esCurl = (running: ExampleRun) => async (args: string[]) =>
  (await running.inNetns('curl', args)).stdout;

async function volumeMountpoint(volume: string): Promise<string> {
  return (await run('podman', ['volume', 'inspect', volume, '--format', '{{.Mountpoint}}'])).stdout.trim();
}

/** A started example and the way to take it down (deferred cleanups first). */
export interface StartedExample {
  run: ExampleRun;
  down(): Promise<void>;
}

function withCleanups(
  base: Omit<ExampleRun, 'defer'>,
  teardown: () => Promise<void>,
  dns: Record<string, string[]> | undefined,
): StartedExample {
  const cleanups: Array<() => Promise<void>> = [];
  const started: StartedExample = {
    run: { ...base, defer: (cleanup) => cleanups.push(cleanup) },
    async down() {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      await teardown();
    },
  };
  if (dns) started.run.defer(startNamespaceDns(base.netnsPid, dns).stop);
  return started;
}

/** Plays the example's Pod (and its ConfigMaps) from `kubectl kustomize` output with podman. */
export async function startAsPod(example: ExampleCase): Promise<StartedExample> {
  await example.prepare?.();
  const adaptation = (await example.pod?.()) ?? {};
  const manifests = await kustomize(join(examplesDir, example.example));
  const played = manifests
    .filter((m) => m.kind === 'Pod' || m.kind === 'ConfigMap')
    .map((m): Manifest => (m.kind === 'Pod' ? adaptPodForPodman(m, adaptation) : m));
  const pod: PlayedPod = await playPod(played);
  return withCleanups(
    {
      kind: 'pod',
      netnsPid: pod.infraPid,
      curl: (url) => pod.curl(url),
      inNetns: pod.inPod,
      container: async (name) => pod.container(name),
      logs: pod.logs,
      volumePath: volumeMountpoint,
    },
    () => pod.down(),
    example.dns?.pod,
  );
}

/** Runs the example's compose.yaml with docker-compose against podman (startPodmanSocket first). */
export async function startWithCompose(example: ExampleCase): Promise<StartedExample> {
  await example.prepare?.();
  const project: ComposeProject = await composeUp(
    join(examplesDir, example.example),
    (await example.compose?.()) ?? {},
  );
  try {
    const netnsPid = await project.appPid();
    return withCleanups(
      {
        kind: 'compose',
        netnsPid,
        curl: (url) => project.curl(url),
        inNetns: project.inApp,
        container: project.container,
        logs: async (service) => {
          const result = await run('podman', ['logs', await project.container(service)], {
            allowFailure: true,
          });
          return result.stdout + result.stderr;
        },
        // compose names a project's volume PROJECT_NAME, with the project name's odd characters dropped.
        volumePath: (name) => volumeMountpoint(`${project.project.replace(/[^-_a-z0-9]/g, '')}_${name}`),
      },
      () => project.down(),
      example.dns?.compose,
    );
  } catch (error) {
    await project.down();
    throw error;
  }
}
