import type { DecodedLine, LogEvent } from '../event.js';

export interface MultilineOptions {
  start: RegExp;
  maxLines: number;
  timeoutMs: number;
}

interface Pending {
  event: LogEvent;
  lines: number;
  partial: boolean;
  lastAt: number;
}

/** The file an event comes from. */
export interface EventSource {
  idBase: string;
  path: string;
}

/**
 * Joins lines into events, per file: partial lines (CRI "P", split docker lines) with the line
 * that completes them, and, with multiline set, continuation lines (those not matching `start`,
 * e.g. the "\tat ..." of a Java stack trace) with the line that began the event. An event is
 * emitted when the next one starts, at maxLines, or timeoutMs after its last line.
 */
export class Joiner {
  #pending: Pending | undefined;

  constructor(
    private readonly multiline: MultilineOptions | undefined,
    private readonly emit: (event: LogEvent) => void,
  ) {}

  add(decoded: DecodedLine, source: EventSource, offset: number, end: number, now: number): void {
    const pending = this.#pending;
    if (pending) {
      const continues =
        pending.partial || (this.multiline !== undefined && !this.multiline.start.test(decoded.message));
      if (continues && pending.lines < (this.multiline?.maxLines ?? Number.POSITIVE_INFINITY)) {
        pending.event.message += pending.partial ? decoded.message : `\n${decoded.message}`;
        pending.event.end = end;
        pending.lines += pending.partial ? 0 : 1;
        pending.partial = decoded.partial === true;
        pending.lastAt = now;
        if (decoded.flags) pending.event.flags = [...(pending.event.flags ?? []), ...decoded.flags];
        return;
      }
      this.flush();
    }
    // Every property set, always in this order: one object shape for every event keeps the hot path monomorphic.
    const event: LogEvent = {
      idBase: source.idBase,
      path: source.path,
      offset,
      end,
      message: decoded.message,
      timestamp: decoded.timestamp,
      fields: decoded.fields,
      flags: decoded.flags ? [...decoded.flags] : undefined,
    };
    if (!decoded.partial && !this.multiline) {
      this.emit(event);
      return;
    }
    this.#pending = { event, lines: 1, partial: decoded.partial === true, lastAt: now };
  }

  get pending(): boolean {
    return this.#pending !== undefined;
  }

  /** Emits the event being joined if nothing was added to it for timeoutMs. */
  flushIfStale(now: number): void {
    const pending = this.#pending;
    if (pending && now - pending.lastAt >= (this.multiline?.timeoutMs ?? 1000)) this.flush();
  }

  flush(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) this.emit(pending.event);
  }
}
