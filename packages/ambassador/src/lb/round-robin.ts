import type { Balanced, Balancer } from './balancer.js';

export class RoundRobin<E extends Balanced = Balanced> implements Balancer<E> {
  #next = 0;
  rebuild(): void {}
  pick(available: readonly E[]): E | undefined {
    if (available.length === 0) return undefined;
    this.#next = (this.#next + 1) % 0x7fffffff;
    return available[this.#next % available.length];
  }
}
