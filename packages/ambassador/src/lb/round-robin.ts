import type { Endpoint } from '../cluster/endpoint.js';
import type { Balancer } from './balancer.js';

export class RoundRobin implements Balancer {
  #next = 0;
  rebuild(): void {}
  pick(available: readonly Endpoint[]): Endpoint | undefined {
    if (available.length === 0) return undefined;
    this.#next = (this.#next + 1) % 0x7fffffff;
    return available[this.#next % available.length];
  }
}
