/**
 * Acknowledged offsets of one file identity when batches complete out of order (bulk.concurrency
 * > 1): each batch holds one segment per file (the end offset of its last event from that file);
 * the checkpoint moves to a segment's end only once it and every earlier segment are done.
 */
export interface Segment {
  end: number;
  done: boolean;
}

export class AckTracker {
  readonly #segments: Segment[] = [];
  #head = 0;
  acked: number;

  constructor(
    start: number,
    /** Told each time the acknowledged offset moves. */
    readonly onMove: (acked: number) => void = () => {},
  ) {
    this.acked = start;
  }

  open(end: number): Segment {
    const segment = { end, done: false };
    this.#segments.push(segment);
    return segment;
  }

  /** Marks a segment done; returns true when the acknowledged offset moved. */
  complete(segment: Segment): boolean {
    segment.done = true;
    const before = this.acked;
    while (this.#head < this.#segments.length && this.#segments[this.#head]?.done) {
      this.acked = Math.max(this.acked, (this.#segments[this.#head] as Segment).end);
      this.#head += 1;
    }
    if (this.#head > 1024 || this.#head === this.#segments.length) {
      this.#segments.splice(0, this.#head);
      this.#head = 0;
    }
    return this.acked !== before;
  }

  get pending(): number {
    return this.#segments.length - this.#head;
  }

  /** Moves over bytes that produce no event (empty lines) when nothing is in flight. */
  skipTo(offset: number): boolean {
    if (this.pending > 0 || offset <= this.acked) return false;
    this.acked = offset;
    return true;
  }
}
