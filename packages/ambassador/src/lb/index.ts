import type { ClusterConfig } from '../config.js';
import type { Balancer } from './balancer.js';
import { LeastRequest } from './least-request.js';
import { RandomBalancer } from './random.js';
import { RingHash } from './ring-hash.js';
import { RoundRobin } from './round-robin.js';

export type { Balancer } from './balancer.js';
export { hashKey, RingHash } from './ring-hash.js';

export function createBalancer(kind: ClusterConfig['lb']): Balancer {
  switch (kind) {
    case 'round_robin':
      return new RoundRobin();
    case 'least_request':
      return new LeastRequest();
    case 'random':
      return new RandomBalancer();
    case 'ring_hash':
      return new RingHash();
  }
}
