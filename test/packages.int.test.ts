import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

// The packages as users get them: packed with `npm pack`, installed from the tarballs into an empty
// folder (no workspace, no path links), then used through their bins and their typed library APIs.
const root = new URL('..', import.meta.url).pathname;
const publishable = ['core', 'ambassador', 'log-shipper', 'metrics-adapter'];
const bins = ['ambassador', 'log-shipper', 'metrics-adapter'];
const work = mkdtempSync(join(tmpdir(), 'sidecar-kit-packed-'));
const consumer = join(work, 'consumer');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

/** The first ```yaml block of a package README: the example a new user copies. */
function readmeExample(pkg: string): string {
  const readme = readFileSync(join(root, 'packages', pkg, 'README.md'), 'utf8');
  const match = /```yaml\n([\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error(`packages/${pkg}/README.md has no yaml example`);
  return match[1];
}

beforeAll(() => {
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  mkdirSync(consumer);
  npm(
    [
      'pack',
      '--silent',
      '--pack-destination',
      tarballs,
      ...publishable.flatMap((p) => ['-w', `packages/${p}`]),
    ],
    root,
  );
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  const files = readdirSync(tarballs).map((file) => join(tarballs, file));
  expect(files).toHaveLength(publishable.length);
  const typescript = JSON.parse(
    readFileSync(join(root, 'node_modules/typescript/package.json'), 'utf8'),
  ).version;
  npm(['install', '--no-package-lock', ...files, `typescript@${typescript}`, '@types/node@^20'], consumer);
}, 300_000);

describe('the packed packages, installed from their tarballs outside the workspace', () => {
  it('hold only dist, bin, README and LICENSE', () => {
    for (const pkg of publishable) {
      const installed = join(consumer, 'node_modules/@sidecar-kit', pkg);
      const top = readdirSync(installed).sort();
      expect(top).toEqual(
        ['LICENSE', 'README.md', ...(bins.includes(pkg) ? ['bin'] : []), 'dist', 'package.json'].sort(),
      );
      expect(
        readdirSync(installed, { recursive: true })
          .map(String)
          .filter((f) => f.includes('tsbuildinfo')),
      ).toEqual([]);
    }
  });

  it.each(publishable)('%s: npm publish --dry-run has nothing to correct', (pkg) => {
    const result = spawnSync('npm', ['publish', '--dry-run'], {
      cwd: join(root, 'packages', pkg),
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    // Without a registry login npm always warns that one is needed; anything else is ours to fix.
    const warnings = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('npm warn') && !line.includes('logged in'));
    expect(warnings).toEqual([]);
  });

  it.each(bins)('%s answers --version and accepts its README example with --check-config', (bin) => {
    const executable = join(consumer, 'node_modules/.bin', bin);
    const version = spawnSync(executable, ['--version'], { encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe('0.1.0');
    const config = join(work, `${bin}.yaml`);
    writeFileSync(config, readmeExample(bin));
    const check = spawnSync(executable, ['--config', config, '--check-config'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(check.stdout).toContain('is valid');
  });

  it('a TypeScript consumer of every library API type-checks against the installed types and runs', () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          types: ['node'],
          outDir: 'out',
          skipLibCheck: false,
        },
        files: ['main.ts'],
      }),
    );
    writeFileSync(
      join(consumer, 'main.ts'),
      `import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, parseConfig, Sidecar } from '@sidecar-kit/core';
import { definition as ambassador } from '@sidecar-kit/ambassador';
import { definition as logShipper, type LogShipperConfig } from '@sidecar-kit/log-shipper';
import { definition as metricsAdapter, parsePrometheusText } from '@sidecar-kit/metrics-adapter';

const upstream = createServer((_req, res) => res.end('hello from upstream'));
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamPort = (upstream.address() as AddressInfo).port;
const probe = createServer();
await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
const listenPort = (probe.address() as AddressInfo).port;
await new Promise((resolve) => probe.close(resolve));

const config = parseConfig(
  \`admin: { listen: 127.0.0.1:0 }
log: { level: silent }
listeners: [{ name: web, listen: 127.0.0.1:\${listenPort}, cluster: web }]
clusters: [{ name: web, endpoints: ["127.0.0.1:\${upstreamPort}"] }]\`,
  ambassador.schema,
);
const sidecar = await Sidecar.start(ambassador, config);
const body = await (await fetch(\`http://127.0.0.1:\${listenPort}/\`)).text();
const ready = (await fetch(\`http://127.0.0.1:\${sidecar.adminAddress.port}/readyz\`)).status;
await sidecar.stop();
upstream.close();

const shipper: LogShipperConfig = parseConfig(
  'inputs: [{ paths: ["/logs/*.log"] }]\\nstate: { dir: /tmp/state }\\noutput: { type: stdout }',
  logShipper.schema,
);
const parsed = parsePrometheusText('app_ready 1\\n');
let misspelt = '';
try {
  parseConfig('endpoint: []', metricsAdapter.schema);
} catch (error) {
  if (error instanceof ConfigError) misspelt = error.problems[0]?.reason ?? '';
}
console.log(JSON.stringify({ body, ready, inputs: shipper.inputs.length, parsed: parsed.samples.length, misspelt }));
`,
    );
    const tsc = spawnSync(
      process.execPath,
      [join(consumer, 'node_modules/typescript/bin/tsc'), '-p', consumer],
      {
        encoding: 'utf8',
      },
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    const run = spawnSync(process.execPath, [join(consumer, 'out/main.js')], {
      cwd: consumer,
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      body: 'hello from upstream',
      ready: 200,
      inputs: 1,
      parsed: 1,
      misspelt: 'unknown key "endpoint" (did you mean "endpoints"?)',
    });
  });
});
