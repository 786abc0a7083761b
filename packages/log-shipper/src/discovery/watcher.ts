import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import picomatch from 'picomatch';

/** The directory a glob is rooted in: /var/log/app/*.log -> /var/log/app, /var/log/app/app.log -> /var/log/app */
export function globBase(pattern: string): string {
  const { base, isGlob } = picomatch.scan(pattern);
  if (!isGlob) return dirname(pattern);
  return base || '.';
}

/**
 * Filesystem events only wake the reader early; polling (stat and read) stays the source of
 * truth, because inotify does not see writes from other nodes on network volumes.
 */
export function watchDirectories(patterns: string[], onChange: () => void): FSWatcher {
  const dirs = [...new Set(patterns.map(globBase))].filter((dir) => existsSync(dir));
  const watcher = chokidar.watch(dirs, {
    depth: 0,
    ignoreInitial: true,
    followSymlinks: true,
    persistent: false,
  });
  watcher.on('all', onChange);
  watcher.on('error', () => {});
  return watcher;
}
