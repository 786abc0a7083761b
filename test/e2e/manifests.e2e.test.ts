import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { run } from './support/exec.js';
import { kustomize, type Manifest, podSpec, toYaml } from './support/manifests.js';

const examples = join(import.meta.dirname, '../../examples');
const exampleDirs = readdirSync(examples, { withFileTypes: true })
  // Pod examples have a kustomization; demo/ (configs for npm run demo) and monitoring/ (rules, dashboards) are not Pods.
  .filter((entry) => entry.isDirectory() && existsSync(join(examples, entry.name, 'kustomization.yaml')))
  .map((entry) => entry.name);
// Variants of an example in a folder of their own (ambassador-grpc/cluster: the replicas as a
// Deployment behind a headless Service), validated like the examples.
const variantDirs = exampleDirs.flatMap((name) =>
  readdirSync(join(examples, name), { withFileTypes: true })
    .filter(
      (entry) => entry.isDirectory() && existsSync(join(examples, name, entry.name, 'kustomization.yaml')),
    )
    .map((entry) => `${name}/${entry.name}`),
);
const validator = join(
  process.env.SIDECAR_KIT_CACHE ?? join(process.env.HOME ?? '/root', '.cache/sidecar-kit'),
  'venv/bin/kubernetes-validate',
);
// A current Kubernetes release that knows native sidecars and the preStop sleep action.
const KUBERNETES_VERSION = '1.34.0';

describe('every example renders with kustomize and validates against the Kubernetes OpenAPI schema', () => {
  it('has the seven Pod examples the docs promise, and the cluster variant of ambassador-grpc', () => {
    expect(exampleDirs.sort()).toEqual([
      'all-in-one',
      'ambassador',
      'ambassador-grpc',
      'ambassador-redis',
      'init-container',
      'log-shipping',
      'metrics-adapter',
    ]);
    expect(variantDirs).toEqual(['ambassador-grpc/cluster']);
  });

  for (const name of [...exampleDirs, ...variantDirs]) {
    it(`${name}: strict schema validation of \`kubectl kustomize\` output`, async () => {
      const manifests = await kustomize(join(examples, name));
      const cache = join(import.meta.dirname, '../../.cache');
      mkdirSync(cache, { recursive: true });
      const file = join(cache, `e2e-${name.replace('/', '-')}.yaml`);
      writeFileSync(file, toYaml(manifests));
      const result = await run(validator, ['--strict', '-k', KUBERNETES_VERSION, '--quiet', file], {
        allowFailure: true,
      });
      expect(result.stdout + result.stderr).toBe('');
      expect(result.code).toBe(0);
    });

    it(`${name}: every container is hardened and has requests and limits`, async () => {
      const manifests = await kustomize(join(examples, name));
      const pods = manifests.flatMap((m) =>
        m.kind === 'Pod'
          ? [podSpec(m)]
          : m.kind === 'Deployment'
            ? [(m['spec'] as { template: { spec: ReturnType<typeof podSpec> } }).template.spec]
            : [],
      );
      expect(pods.length).toBeGreaterThan(0);
      for (const spec of pods) {
        for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
          expect(container['securityContext'], container.name).toMatchObject({
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          });
          const resources = container['resources'] as { requests?: object; limits?: object } | undefined;
          expect(resources?.requests, container.name).toBeDefined();
          expect(resources?.limits, container.name).toBeDefined();
        }
      }
    });
  }

  it('sidecars are native sidecars: init containers with restartPolicy Always, started before the app', async () => {
    for (const name of [
      'log-shipping',
      'ambassador',
      'ambassador-grpc',
      'ambassador-grpc/cluster',
      'ambassador-redis',
      'metrics-adapter',
      'all-in-one',
    ]) {
      const pod = (await kustomize(join(examples, name))).find((m) => m.kind === 'Pod');
      const sidecars = podSpec(pod as never).initContainers ?? [];
      expect(sidecars.length, name).toBeGreaterThan(0);
      for (const sidecar of sidecars) expect(sidecar.restartPolicy, `${name}/${sidecar.name}`).toBe('Always');
    }
  });

  it('ambassador-grpc/cluster runs the same Pod as ambassador-grpc, with the replicas moved to a Deployment found by DNS', async () => {
    const inPod = await kustomize(join(examples, 'ambassador-grpc'));
    const inCluster = await kustomize(join(examples, 'ambassador-grpc/cluster'));
    const spec = (manifests: Manifest[]) => podSpec(manifests.find((m) => m.kind === 'Pod') as Manifest);
    const byName = (containers: Array<{ name: string }>) => new Map(containers.map((c) => [c.name, c]));
    const podContainers = byName(spec(inPod).containers);
    expect([...podContainers.keys()]).toEqual(['app', 'greeter-0', 'greeter-1', 'greeter-2']);
    expect(spec(inCluster).containers).toEqual([podContainers.get('app')]);
    expect(spec(inCluster).initContainers).toEqual(spec(inPod).initContainers);
    // The Deployment's replicas run what the in-Pod ones run (bound to the Pod IP instead of 127.0.0.1).
    const deployment = inCluster.find((m) => m.kind === 'Deployment') as Manifest;
    const replica = (deployment['spec'] as { template: { spec: ReturnType<typeof podSpec> } }).template.spec
      .containers[0];
    const greeter = podContainers.get('greeter-0') as Record<string, unknown>;
    for (const field of ['image', 'args', 'resources', 'securityContext'])
      expect(replica?.[field], field).toEqual(greeter[field]);
    expect(inCluster.find((m) => m.kind === 'Service')?.['spec']).toMatchObject({ clusterIP: 'None' });
    const config = (manifests: Manifest[]) =>
      parse(
        String(
          (manifests.find((m) => m.kind === 'ConfigMap')!['data'] as Record<string, string>)['config.yaml'],
        ),
      ) as {
        listeners: unknown;
        clusters: Array<Record<string, unknown>>;
      };
    expect(config(inCluster).listeners).toEqual(config(inPod).listeners);
    const { endpoints: _, ...podCluster } = config(inPod).clusters[0] as Record<string, unknown>;
    const { discovery, ...clusterCluster } = config(inCluster).clusters[0] as Record<string, unknown>;
    expect(clusterCluster).toEqual(podCluster);
    expect(discovery).toEqual({
      dns: { name: 'greeter.${POD_NAMESPACE:-default}.svc.cluster.local', port: 50051, refreshMs: 5000 },
    });
  });
});
