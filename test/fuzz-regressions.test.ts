import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// The fuzz targets are plain .mjs modules over the packages' built output (what Jazzer.js runs), so
// this needs `npm run build` first, as `npm test` does.
interface Target {
  fuzz(data: Buffer): void;
}
const fuzzDir = join(import.meta.dirname, '..', 'fuzz');
const load = async <T>(file: string): Promise<T> =>
  (await import(pathToFileURL(join(fuzzDir, file)).href)) as T;
const { TARGETS } = await load<{ TARGETS: string[] }>('targets/list.mjs');
const { rejectOnlyWith } = await load<{
  rejectOnlyWith: <R>(allowed: unknown[], parse: () => R) => R | undefined;
}>('targets/harness.mjs');

/** Every file of fuzz/<kind>/<target>/ (none when the folder does not exist). */
const inputs = (kind: string, target: string): string[] => {
  const folder = join(fuzzDir, kind, target);
  return existsSync(folder) ? readdirSync(folder).map((name) => join(folder, name)) : [];
};

describe('fuzz targets', () => {
  it('has seeds for every target, and a target for every seed folder', () => {
    expect(readdirSync(join(fuzzDir, 'seeds')).sort()).toEqual([...TARGETS].sort());
    for (const target of TARGETS) expect(inputs('seeds', target).length, target).toBeGreaterThan(0);
  });

  it('lets only the named error classes through as a rejection', () => {
    class OwnError extends Error {}
    expect(rejectOnlyWith([OwnError], () => 1)).toBe(1);
    expect(
      rejectOnlyWith([OwnError], () => {
        throw new OwnError('no');
      }),
    ).toBeUndefined();
    expect(() =>
      rejectOnlyWith([OwnError], () => {
        throw new TypeError('a bug');
      }),
    ).toThrow(TypeError);
  });

  describe.each(TARGETS.map((target) => [target]))('%s', (target) => {
    const cases = [...inputs('regressions', target), ...inputs('seeds', target)];
    it(`parses, or rejects with the parser's own error, each of its ${cases.length} saved inputs (regressions, then seeds)`, async () => {
      const { fuzz } = await load<Target>(`targets/${target}.mjs`);
      for (const file of cases) {
        try {
          fuzz(readFileSync(file));
        } catch (error) {
          throw new Error(`${file}: ${error instanceof Error ? error.stack : String(error)}`);
        }
      }
    });
  });
});
