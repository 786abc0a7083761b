import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../src/index.js';

describe('backoffMs', () => {
  it('without jitter doubles from initialMs and stays at maxMs (worker restarts: 250 ms to 30 s)', () => {
    const waits = Array.from({ length: 10 }, (_, attempt) =>
      backoffMs(attempt, { initialMs: 250, maxMs: 30_000, jitter: 'none' }),
    );
    expect(waits).toEqual([250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('grows by the factor given', () => {
    const waits = [0, 1, 2, 3].map((attempt) =>
      backoffMs(attempt, { initialMs: 100, maxMs: 10_000, factor: 3, jitter: 'none' }),
    );
    expect(waits).toEqual([100, 300, 900, 2700]);
  });

  it('with full jitter scales the capped wait by the random number', () => {
    const options = { initialMs: 500, maxMs: 30_000, jitter: 'full', random: () => 0.5 } as const;
    expect(backoffMs(0, options)).toBe(250);
    expect(backoffMs(3, options)).toBe(2000);
    expect(backoffMs(50, options)).toBe(15_000);
    expect(backoffMs(2, { ...options, random: () => 0 })).toBe(0);
  });

  it('with full jitter and Math.random spreads the waits below the cap', () => {
    const waits = Array.from({ length: 200 }, () =>
      backoffMs(4, { initialMs: 500, maxMs: 30_000, jitter: 'full' }),
    );
    expect(Math.max(...waits)).toBeLessThan(8000);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
    expect(new Set(waits).size).toBeGreaterThan(150);
  });

  it('stays a finite number within [0, maxMs] for any attempt, however large', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.constantFrom('full', 'none'),
        (attempt, initialMs, maxMs, jitter) => {
          const wait = backoffMs(attempt, { initialMs, maxMs, jitter: jitter as 'full' | 'none' });
          expect(Number.isFinite(wait)).toBe(true);
          expect(wait).toBeGreaterThanOrEqual(0);
          expect(wait).toBeLessThanOrEqual(maxMs);
          if (jitter === 'none' && initialMs > 0 && maxMs > 0)
            expect(wait).toBe(Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 1000)));
        },
      ),
    );
  });

  it('is never longer for a later attempt (without jitter)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 5000 }),
        (attempt, initialMs) => {
          const options = { initialMs, maxMs: 60_000, jitter: 'none' } as const;
          expect(backoffMs(attempt + 1, options)).toBeGreaterThanOrEqual(backoffMs(attempt, options));
        },
      ),
    );
  });
});
