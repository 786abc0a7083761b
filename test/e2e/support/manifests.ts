import { parseAllDocuments, stringify } from 'yaml';
import { run } from './exec.js';

export type Manifest = Record<string, unknown> & { kind: string; metadata: { name: string } };
type Container = Record<string, unknown> & {
  name: string;
  env?: Array<Record<string, unknown>>;
  restartPolicy?: string;
};
type PodSpec = Record<string, unknown> & {
  containers: Container[];
  initContainers?: Container[];
  restartPolicy?: string;
};

/** `kubectl kustomize DIR`, what `kubectl apply -k DIR` would send, parsed. */
export async function kustomize(dir: string): Promise<Manifest[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir]);
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as Manifest);
}

export function toYaml(manifests: Manifest[]): string {
  return manifests.map((m) => stringify(m)).join('---\n');
}

export function podSpec(pod: Manifest): PodSpec {
  return pod['spec'] as PodSpec;
}

export interface PodmanAdaptation {
  /** Environment values to set (or replace) per container name. */
  env?: Record<string, Record<string, string>>;
  /**
   * Extra containers, e.g. Deployment or StatefulSet replicas that must live in the Pod's own
   * network namespace. They are listed before the app (after the sidecars), so that they are up
   * when the app starts calling them, as they would be in a cluster.
   */
  extraContainers?: Container[];
  /** Volumes the extra containers mount. */
  extraVolumes?: Array<Record<string, unknown>>;
  /** Public images with no local build, replaced by the local stand-in (images/base/). */
  images?: Record<string, string>;
}

// Downward API fields podman 4.3 cannot fill ("fieldPath ... is either not valid or not supported"),
// with the values a kubelet would give a Pod in the default namespace on this node.
const UNSUPPORTED_FIELDS: Record<string, string> = {
  'metadata.namespace': 'default',
  'spec.nodeName': 'podman-node',
  'status.podIP': '127.0.0.1',
};

/**
 * podman 4.3's `kube play` ignores `restartPolicy: Always` on init containers (it would wait for
 * the native sidecar to exit and never start the app), so for podman the native sidecars become
 * ordinary containers listed first. Ports and probes are dropped (see below); everything else in
 * the manifest (images, args, env, Downward API, volumes, securityContext) is played as written.
 */
export function adaptPodForPodman(pod: Manifest, adaptation: PodmanAdaptation = {}): Manifest {
  const copy = structuredClone(pod);
  const spec = podSpec(copy);
  const sidecars = (spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  for (const sidecar of sidecars) delete sidecar.restartPolicy;
  spec.initContainers = (spec.initContainers ?? []).filter((c) => !sidecars.includes(c));
  if (spec.initContainers.length === 0) delete spec.initContainers;
  // With init containers and restartPolicy Always, podman 4.3 waits 20 s per init container.
  else spec.restartPolicy = 'OnFailure';
  spec.containers = [...sidecars, ...(adaptation.extraContainers ?? []), ...spec.containers];
  if (adaptation.extraVolumes)
    spec['volumes'] = [...((spec['volumes'] as unknown[]) ?? []), ...adaptation.extraVolumes];
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    const standIn = adaptation.images?.[String(container['image'])];
    if (standIn) container['image'] = standIn;
  }
  for (const container of spec.containers) {
    // With --network none podman refuses port mappings, and it turns probes into healthchecks
    // that exec inside the container (no shell or curl in distroless): the tests call the same
    // endpoints the probes name from the Pod's network namespace instead.
    delete container['ports'];
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) delete container[probe];
    for (const entry of container.env ?? []) {
      const fieldPath = (entry['valueFrom'] as { fieldRef?: { fieldPath?: string } } | undefined)?.fieldRef
        ?.fieldPath;
      const value = fieldPath === undefined ? undefined : UNSUPPORTED_FIELDS[fieldPath];
      if (value !== undefined) {
        delete entry['valueFrom'];
        entry['value'] = value;
      }
    }
    const overrides = adaptation.env?.[container.name];
    if (!overrides) continue;
    const env = (container.env ?? []).filter((e) => !(String(e['name']) in overrides));
    for (const [name, value] of Object.entries(overrides)) env.push({ name, value });
    container.env = env;
  }
  return copy;
}
