import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = new URL('../scripts/test-deps.sh', import.meta.url).pathname;

/** Runs the script where nothing but bash and dirname is on PATH, as a user who may not install. */
function runWithEmptyPath(group: string) {
  const bin = mkdtempSync(join(tmpdir(), 'test-deps-bin-'));
  for (const program of ['bash', 'dirname']) {
    const found = spawnSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(found, join(bin, program));
  }
  return spawnSync(join(bin, 'bash'), [script, group], {
    encoding: 'utf8',
    env: {
      PATH: bin,
      HOME: tmpdir(),
      TEST_DEPS_INSTALL: '0',
      SIDECAR_KIT_CACHE: mkdtempSync(join(tmpdir(), 'cache-')),
    },
  });
}

describe('the test command on a machine without its servers', () => {
  it('stops at once with one line naming each missing program and the command that installs it', () => {
    const result = runWithEmptyPath('integration');
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    for (const program of ['redis-server', 'dnsmasq', 'openssl', 'java', 'mvn', 'unzip']) {
      expect(lines[0]).toContain(program);
    }
    expect(lines[0]).toContain(
      "apt-get install -y redis-server dnsmasq-base openssl curl prometheus chromium nutcracker memcached openjdk-17-jre-headless util-linux maven unzip'",
    );
  });

  it('names the benchmark peers and load generators (h2load for bench/ambassador/grpc.mjs) for the bench group', () => {
    const result = runWithEmptyPath('bench');
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("missing haproxy nginx wrk h2load rsyslogd rsyslog's omelasticsearch");
    expect(lines[0]).toContain(
      "apt-get install -y haproxy nginx-light wrk nghttp2-client rsyslog rsyslog-elasticsearch'",
    );
  });

  it('names the compiler the fuzz group needs', () => {
    const result = runWithEmptyPath('fuzz');
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      "test-deps.sh: missing g++: install them as root with 'apt-get install -y g++' (or run 'sudo bash scripts/install-test-deps.sh')",
    ]);
  });

  it('refuses an unknown group with exit 2', () => {
    expect(runWithEmptyPath('everything').status).toBe(2);
  });
});
