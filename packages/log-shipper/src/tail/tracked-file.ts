import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Logger } from '@sidecar-kit/core';
import type { Checkpoint, CheckpointStore } from '../checkpoint/store.js';
import type { LogEvent } from '../event.js';
import type { Decoder } from '../format/index.js';
import type { ShipperMetrics } from '../metrics.js';
import { Joiner, type MultilineOptions } from '../multiline/joiner.js';
import { AckTracker } from '../pipeline/acks.js';
import { type StaticParts, serialize } from '../pipeline/document.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { fingerprintKey, idBaseFor, inodeKey } from './identity.js';
import { LineReader } from './line-reader.js';

export interface TailContext {
  decoder: Decoder;
  multiline: MultilineOptions | undefined;
  maxLineBytes: number;
  fingerprintBytes: number;
  parts: StaticParts;
  store: CheckpointStore;
  pipeline: Pipeline;
  metrics: ShipperMetrics;
  logger: Logger;
}

let serial = 0;

/**
 * One open file, read from its checkpoint to its end and followed as it grows. It keeps its fd:
 * a renamed or deleted file is still read to its end. Its identity (checkpoint key) is a
 * fingerprint of its first bytes, or device+inode while it is shorter than that.
 */
export class TrackedFile {
  readonly id = `t${++serial}`;
  readonly tracker: AckTracker;
  readonly #reader: LineReader;
  readonly #joiner: Joiner;
  #pathJson: string;
  /** Next byte to read. */
  offset: number;
  size: number;
  /** When no glob matched it any more (renamed away or deleted). */
  removedSince: number | undefined;
  closed = false;
  #readTime = '';

