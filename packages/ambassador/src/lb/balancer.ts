/** What a balancer reads of an endpoint; lb/ knows nothing else of the cluster. */
export interface Balanced {
  readonly address: string;
  /** Requests (tcp: connections) in flight. */
  readonly active: number;
}

/** Picks an endpoint among the available ones; `key` is the hash key for ring_hash. */
export interface Balancer<E extends Balanced = Balanced> {
  /** Called whenever the set of endpoints changes (not on health changes). */
  rebuild(endpoints: readonly E[]): void;
  pick(available: readonly E[], key: string | undefined): E | undefined;
}
