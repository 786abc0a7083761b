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

  it('a misspelt top-level key, with a suggestion', () => {
    const file = writeConfig('top.yaml', 'wrok:\n  ms: 5\n');
    expectOneLineError(
      runCheck(['--config', file, '--check-config']),
      `${file}:1:1`,
      'wrok: unknown key "wrok" (did you mean "work"?)',
    );
  });

  it('a misspelt nested key, with a suggestion', () => {
    const file = writeConfig('nested.yaml', 'work:\n  ms: 5\n  nmae: typo\n');
    expectOneLineError(
      runCheck(['--config', file, '--check-config']),
      `${file}:3:3`,
      'work.nmae: unknown key "nmae" (did you mean "name"?)',
    );
  });

  it('an unknown key far from every known one, without a suggestion', () => {
    const file = writeConfig('far.yaml', 'zzzzzz: 1\n');
    const result = runCheck(['--config', file, '--check-config']);
    expectOneLineError(result, 'zzzzzz: unknown key "zzzzzz"');
    expect(result.stderr).not.toContain('did you mean');
  });

  it('a YAML alias bomb, refused before it expands', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i += 1) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const file = writeConfig('bomb.yaml', `${levels.join('\n')}\n`);
    expectOneLineError(runCheck(['--config', file, '--check-config']), file, 'YAML aliases');
  });

  it('${VAR:-...} defaults nested 20,000 deep', () => {
    const file = writeConfig(
      'deep.yaml',
      `work:\n  name: "${'${A:-'.repeat(20_000)}x${'}'.repeat(20_000)}"\n`,
    );
    expectOneLineError(runCheck(['--config', file, '--check-config']), `${file}:2`, 'nest more than 16 deep');
  });

  it('a config file over 1 MiB, refused before it is parsed', () => {
    const file = writeConfig('huge.yaml', `work:\n  ms: 1\n# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    expectOneLineError(
      runCheck(['--config', file, '--check-config']),
      file,
      'more than the limit of 1048576',
    );
  });

  it('an unknown command line flag', () => {
    expectOneLineError(runCheck(['--confg', 'x']), 'confg');
  });
});

describe('several problems at once: one line each, unknown keys first, at most 10', () => {
  it('lists a misspelt key, a wrong type and a bad address, each with file:line:col and field', () => {
    const file = writeConfig('several.yaml', 'work:\n  ms: soon\nadmin:\n  listen: nope\nwrok: {}\n');
    const result = runCheck(['--config', file, '--check-config']);
    expect(result.code).toBe(2);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr.trim().split('\n')).toEqual([
      `work-sidecar: ${file}:5:1: wrok: unknown key "wrok" (did you mean "work"?)`,
      `work-sidecar: ${file}:2:7: work.ms: expected number, found "soon"`,
      expect.stringMatching(new RegExp(`^work-sidecar: ${file}:4:11: admin.listen: .*host:port`)),
    ]);
  });

  it('counts the problems past the tenth on one more line', () => {
    const keys = Array.from({ length: 14 }, (_, i) => `extra${i}: 1`).join('\n');
    const file = writeConfig('many.yaml', `${keys}\n`);
    const result = runCheck(['--config', file, '--check-config']);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[0]).toContain('extra0: unknown key');
    expect(lines[10]).toBe(`work-sidecar: ${file}: and 4 more problems`);
  });

  it('gives each problem to the library caller as data', () => {
    try {
      parseConfig(
        'wrok: 1\nwork: { ms: -1 }\n',
        z.strictObject({ work: z.strictObject({ ms: z.number().min(0) }) }),
      );
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.field)).toEqual(['wrok', 'work.ms']);
      expect((error as ConfigError).field).toBe('wrok');
    }
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
