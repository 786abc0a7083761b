import type { Balanced, Balancer } from './balancer.js';

export class RandomBalancer<E extends Balanced = Balanced> implements Balancer<E> {
  rebuild(): void {}
  pick(available: readonly E[]): E | undefined {
    return available[Math.floor(Math.random() * available.length)];
  }
}
