import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from './support/exec.js';
import { kustomize, podSpec, toYaml } from './support/manifests.js';

const examples = join(import.meta.dirname, '../../examples');
const exampleDirs = readdirSync(examples, { withFileTypes: true })
  // Pod examples have a kustomization; demo/ (configs for npm run demo) and monitoring/ (rules, dashboards) are not Pods.
  .filter((entry) => entry.isDirectory() && existsSync(join(examples, entry.name, 'kustomization.yaml')))
  .map((entry) => entry.name);
const validator = join(
  process.env.SIDECAR_KIT_CACHE ?? join(process.env.HOME ?? '/root', '.cache/sidecar-kit'),
  'venv/bin/kubernetes-validate',
);
// A current Kubernetes release that knows native sidecars and the preStop sleep action.
const KUBERNETES_VERSION = '1.34.0';

describe('every example renders with kustomize and validates against the Kubernetes OpenAPI schema', () => {
  it('has the six Pod examples the docs promise', () => {
    expect(exampleDirs.sort()).toEqual([
      'all-in-one',
      'ambassador',
      'ambassador-redis',
      'init-container',
      'log-shipping',
      'metrics-adapter',
    ]);
  });

  for (const name of exampleDirs) {
    it(`${name}: strict schema validation of \`kubectl kustomize\` output`, async () => {
      const manifests = await kustomize(join(examples, name));
      const file = join(import.meta.dirname, `../../.cache/e2e-${name}.yaml`);
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
    for (const name of ['log-shipping', 'ambassador', 'metrics-adapter', 'all-in-one']) {
      const pod = (await kustomize(join(examples, name))).find((m) => m.kind === 'Pod');
      const sidecars = podSpec(pod as never).initContainers ?? [];
      expect(sidecars.length, name).toBeGreaterThan(0);
      for (const sidecar of sidecars) expect(sidecar.restartPolicy, `${name}/${sidecar.name}`).toBe('Always');
    }
  });
});
