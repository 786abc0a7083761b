import { createHash } from 'node:crypto';
import type { Balanced, Balancer } from './balancer.js';

const POINTS_PER_ENDPOINT = 160;

/** 32-bit FNV-1a: fast, well spread for short keys. */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Consistent hashing (Karger ring, as Envoy's ring_hash): every endpoint owns many points on a
 * ring; a key goes to the first point at or after its hash. The ring holds every known endpoint,
 * so an endpoint that is unhealthy for a while only sends its own keys to their next point, and
 * removing one of N endpoints moves about 1/N of the keys.
 */
export class RingHash<E extends Balanced = Balanced> implements Balancer<E> {
  #hashes = new Uint32Array(0);
  #owners: E[] = [];

  rebuild(endpoints: readonly E[]): void {
    const points: Array<[number, E]> = [];
    for (const endpoint of endpoints) {
      for (let i = 0; i < POINTS_PER_ENDPOINT / 4; i++) {
        const digest = createHash('md5').update(`${endpoint.address}-${i}`).digest();
        for (let j = 0; j < 4; j++) points.push([digest.readUInt32LE(j * 4), endpoint]);
      }
    }
    points.sort((a, b) => a[0] - b[0]);
    this.#hashes = Uint32Array.from(points, (point) => point[0]);
    this.#owners = points.map((point) => point[1]);
  }

  pick(available: readonly E[], key: string | undefined): E | undefined {
    if (available.length === 0) return undefined;
    if (key === undefined || this.#hashes.length === 0)
      return available[Math.floor(Math.random() * available.length)];
    const hashes = this.#hashes;
    const target = hashKey(key);
    let low = 0;
    let high = hashes.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((hashes[mid] as number) < target) low = mid + 1;
      else high = mid;
    }
    const allowed = new Set(available);
    for (let step = 0; step < hashes.length; step++) {
      const owner = this.#owners[(low + step) % hashes.length] as E;
      if (allowed.has(owner)) return owner;
    }
    return available[0];
  }
}
