import type { Server } from 'node:net';
import type { ListenAddress } from '@sidecar-kit/core';

/** Binds a server, turning a bind error (port taken, address not local) into a rejection. */
export function listen(server: Server, address: ListenAddress): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

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
