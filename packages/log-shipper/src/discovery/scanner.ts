import picomatch from 'picomatch';
import { glob } from 'tinyglobby';

/**
 * Finds the files an input's globs match now (following symlinks, as Kubernetes'
 * /var/log/containers links need), minus its excludes (matched against the full path and
 * against the file name, so `*.gz` works as users write it).
 */
export class Scanner {
  readonly #excluded: (path: string) => boolean;

  constructor(
    private readonly patterns: string[],
    exclude: string[],
  ) {
    const full = exclude.length ? picomatch(exclude, { dot: true }) : () => false;
    const base = exclude.length ? picomatch(exclude, { dot: true, basename: true }) : () => false;
    this.#excluded = (path) => full(path) || base(path);
  }

  async scan(): Promise<string[]> {
    const found = await glob(this.patterns, {
      absolute: true,
      onlyFiles: true,
      followSymbolicLinks: true,
      dot: true,
      expandDirectories: false,
    });
    return found.filter((path) => !this.#excluded(path)).sort();
  }
}