  private constructor(
    public path: string,
    readonly dev: number,
    readonly ino: number,
    readonly handle: FileHandle,
    public key: string,
    readonly idBase: string,
    start: number,
    size: number,
    private readonly ctx: TailContext,
  ) {
    this.#pathJson = JSON.stringify(path);
    this.offset = start;
    this.size = size;
    this.tracker = new AckTracker(start, (acked) => this.#saveCheckpoint(acked));
    this.#reader = new LineReader(ctx.maxLineBytes);
    this.#joiner = new Joiner(ctx.multiline, (event) => this.#ship(event));
  }

  /**
   * Opens a file and finds where to continue: its checkpoint by fingerprint, else by
   * device+inode (a file that was short last time), else the head (or the tail, for files
   * found at startup with readFrom: tail). A new identity is written to disk before anything
   * is shipped, so its document ids survive a crash.
   */
  static async open(path: string, stat: Stats, fromTail: boolean, ctx: TailContext): Promise<TrackedFile> {
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const ino = inodeKey(stat.dev, stat.ino);
      const fp = await fingerprintKey(handle, size, ctx.fingerprintBytes);
      let key = fp ?? ino;
      let found: Checkpoint | undefined = fp ? ctx.store.get(fp) : undefined;
      if (!found) {
        const byInode = ctx.store.get(ino);
        if (
          byInode &&
          byInode.offset <= size &&
          String(stat.dev) === byInode.dev &&
          String(stat.ino) === byInode.ino
        ) {
          found = byInode;
          if (fp) ctx.store.rename(ino, fp);
        }
      }
      let start: number;
      let idBase: string;
      if (found && found.offset <= size) {
        start = found.offset;
        idBase = found.idBase;
      } else {
        start = fromTail ? size : 0;
        idBase = fp ? idBaseFor(fp) : idBaseFor(`${ino}:${Date.now()}:${randomBytes(6).toString('hex')}`);
        if (found)
          ctx.logger.warn(
            { path, offset: found.offset, size },
            'file is shorter than its checkpoint: reading it from the start',
          );
      }
      key = fp ?? ino;
      const file = new TrackedFile(path, stat.dev, stat.ino, handle, key, idBase, start, size, ctx);
      ctx.store.set(key, file.#checkpoint(start));
      ctx.store.flush();
      ctx.logger.info(
        { path, identity: key, offset: start, size, resumed: found !== undefined },
        'following file',
      );
      return file;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  #checkpoint(offset: number): Checkpoint {
    return {
      idBase: this.idBase,
      offset,
      path: this.path,
      dev: String(this.dev),
      ino: String(this.ino),
      updatedAt: Date.now(),
    };
  }

  #saveCheckpoint(acked: number): void {
    const current = this.ctx.store.get(this.key);
    if (current && current.idBase === this.idBase && current.offset > acked) return; // a copy of this file got further
    this.ctx.store.set(this.key, this.#checkpoint(acked));
  }

  setPath(path: string): void {
    if (path === this.path) return;
    this.path = path;
    this.#pathJson = JSON.stringify(path);
  }

  /**
   * What happened to the file since the last look: "grown" (or "same"), or "replaced" when it was
   * truncated (copytruncate) or its first bytes changed: then it is a new file in the same inode.
   */
  async check(): Promise<'same' | 'grown' | 'replaced'> {
    const size = (await this.handle.stat()).size;
    if (size < this.offset) return 'replaced';
    if (this.key.startsWith('fp:') && size !== this.size) {
      const fp = await fingerprintKey(this.handle, size, this.ctx.fingerprintBytes);
      if (fp !== this.key) return 'replaced';
    }
    const grown = size !== this.size;
    this.size = size;
    if (!this.key.startsWith('fp:') && size >= this.ctx.fingerprintBytes) await this.#promote();
    return grown ? 'grown' : 'same';
  }

  /** A short file reached the fingerprint length: its checkpoint moves to the fingerprint key. */
  async #promote(): Promise<void> {
    const fp = await fingerprintKey(this.handle, this.size, this.ctx.fingerprintBytes);
    if (!fp) return;
    this.ctx.store.rename(this.key, fp);
    this.key = fp;
    this.ctx.store.set(fp, this.#checkpoint(this.tracker.acked));
  }

  get atEnd(): boolean {
    return this.offset >= this.size;
  }

  /** Reads one chunk; returns how many bytes it consumed. */
  async readChunk(readTime: string): Promise<number> {
    this.#readTime = readTime;
    const { lines, next } = await this.#reader.read(this.handle, this.offset);
    const consumed = next - this.offset;
    if (consumed <= 0) return 0;
    const now = Date.now();
    for (const line of lines) {
      const decoded = this.ctx.decoder(line.text);
      if (line.truncated) decoded.flags = [...(decoded.flags ?? []), 'truncated'];
      this.#joiner.add(
        decoded,
        { fileKey: this.id, idBase: this.idBase, path: this.path, offset: line.start, end: line.end },
        now,
      );
    }
    this.ctx.metrics.read.inc(lines.length);
    this.ctx.metrics.readBytes.inc(consumed);
    this.offset = next;
    if (next > this.size) this.size = next;
    this.#settle();
    return consumed;
  }

  /** Housekeeping between reads: emits a multiline event gone stale; moves the checkpoint over empty lines. */
  tick(now: number, readTime: string): void {
    this.#readTime = readTime;
    this.#joiner.flushIfStale(now);
    this.#settle();
  }

  /** Emits whatever is being joined (shutdown: no more lines will come). */
  flushPending(readTime: string): void {
    this.#readTime = readTime;
    this.#joiner.flush();
    this.#settle();
  }

  #settle(): void {
    if (!this.#joiner.pending && !this.#reader.skipping && this.tracker.skipTo(this.offset))
      this.tracker.onMove(this.tracker.acked);
  }

  #ship(event: LogEvent): void {
    const timestamp = event.timestamp ?? this.#readTime;
    const doc = serialize(event, timestamp, this.#pathJson, this.ctx.parts);
    this.ctx.pipeline.add(
      { idBase: this.idBase, offset: event.offset, timestamp },
      event.end,
      doc,
      this.tracker,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
