import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './support/exec.js';
import { adaptPodForPodman, kustomize, type Manifest } from './support/manifests.js';
import { type PlayedPod, playPod } from './support/podman.js';

const examples = join(import.meta.dirname, '../../examples');
let pod: PlayedPod | undefined;
afterEach(async () => {
  await pod?.down();
  pod = undefined;
});

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
});
