import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '@sidecar-kit/core';
import { parse } from 'yaml';
import type { Cluster } from '../cluster/cluster.js';
import { endpointAddress } from '../config.js';
import type { DiscoveryAttempt } from './dns.js';

/**
 * Endpoints from a YAML or JSON file: a list of "host:port", or `{ endpoints: [...] }`. The
 * directory is watched, so a ConfigMap update (an atomic swap of the `..data` symlink) applies at
 * once; a poll catches filesystems without events. An invalid file keeps the last good endpoints.
 */
export class FileDiscovery {
  readonly #cluster: Cluster;
  readonly #path: string;
  readonly #pollMs: number;
  readonly #logger: Logger;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last = '';
  #debounce: NodeJS.Timeout | undefined;
  /** The last read of the file (read by the status page). */
  lastAttempt: DiscoveryAttempt | undefined;

  constructor(cluster: Cluster, config: { path: string; pollMs: number }, logger: Logger) {
    this.#cluster = cluster;
    this.#path = config.path;
    this.#pollMs = config.pollMs;
    this.#logger = logger.child({ cluster: cluster.name, discovery: 'file', path: config.path });
  }

  async start(): Promise<void> {
    await this.reload();
    try {
      this.#watcher = watch(dirname(this.#path), () => {
        clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => void this.reload(), 50);
      });
      this.#watcher.on('error', () => {});
    } catch (error) {
      this.#logger.warn({ error: String(error) }, 'cannot watch the directory; polling only');
    }
    this.#timer = setInterval(() => void this.reload(), this.#pollMs);
    this.#timer.unref();
  }

  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      this.lastAttempt = { at: Date.now(), error: `cannot read: ${(error as Error).message}` };
      this.#logger.warn(
        { error: (error as Error).message },
        'cannot read endpoints file; keeping known endpoints',
      );
      return;
    }
    if (text === this.#last) {
      this.lastAttempt = { at: Date.now(), error: undefined };
      return;
    }
    const addresses = parseEndpointsFile(text);
    if (typeof addresses === 'string') {
      this.lastAttempt = { at: Date.now(), error: `invalid: ${addresses}` };
      this.#logger.error({ reason: addresses }, 'invalid endpoints file; keeping known endpoints');
      return;
    }
    this.#last = text;
    this.lastAttempt = { at: Date.now(), error: undefined };
    this.#cluster.setEndpoints(addresses);
  }

  stop(): void {
    this.#watcher?.close();
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
  }
}

/** The endpoints in a discovery file, or the reason the file is not valid. */
export function parseEndpointsFile(text: string): string[] | string {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    return `not YAML/JSON: ${(error as Error).message.split('\n')[0]}`;
  }
  const list =
    document && typeof document === 'object' && !Array.isArray(document)
      ? (document as { endpoints?: unknown }).endpoints
      : document;
  if (!Array.isArray(list)) return 'expected a list of "host:port" or { endpoints: [...] }';
  const addresses: string[] = [];
  for (const [index, item] of list.entries()) {
    const result = endpointAddress.safeParse(item);
    if (!result.success) return `endpoints[${index}]: ${result.error.issues[0]?.message ?? 'invalid'}`;
    addresses.push(result.data);
  }
  return addresses;
}
