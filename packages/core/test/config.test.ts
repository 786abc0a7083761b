import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { byteSize, ConfigError, listenAddress, parseConfig, runtimeSections, z } from '../src/index.js';

const fixture = new URL('./fixtures/work-sidecar.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'core-config-'));

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function runCheck(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [fixture, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: result.status, stderr: result.stderr, stdout: result.stdout };
}

function expectOneLineError(result: { code: number | null; stderr: string }, ...parts: string[]) {
  expect(result.code).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  for (const part of parts) expect(result.stderr).toContain(part);
}

describe('bad configuration exits 2 with one line naming file and field', () => {
  it('a missing file', () => {
    expectOneLineError(runCheck(['--config', join(dir, 'nope.yaml')]), 'nope.yaml', 'no such file');
  });

  it('invalid YAML, with its line', () => {
    const file = writeConfig('bad.yaml', 'work:\n  ms: [1, 2\n');
    expectOneLineError(runCheck(['--config', file, '--check-config']), `${file}:`, 'invalid YAML');
  });

  it('an unknown key, with its path and line', () => {
    const file = writeConfig('unknown.yaml', 'work:\n  ms: 5\n  nmae: typo\n');
    expectOneLineError(
      runCheck(['--config', file, '--check-config']),
      `${file}:3:3`,
      'work.nmae',
      'unknown key "nmae"',
    );
  });

  it('a wrong type', () => {
    const file = writeConfig('type.yaml', 'work:\n  ms: "soon"\n');
    expectOneLineError(
      runCheck(['--config', file, '--check-config']),
      `${file}:2:7`,
      'work.ms',
      'expected number',
      '"soon"',
    );
  });

  it('a bad listen address', () => {
    const file = writeConfig('listen.yaml', 'admin:\n  listen: "localhost-no-port"\n');
    expectOneLineError(
      runCheck(['--config', file, '--check-config']),
      `${file}:2`,
      'admin.listen',
      'host:port',
    );
  });

  it('a port out of range', () => {
    const file = writeConfig('port.yaml', 'admin:\n  listen: 127.0.0.1:70000\n');
    expectOneLineError(runCheck(['--config', file, '--check-config']), 'admin.listen', 'out of range');
  });

  it('an environment variable that is unset and has no default', () => {
    const file = writeConfig('env.yaml', 'work:\n  ms: ${WORK_MS_UNSET_FOR_TEST}\n');
    expectOneLineError(
      runCheck(['--config', file, '--check-config']),
      `${file}:2`,
      'WORK_MS_UNSET_FOR_TEST is not set',
    );
  });

  it('an unknown command line flag', () => {
    expectOneLineError(runCheck(['--confg', 'x']), 'confg');
  });
});

describe('valid configuration', () => {
  it('--check-config accepts a valid file and exits 0', () => {
    const file = writeConfig('good.yaml', 'work:\n  ms: ${WORK_MS:-10}\nadmin:\n  listen: 127.0.0.1:0\n');
    const result = runCheck(['--config', file, '--check-config']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('is valid');
  });

  const schema = z.strictObject({
    ...runtimeSections({ adminListen: '127.0.0.1:2020' }),
    port: z.number().optional(),
    name: z.string().optional(),
    size: byteSize.optional(),
  });

  it('fills defaults for the runtime sections', () => {
    const config = parseConfig('{}', schema);
    expect(config.admin.listen).toEqual({ host: '127.0.0.1', port: 2020 });
    expect(config.shutdown.graceMs).toBe(25_000);
  });

  it('types an unquoted ${VAR} as YAML would type the value, and keeps a quoted one a string', () => {
    const config = parseConfig('port: ${P}\nname: "${P}"\n', schema, { env: { P: '8080' } });
    expect(config.port).toBe(8080);
    expect(config.name).toBe('8080');
  });

  it('uses ${VAR:-default} when the variable is unset or empty, and $${ for a literal', () => {
    expect(parseConfig('name: ${NOPE:-fallback}', schema, { env: {} }).name).toBe('fallback');
    expect(parseConfig('name: ${E:-fallback}', schema, { env: { E: '' } }).name).toBe('fallback');
    expect(parseConfig('name: "$${HOME}"', schema, { env: {} }).name).toBe('${HOME}');
  });

  it('ignores ${VAR} in comments', () => {
    expect(parseConfig('# uses ${UNSET_IN_COMMENT}\nname: x', schema, { env: {} }).name).toBe('x');
  });

  it('parses byte sizes and listen addresses', () => {
    expect(parseConfig('size: 5mb', schema).size).toBe(5 * 1024 * 1024);
    expect(parseConfig('size: 100', schema).size).toBe(100);
    expect(() => parseConfig('size: lots', schema)).toThrow(ConfigError);
    expect(listenAddress.parse('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(listenAddress.parse(':9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(listenAddress.safeParse('0.0.0.0').success).toBe(false);
  });
});

describe('interpolation details', () => {
  const schema = z.strictObject({
    ...runtimeSections({ adminListen: '127.0.0.1:2020' }),
    name: z.string().optional(),
  });

  it('resolves references nested in a default', () => {
    const text = 'name: "${A:-backend.${NS:-default}.svc}"';
    expect(parseConfig(text, schema, { env: {} }).name).toBe('backend.default.svc');
    expect(parseConfig(text, schema, { env: { NS: 'shop' } }).name).toBe('backend.shop.svc');
    expect(parseConfig(text, schema, { env: { A: 'direct' } }).name).toBe('direct');
  });

  it('keeps a lone $ and rejects a malformed reference', () => {
    expect(parseConfig('name: "cost $5"', schema, { env: {} }).name).toBe('cost $5');
    expect(() => parseConfig('name: "${1BAD}"', schema, { env: {} })).toThrow(/not a variable reference/);
    expect(() => parseConfig('name: "${OPEN"', schema, { env: {} })).toThrow(/unclosed/);
  });
});
