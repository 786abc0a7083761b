import type { Endpoint } from '../cluster/endpoint.js';
import type { Balancer } from './balancer.js';

export class RandomBalancer implements Balancer {
  rebuild(): void {}
  pick(available: readonly Endpoint[]): Endpoint | undefined {
    return available[Math.floor(Math.random() * available.length)];
  }
}
