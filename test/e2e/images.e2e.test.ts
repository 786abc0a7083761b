import { describe, expect, it } from 'vitest';
import { run } from './support/exec.js';

const version = '0.1.0';
const sidecars = ['log-shipper', 'ambassador', 'metrics-adapter'];
const images = [...sidecars, 'demo-app'];
const image = (name: string) => `ghcr.io/sidecar-kit/${name}:${version}`;
const hardened = ['run', '--rm', '--pull=never', '--read-only', '--network', 'none', '--cap-drop', 'ALL'];

describe('container images (built by images/build.sh)', () => {
  for (const name of images) {
    describe(name, () => {
      it('runs as uid 65532 with OCI labels', async () => {
        const { stdout } = await run('podman', [
          'image',
          'inspect',
          image(name),
          '--format',
          '{{json .Config}}',
        ]);
        const config = JSON.parse(stdout) as { User: string; Labels: Record<string, string> };
        expect(config.User).toBe('65532:65532');
        expect(config.Labels['org.opencontainers.image.version']).toBe(version);
        expect(config.Labels['org.opencontainers.image.title']).toContain(name);
        const uid = await run('podman', [
          ...hardened,
          '--entrypoint',
          '/nodejs/bin/node',
          image(name),
          '-e',
          'console.log(process.getuid(), process.version)',
        ]);
        expect(uid.stdout.trim()).toMatch(/^65532 v24\./);
      });

      it('has no shell', async () => {
        const result = await run(
          'podman',
          [...hardened, '--entrypoint', '/bin/sh', image(name), '-c', 'true'],
          { allowFailure: true },
        );
        expect(result.code).not.toBe(0);
      });
    });
  }

  for (const name of sidecars) {
    it(`${name} starts on a read-only root filesystem: --version, and bad config exits 2 with one line`, async () => {
      const versionRun = await run('podman', [...hardened, image(name), '--version']);
      expect(versionRun.stdout.trim()).toBe(version);
      const bad = await run('podman', [...hardened, image(name), '--config', '/nope.yaml'], {
        allowFailure: true,
      });
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toContain('/nope.yaml');
    });
  }
});
