import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';
import { type Manifest, toYaml } from './manifests.js';

export interface PlayedPod {
  name: string;
  /** PID of the infra container: its network namespace is the Pod's. */
  infraPid: number;
  /** Runs a host command inside the Pod's network namespace (reaches the Pod's 127.0.0.1). */
  inPod(
    command: string,
    args: string[],
    options?: { allowFailure?: boolean; timeoutMs?: number; input?: string },
  ): ReturnType<typeof run>;
  curl(url: string, extra?: string[]): Promise<{ status: number; body: string }>;
  container(name: string): string;
  logs(container: string): Promise<string>;
  down(): Promise<void>;
}

/** Plays manifests with `podman kube play --network none`: a Pod whose namespace has only loopback. */
export async function playPod(manifests: Manifest[]): Promise<PlayedPod> {
  const pod = manifests.find((m) => m.kind === 'Pod');
  if (!pod) throw new Error('no Pod in manifests');
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-kit-e2e-'));
  const file = join(dir, 'play.yaml');
  writeFileSync(file, toYaml(manifests));
  // podman keeps an emptyDir as a named volume after `kube down`: remove it so every run starts empty.
  const spec = pod['spec'] as { volumes?: Array<{ name: string; emptyDir?: unknown }> };
  const emptyDirs = (spec.volumes ?? []).filter((v) => v.emptyDir !== undefined).map((v) => v.name);
  const removeVolumes = async () => {
    for (const volume of emptyDirs)
      await run('podman', ['volume', 'rm', '-f', volume], { allowFailure: true });
  };
  await run('podman', ['kube', 'down', file], { allowFailure: true });
  await removeVolumes();
  await run('podman', ['kube', 'play', '--network', 'none', file], { timeoutMs: 180_000 });
  const name = pod.metadata.name;
  const infraId = (
    await run('podman', ['pod', 'inspect', name, '--format', '{{.InfraContainerID}}'])
  ).stdout.trim();
  const infraPid = Number(
    (await run('podman', ['inspect', infraId, '--format', '{{.State.Pid}}'])).stdout.trim(),
  );
  const inPod: PlayedPod['inPod'] = (command, args, options) =>
    run('nsenter', ['-t', String(infraPid), '-n', command, ...args], options);
  return {
    name,
    infraPid,
    inPod,
    async curl(url, extra = []) {
      const result = await inPod(
        'curl',
        ['-s', '-m', '10', '-o', '-', '-w', '\n%{http_code}', ...extra, url],
        {
          allowFailure: true,
        },
      );
      const lines = result.stdout.split('\n');
      const status = Number(lines.pop());
      return { status, body: lines.join('\n') };
    },
    container: (containerName) => `${name}-${containerName}`,
    logs: async (containerName) => {
      const result = await run('podman', ['logs', `${name}-${containerName}`], { allowFailure: true });
      return result.stdout + result.stderr;
    },
    async down() {
      await run('podman', ['kube', 'down', file], { allowFailure: true, timeoutMs: 120_000 });
      await removeVolumes();
    },
  };
}
