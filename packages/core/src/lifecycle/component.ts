/**
 * One part of a sidecar with a lifetime: an input, an output, a listener...
 * Components start in the order given and stop in reverse, so intake stops before the parts it feeds.
 */
export interface Component {
  readonly name: string;
  start(): Promise<void> | void;
  /**
   * Stop taking new work, then finish what is in flight. `deadline` aborts when the shutdown
   * grace period is over: stop at once then, keeping whatever progress is already durable.
   */
  stop(deadline: AbortSignal): Promise<void> | void;
}

/** A component made of two functions, for small parts that need no class. */
export function component(
  name: string,
  start: () => Promise<void> | void,
  stop: (deadline: AbortSignal) => Promise<void> | void,
): Component {
  return { name, start, stop };
}
