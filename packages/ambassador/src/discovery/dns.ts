import { Resolver } from 'node:dns/promises';
import type { Logger } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';

/** A discovery's last attempt, as the status page shows it. */
export interface DiscoveryAttempt {
  at: number;
  /** Why it kept the known endpoints; undefined when it succeeded. */
  error: string | undefined;
}

export interface DnsDiscoveryConfig {
  name: string;
  port: number;
  refreshMs: number;
  server?: string | undefined;
}

/**
 * Resolves a name to A and AAAA records every refreshMs (a headless Service answers with one
 * address per ready Pod). A failed lookup keeps the last known endpoints: a DNS hiccup must not
 * empty the cluster.
 */
export class DnsDiscovery {
  readonly #cluster: Cluster;
  readonly #config: DnsDiscoveryConfig;
  readonly #logger: Logger;
  readonly #resolver = new Resolver({ timeout: 2000, tries: 2 });
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The last lookup (read by the status page). */
  lastAttempt: DiscoveryAttempt | undefined;

  constructor(cluster: Cluster, config: DnsDiscoveryConfig, logger: Logger) {
    this.#cluster = cluster;
    this.#config = config;
    this.#logger = logger.child({ cluster: cluster.name, discovery: 'dns', name: config.name });
    if (config.server) this.#resolver.setServers([config.server]);
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(
      () => void this.refresh().finally(() => this.#schedule()),
      this.#config.refreshMs,
    );
    this.#timer.unref();
  }

  async refresh(): Promise<void> {
    const [v4, v6] = await Promise.allSettled([
      this.#resolver.resolve4(this.#config.name),
      this.#resolver.resolve6(this.#config.name),
    ]);
    const addresses = [
      ...(v4.status === 'fulfilled' ? v4.value : []),
      ...(v6.status === 'fulfilled' ? v6.value.map((ip) => `[${ip}]`) : []),
    ];
    if (addresses.length === 0) {
      const reason = v4.status === 'rejected' ? String((v4.reason as Error).message) : 'no A or AAAA records';
      this.lastAttempt = { at: Date.now(), error: reason };
      this.#logger.warn(
        { reason, kept: this.#cluster.endpoints.length },
        'dns lookup failed; keeping known endpoints',
      );
      return;
    }
    addresses.sort();
    this.lastAttempt = { at: Date.now(), error: undefined };
    this.#cluster.setEndpoints(addresses.map((ip) => `${ip}:${this.#config.port}`));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
