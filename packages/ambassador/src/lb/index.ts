import type { ClusterConfig } from '../config.js';
import type { Balanced, Balancer } from './balancer.js';
import { LeastRequest } from './least-request.js';
import { RandomBalancer } from './random.js';
import { RingHash } from './ring-hash.js';
import { RoundRobin } from './round-robin.js';

export type { Balanced, Balancer } from './balancer.js';
export { hashKey, RingHash } from './ring-hash.js';

export function createBalancer<E extends Balanced>(kind: ClusterConfig['lb']): Balancer<E> {
  switch (kind) {
    case 'round_robin':
      return new RoundRobin<E>();
    case 'least_request':
      return new LeastRequest<E>();
    case 'random':
      return new RandomBalancer<E>();
    case 'ring_hash':
      return new RingHash<E>();
  }
}
