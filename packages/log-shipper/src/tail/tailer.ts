import { open } from 'node:fs/promises';
import type { Logger } from '@sidecar-kit/core';
import type { CheckpointStore } from '../checkpoint/store.js';
import type { InputConfig } from '../config.js';
import { Scanner } from '../discovery/scanner.js';
import type { DecodedLine, LogEvent } from '../event.js';
import { decoders } from '../format/index.js';
import type { ShipperMetrics } from '../metrics.js';
import { Joiner } from '../multiline/joiner.js';
import { fingerprintOf, idBaseFor, inodeKey, readHead } from './identity.js';
import { LineReader } from './line-reader.js';
import type { TailedInput, TrackedFile } from './tracked-file.js';

/** What paces reading: the batches the events go into. */
export interface ReadPace {
  /** The batch being filled must be sent before more lines are read. */
  readonly full: boolean;
  send(): Promise<void>;
  /** Too much is unacknowledged: reading pauses. */
  readonly paused: boolean;
}

/** Receives each event joined from a file's lines, with its time (its own, else when it was read). */
export type EventHandler = (file: TrackedFile, event: LogEvent, timestamp: string) => void;

/**
 * Follows the inputs' files: finds them by their globs, knows each by its identity across
 * renames (rotation), resumes each from its checkpoint, detects copytruncate and files rewritten
 * in place, reads new lines into events and closes files gone from every glob once read to their end.
 */
export class Tailer {
  readonly #inputs: TailedInput[];
  readonly #files = new Map<string, TrackedFile>();
  readonly #byInode = new Map<string, TrackedFile>();
  #lastScan = 0;
  #firstScan = true;
  #readTime = new Date().toISOString();
  /** One read buffer for every file (reads are sequential): memory does not grow with the file count. */
  readonly #readBuffer: Buffer;
  /** Where a file's first bytes are read again to check that it was not rewritten. */
  readonly #headBuffer: Buffer;

