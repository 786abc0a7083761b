export interface BackoffOptions {
  /** The wait before retry 0, in milliseconds. */
  initialMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /** How much each retry multiplies the wait by. Default 2. */
  factor?: number;
  /**
   * `full`: a random wait in [0, the capped wait) ("full jitter": the retries of many clients
   * spread out instead of arriving together); `none`: the capped wait itself.
   */
  jitter: 'full' | 'none';
  /** A number in [0, 1); default Math.random. */
  random?: () => number;
}

/** Exponential backoff, capped: the wait before retry `attempt` (0 for the first retry), in ms. */
export function backoffMs(attempt: number, options: BackoffOptions): number {
  const { initialMs, maxMs, factor = 2, jitter, random = Math.random } = options;
  if (initialMs <= 0 || maxMs <= 0) return 0;
  // A large attempt overflows to Infinity, which the cap turns into maxMs.
  const capped = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt));
  return jitter === 'full' ? random() * capped : capped;
}
