import { type Stats, statSync } from 'node:fs';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';

export interface Found {
  path: string;
  stat: Stats;
  input: number;
}

export interface ScanInput {
  paths: string[];
  exclude: string[];
}

/**
 * Lists the files the inputs' globs match now, following symlinks (Kubernetes
 * /var/log/containers links into /var/log/pods). Exclude patterns match the base name or the whole
 * path. A file matched by several inputs (or through several links) is listed once, for the first.
 */
export class Scanner {
  readonly #excludes: Array<(path: string) => boolean>;

  constructor(private readonly inputs: ScanInput[]) {
    this.#excludes = inputs.map((input) =>
      input.exclude.length === 0 ? () => false : picomatch(input.exclude, { basename: true, dot: true }),
    );
  }

  async scan(): Promise<Map<string, Found>> {
    const found = new Map<string, Found>();
    for (const [index, input] of this.inputs.entries()) {
      const paths = await glob(input.paths, {
        absolute: true,
        onlyFiles: true,
        followSymbolicLinks: true,
        dot: true,
        expandDirectories: false,
      });
      const excluded = this.#excludes[index] ?? (() => false);
      for (const path of paths.sort()) {
        if (excluded(path)) continue;
        let stat: Stats;
        try {
          stat = statSync(path); // follows the link: the identity is the target's
        } catch {
          continue; // gone between listing and stat
        }
        if (!stat.isFile()) continue;
        const key = `${stat.dev}:${stat.ino}`;
        if (!found.has(key)) found.set(key, { path, stat, input: index });
      }
    }
    return found;
  }
}