  constructor(
    inputs: readonly InputConfig[],
    private readonly store: CheckpointStore,
    private readonly metrics: ShipperMetrics,
    private readonly logger: Logger,
    private readonly pace: ReadPace,
    private readonly onEvent: EventHandler,
  ) {
    this.#inputs = inputs.map((input) => ({
      config: input,
      scanner: new Scanner(input.paths, input.exclude),
      decode: decoders[input.format],
    }));
    const longest = Math.max(...inputs.map((input) => input.maxLineBytes));
    this.#readBuffer = Buffer.allocUnsafe(Math.max(256 * 1024, longest + 1));
    this.#headBuffer = Buffer.allocUnsafe(Math.max(...inputs.map((input) => input.fingerprintBytes)));
  }

  /** When the globs were last scanned; 0 asks for a scan at the next turn. */
  get lastScan(): number {
    return this.#lastScan;
  }

  isTracked(key: string): boolean {
    return this.#files.has(key);
  }

  get files(): IterableIterator<TrackedFile> {
    return this.#files.values();
  }

  async scan(now: number): Promise<void> {
    this.#lastScan = now;
    const seen = new Set<TrackedFile>();
    for (const input of this.#inputs) {
      let paths: string[];
      try {
        paths = await input.scanner.scan();
      } catch (error) {
        this.logger.warn({ err: error, paths: input.config.paths }, 'scan failed');
        continue;
      }
      for (const path of paths) {
        try {
          const file = await this.#track(path, input, now);
          if (file) seen.add(file);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT')
            this.logger.warn({ path, code, err: code ? undefined : error }, 'cannot open file');
        }
      }
    }
    for (const file of this.#files.values()) {
      if (!seen.has(file) && file.goneSince === undefined) file.goneSince = now;
      else if (seen.has(file)) file.goneSince = undefined;
    }
    this.#firstScan = false;
    this.store.prune(now, 24 * 3600_000, new Set(this.#files.keys()));
    this.metrics.openFiles.set(this.#files.size);
  }

  async #track(path: string, input: TailedInput, now: number): Promise<TrackedFile | undefined> {
    const fingerprintBytes = input.config.fingerprintBytes;
    const handle = await open(path, 'r');
    let keep = false;
    try {
      const stat = await handle.stat({ bigint: true });
      if (!stat.isFile()) return undefined;
      const dev = String(stat.dev);
      const ino = String(stat.ino);
      const size = Number(stat.size);
      const known = this.#byInode.get(`${dev}:${ino}`);
      if (known) {
        if (size < known.readOffset || !(await this.#unchanged(known))) {
          // copytruncate: this inode now holds new content. The old identity lives on in the
          // copy (same fingerprint), which resumes from the stored checkpoint when found.
          this.logger.info(
            { path, key: known.key, offset: known.readOffset, size },
            'file truncated: reading it from the start',
          );
          await this.#detachRewritten(known);
        } else {
          known.path = path;
          if (known.key.startsWith('ino:')) {
            const fingerprint = fingerprintOf(known.head, fingerprintBytes);
            if (fingerprint && !this.#files.has(fingerprint)) {
              this.store.rename(known.key, fingerprint);
              this.#files.delete(known.key);
              known.key = fingerprint;
              this.#files.set(fingerprint, known);
            }
          }
          return known;
        }
      }
      const head = await readHead(handle, fingerprintBytes);
      const key = fingerprintOf(head, fingerprintBytes) ?? inodeKey(dev, ino);
      const other = this.#files.get(key);
      if (other) {
        // Same content start as a file already open: the copy of a copytruncate rotation whose
        // original was not seen truncated yet. It is adopted once the original is.
        return other.path === path ? other : undefined;
      }
      let checkpoint = this.store.get(key);
      if (!checkpoint && key.startsWith('fp:')) {
        const byInode = this.store.findByInode(dev, ino);
        if (byInode?.[0].startsWith('ino:')) {
          this.store.rename(byInode[0], key);
          checkpoint = byInode[1];
        }
      }
      let offset: number;
      let idBase: string;
      if (checkpoint) {
        idBase = checkpoint.idBase;
        offset = checkpoint.offset <= size ? checkpoint.offset : 0;
        if (checkpoint.offset > size)
          this.logger.info(
            { path, checkpoint: checkpoint.offset, size },
            'file shorter than its checkpoint: reading it from the start',
          );
      } else {
        idBase = idBaseFor(key, dev, ino);
        offset = this.#firstScan && input.config.readFrom === 'tail' ? size : 0;
      }
      const multiline = input.config.multiline;
      const joiner = new Joiner(
        multiline
          ? {
              start: new RegExp(multiline.start),
              maxLines: multiline.maxLines,
              timeoutMs: multiline.timeoutMs,
            }
          : undefined,
        (event) => this.onEvent(file, event, event.timestamp ?? this.#readTime),
      );
      const file: TrackedFile = {
        key,
        idBase,
        path,
        dev,
        ino,
        handle,
        head,
        input,
        readOffset: offset,
        ackedOffset: offset,
        size,
        reader: new LineReader(input.config.maxLineBytes, this.#readBuffer),
        joiner,
        acks: [],
        lastGrowthAt: now,
        goneSince: undefined,
        closed: false,
        rewritten: false,
      };
      this.#files.set(key, file);
      this.#byInode.set(`${dev}:${ino}`, file);
      this.store.set(key, { idBase, offset, path, dev, ino, updatedAt: now });
      // On disk before anything is shipped from it: a crash must not give its documents new ids.
      if (!checkpoint) this.store.tryFlush();
      this.logger.info({ path, key, offset, resumed: checkpoint !== undefined }, 'tailing file');
      keep = true;
      return file;
    } finally {
      if (!keep) await handle.close();
    }
  }

  async #detach(file: TrackedFile): Promise<void> {
    file.joiner.flush();
    file.closed = true;
    this.#files.delete(file.key);
    this.#byInode.delete(`${file.dev}:${file.ino}`);
    this.metrics.lagBytes.remove({ path: file.path });
    await file.handle.close();
  }

  /**
   * Detaches a file whose inode now holds other content. A checkpoint by inode is of no use to
   * anything any more (the copy has another inode) and would hand its offset and ids to the new
   * content: it goes. A fingerprint checkpoint stays for the copy to resume from.
   */
  async #detachRewritten(file: TrackedFile): Promise<void> {
    file.rewritten = true;
    await this.#detach(file);
    if (file.key.startsWith('ino:')) this.store.delete(file.key);
  }

  /**
   * Whether the file still starts with the bytes it started with (as far as it had them): a
   * copytruncate whose new content already outgrew the old offset shows only here. Extends the
   * known first bytes as the file grows.
   */
  async #unchanged(file: TrackedFile): Promise<boolean> {
    const { head } = file;
    const want = file.input.config.fingerprintBytes;
    const buffer = this.#headBuffer;
    const { bytesRead } = await file.handle.read(buffer, 0, want, 0);
    if (bytesRead < head.length || buffer.compare(head, 0, head.length, 0, head.length) !== 0) return false;
    if (bytesRead > head.length) file.head = Buffer.from(buffer.subarray(0, bytesRead));
    return true;
  }

  /** Reads what is available, file by file; false when nothing was read (or reading is paused). */
  async readAll(): Promise<boolean> {
    let progressed = false;
    for (const file of [...this.#files.values()]) {
      if (file.closed) continue;
      while (!this.pace.paused) {
        const before = file.readOffset;
        const { count, next, bytesRead } = await file.reader.read(file.handle, file.readOffset);
        if (bytesRead === 0) break;
        // Checked after the read: had the file been rewritten before it, its first bytes differ now.
        if (!(await this.#unchanged(file))) {
          this.logger.info(
            { path: file.path, key: file.key, offset: file.readOffset },
            'file rewritten: reading it from the start',
          );
          await this.#detachRewritten(file);
          this.#lastScan = 0; // the next loop finds its new content, and the copy of the old
          progressed = true;
          break;
        }
        file.size = Math.max(file.size, file.readOffset + bytesRead);
        if (next === before) break; // only a line without its newline: wait for the rest
        file.readOffset = next;
        file.lastGrowthAt = Date.now();
        progressed = true;
        this.metrics.readBytes.inc(next - before);
        const now = Date.now();
        this.#readTime = new Date(now).toISOString();
        for (let i = 0; i < count; i++) {
          const line = file.reader.line(i);
          const decoded: DecodedLine = file.input.decode(line.text);
          if (line.truncated) decoded.flags = [...(decoded.flags ?? []), 'truncated'];
          file.joiner.add(decoded, file, line.start, line.end, now);
          if (this.pace.full) await this.pace.send();
        }
        if (bytesRead < 64 * 1024) break;
      }
    }
    return progressed;
  }

  /** Emits the events being joined that got no line for multiline.timeoutMs. */
  flushStale(now: number): void {
    for (const file of this.#files.values()) file.joiner.flushIfStale(now);
  }

  /** Emits every event being joined (shutdown). */
  flushAll(): void {
    for (const file of this.#files.values()) file.joiner.flush();
  }

  /** Closes the files gone from every glob that are read to their end and stopped growing closeRemovedAfterMs ago. */
  async closeFinished(now: number): Promise<void> {
    for (const file of [...this.#files.values()]) {
      if (file.goneSince === undefined || now - file.lastGrowthAt < file.input.config.closeRemovedAfterMs)
        continue;
      const { size } = await file.handle.stat();
      if (size > file.readOffset && !file.reader.skipping) continue; // never drop a file with unread bytes
      this.logger.info(
        { path: file.path, key: file.key, offset: file.readOffset },
        'file gone and read to its end: closed',
      );
      await this.#detach(file);
    }
  }

  /** Closes every file (shutdown, once its last events are acknowledged or given up). */
  async closeAll(): Promise<void> {
    for (const file of [...this.#files.values()]) await file.handle.close();
    this.#files.clear();
  }
}
