/**
 * Waits until the work in flight is done (`register` hands over the callback to call then) or
 * the shutdown deadline passes, whichever comes first.
 */
export function drained(
  busy: boolean,
  register: (done: () => void) => void,
  deadline: AbortSignal,
): Promise<void> {
  if (!busy || deadline.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    register(resolve);
    deadline.addEventListener('abort', () => resolve(), { once: true });
  });
}
