import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';

/** The directory part of a glob before its first wildcard: /var/log/app/*.log -> /var/log/app */
export function globBase(pattern: string): string {
  const wildcard = pattern.search(/[*?[{]/);
  if (wildcard < 0) return dirname(pattern);
  const prefix = pattern.slice(0, wildcard);
  return prefix.endsWith('/') ? prefix.slice(0, -1) || '/' : dirname(prefix);
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
