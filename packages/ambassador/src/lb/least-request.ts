import type { Balanced, Balancer } from './balancer.js';

/**
 * Power of two choices (Envoy's default for least_request): compare the active requests of two
 * random endpoints and take the less busy one. Near-optimal, O(1), and it avoids the herd a
 * global minimum causes when many requests arrive at once.
 */
export class LeastRequest<E extends Balanced = Balanced> implements Balancer<E> {
  rebuild(): void {}
  pick(available: readonly E[]): E | undefined {
    const count = available.length;
    if (count <= 1) return available[0];
    const first = available[Math.floor(Math.random() * count)] as E;
    let second = available[Math.floor(Math.random() * (count - 1))] as E;
    if (second === first) second = available[count - 1] as E;
    return second.active < first.active ? second : first;
  }
}
