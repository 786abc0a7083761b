import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readInto } from '../src/listener/tcp.js';

/**
 * A client whose writes go pending below the high-water mark: a real socket does that only with
 * small reads arriving while its peer's receive window is full, which a test cannot bring about on
 * demand (the tcp integration tests cover the flows real sockets do show).
 */
function client(pendingAfterWrite: number, accepts = true) {
  const written: Buffer[] = [];
  const listeners = new Map<string, () => void>();
  return {
    written,
    /** Emits an event the code under test listens for once (`drain`). */
    emit(event: string) {
      const listener = listeners.get(event);
      listeners.delete(event);
      listener?.();
    },
    socket: {
      write(chunk: Buffer) {
        written.push(chunk);
        return accepts;
      },
      get writableLength() {
        return pendingAfterWrite;
      },
      once(event: string, listener: () => void) {
        listeners.set(event, listener);
      },
    } as unknown as Socket,
  };
}

/** An upstream socket that counts how often it is resumed. */
function upstream() {
  const state = { resumed: 0 };
  return { state, socket: { resume: () => state.resumed++ } as unknown as Socket };
}

const connection = () => ({ client: {} as Socket, active: false, idleSince: 0 });

describe('tcp read buffer', () => {
  it('reuses its read buffer while the client takes each chunk at once', () => {
    const { socket, written } = client(0);
    const read = readInto(socket, connection(), () => ({}) as Socket);
    const first = (read.buffer as () => Uint8Array)();
    read.callback(5, first);
    expect((read.buffer as () => Uint8Array)()).toBe(first);
    expect(written[0]?.length).toBe(5);
  });

  it('reads into a fresh buffer once a write is still queued, so queued bytes are never overwritten', () => {
    const { socket, written } = client(3);
    const read = readInto(socket, connection(), () => ({}) as Socket);
    const first = (read.buffer as () => Uint8Array)();
    first.fill(7, 0, 3);
    expect(read.callback(3, first)).toBe(true);
    const second = (read.buffer as () => Uint8Array)();
    expect(second).not.toBe(first);
    second.fill(9);
    expect([...(written[0] as Buffer)]).toEqual([7, 7, 7]);
  });

  it('pauses the upstream when the client pushes back, resumes it on drain, and marks the connection active', () => {
    const { socket, emit } = client(70_000, false);
    const state = connection();
    const { socket: upstreamSocket, state: upstreamState } = upstream();
    const read = readInto(socket, state, () => upstreamSocket);
    expect(read.callback(1, (read.buffer as () => Uint8Array)())).toBe(false);
    expect(state.active).toBe(true);
    expect(upstreamState.resumed).toBe(0);
    emit('drain');
    expect(upstreamState.resumed).toBe(1);
  });

  it('leaves the upstream flowing, with no drain wait, while the client takes every chunk', () => {
    const { socket, emit } = client(0, true);
    const { socket: upstreamSocket, state: upstreamState } = upstream();
    const read = readInto(socket, connection(), () => upstreamSocket);
    expect(read.callback(1, (read.buffer as () => Uint8Array)())).toBe(true);
    emit('drain');
    expect(upstreamState.resumed).toBe(0);
  });
});
