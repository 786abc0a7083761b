import type { Endpoint } from '../cluster/endpoint.js';

/** Picks an endpoint among the available ones; `key` is the hash key for ring_hash. */
export interface Balancer {
  /** Called whenever the set of endpoints changes (not on health changes). */
  rebuild(endpoints: readonly Endpoint[]): void;
  pick(available: readonly Endpoint[], key: string | undefined): Endpoint | undefined;
}
