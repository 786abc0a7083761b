import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from './support/exec.js';

const version = '0.1.0';
const sidecars = ['log-shipper', 'ambassador', 'metrics-adapter'];
// grpc-demo: the app and replicas of examples/ambassador-grpc (its own Dockerfile, same runtime base).
const images = [...sidecars, 'demo-app', 'grpc-demo'];
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

  it('grpc-demo refuses an unknown mode or a bad setting with exit 2 and one line naming it', async () => {
    const mode = await run('podman', [...hardened, image('grpc-demo'), 'proxy'], { allowFailure: true });
    expect(mode.code).toBe(2);
    expect(mode.stderr.trim().split('\n')).toEqual([
      'grpc-demo: mode: expected "server" or "client" as the first argument, got "proxy"',
    ]);
    const port = await run('podman', [...hardened, '-e', 'PORT=70000', image('grpc-demo'), 'server'], {
      allowFailure: true,
    });
    expect(port.code).toBe(2);
    expect(port.stderr.trim()).toBe('grpc-demo: PORT: expected an integer from 0 to 65535, got "70000"');
  });

  it('the local redis stand-in (images/base/build-local-redis.sh) serves as uid 999 on a read-only root filesystem', async () => {
    await run('bash', [join(import.meta.dirname, '../../images/base/build-local-redis.sh')]);
    const name = `e2e-redis-${process.pid}`;
    // As the example's shards run it: options only, the entrypoint puts redis-server in front.
    await run('podman', [
      ...hardened.filter((flag) => flag !== '--rm'),
      '-d',
      '--name',
      name,
      'localhost/sidecar-kit/redis:7',
      '--save',
      '',
      '--appendonly',
      'no',
      '--port',
      '6390',
    ]);
    try {
      const redisCli = async (...args: string[]) => {
        for (let attempt = 0; ; attempt++) {
          const result = await run('podman', ['exec', name, 'redis-cli', '-p', '6390', ...args], {
            allowFailure: attempt < 50,
          });
          if (result.code === 0 && !result.stdout.startsWith('Could not connect'))
            return result.stdout.trim();
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };
      expect(await redisCli('SET', 'greeting', 'hello')).toBe('OK');
      expect(await redisCli('GET', 'greeting')).toBe('hello');
      const user = await run('podman', ['exec', name, 'id', '-u']);
      expect(user.stdout.trim()).toBe('999');
      // It served with a read-only root filesystem: even its working directory is not writable.
      const write = await run('podman', ['exec', name, 'touch', '/data/probe'], { allowFailure: true });
      expect(write.code).not.toBe(0);
      expect(write.stderr).toContain('Read-only file system');
    } finally {
      await run('podman', ['rm', '-f', name], { allowFailure: true });
    }
  });

  it('ambassador with workers: 2 serves from two processes on a read-only root filesystem and exits 0 on podman stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2e-workers-'));
    writeFileSync(
      join(dir, 'ambassador.yaml'),
      `listeners: [{ name: web, listen: 127.0.0.1:15001, cluster: up }]
clusters: [{ name: up, endpoints: ["127.0.0.1:9901"] }]
workers: 2
admin: { listen: 127.0.0.1:9901 }
`,
    );
    chmodSync(dir, 0o755); // the image runs as uid 65532; mkdtemp makes the folder 0700
    const name = `e2e-workers-${process.pid}`;
    await run('podman', [
      ...hardened.filter((flag) => flag !== '--rm'),
      '-d',
      '--name',
      name,
      '-v',
      `${dir}:/config:ro,Z`,
      image('ambassador'),
      '--config',
      '/config/ambassador.yaml',
    ]);
    try {
      // No shell in the image: ask from inside with its own node, through the proxy itself
      // (the cluster's endpoint is the admin port, so /metrics comes back via a worker).
      const probe = `const get = async (u) => { for (let i = 0; i < 100; i++) { try { const r = await fetch(u); if (r.ok) return r.text(); } catch {} await new Promise((ok) => setTimeout(ok, 100)); } throw new Error(u); };
await get('http://127.0.0.1:9901/readyz');
console.log(await get('http://127.0.0.1:15001/metrics'));`;
      const metrics = await run('podman', [
        'exec',
        name,
        '/nodejs/bin/node',
        '--input-type=module',
        '-e',
        probe,
      ]);
      expect(metrics.stdout).toMatch(/^ambassador_workers 2$/m);
      await run('podman', ['stop', '-t', '20', name]);
      const exit = await run('podman', ['inspect', name, '--format', '{{.State.ExitCode}}']);
      expect(exit.stdout.trim()).toBe('0');
    } finally {
      await run('podman', ['rm', '-f', name], { allowFailure: true });
    }
  });
});
