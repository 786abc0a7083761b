import { type FileHandle, open, stat } from 'node:fs/promises';
import { type BackoffOptions, backoffMs, type Logger } from '@sidecar-kit/core';
import type { CheckpointStore } from '../checkpoint/store.js';
import type { InputConfig } from '../config.js';
import { Scanner } from '../discovery/scanner.js';
import type { DecodedLine, LogEvent } from '../event.js';
import { decoders } from '../format/index.js';
import type { ShipperMetrics } from '../metrics.js';
import { Joiner } from '../multiline/joiner.js';
import { fingerprintOf, idBaseFor, inodeKey, readHead } from './identity.js';
import { LineReader, ReadArea } from './line-reader.js';
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

export interface TailerLimits {
  /** Files held open for reading at once, at most; the others wait their turn. */
  maxOpenFiles: number;
}

/** Out of file descriptors, for the process (EMFILE) or the system (ENFILE). */
function outOfDescriptors(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/** Descriptors kept free below the count that ran out, for the output's sockets and the shipper's own files. */
const DESCRIPTOR_HEADROOM = 16;
const FD_WARNING_INTERVAL_MS = 5 * 60_000;
/** No file is opened for 1 s after descriptors ran out, doubling to 30 s while it recurs. */
const DESCRIPTOR_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000, jitter: 'none' };

/**
 * Follows the inputs' files: finds them by their globs, knows each by its identity across
 * renames (rotation), resumes each from its checkpoint, detects copytruncate and files rewritten
 * in place, reads new lines into events and closes files gone from every glob once read to their end.
 */
export class Tailer {
  readonly #inputs: TailedInput[];
  readonly #files = new Map<string, TrackedFile>();
  readonly #byInode = new Map<string, TrackedFile>();
  /** The files holding a descriptor, in the order they were opened. */
  readonly #open = new Set<TrackedFile>();
  /** Closed files with bytes to read, in the order they asked for a descriptor (fair turns). */
  readonly #waiting = new Set<TrackedFile>();
  /** New files not yet checkpointed on disk: nothing is read from them before (their ids must survive a crash). */
  readonly #unpersisted = new Set<TrackedFile>();
  /** maxOpenFiles, lowered to what the process could open when descriptors ran out. */
  #fdLimit: number;
  /** No file is opened before this time (a back-off after EMFILE/ENFILE). */
  #fdBackoffUntil = 0;
  /** EMFILE/ENFILE in a row, without an open that succeeded between them. */
  #fdFailuresInARow = 0;
  #fdWarnedAt = Number.NEGATIVE_INFINITY;
  #fdFailures = 0;
  #lastScan = 0;
  #firstScan = true;
  #readTime = new Date().toISOString();
  /** One read buffer and line table for every file (reads are sequential): memory does not grow with the file count. */
  readonly #readArea: ReadArea;
  /** Where a file's first bytes are read again to check that it was not rewritten. */
  readonly #headBuffer: Buffer;

  constructor(
    inputs: readonly InputConfig[],
    private readonly store: CheckpointStore,
    private readonly metrics: ShipperMetrics,
    private readonly logger: Logger,
    private readonly pace: ReadPace,
    private readonly onEvent: EventHandler,
    limits: TailerLimits = { maxOpenFiles: 1024 },
  ) {
    this.#fdLimit = limits.maxOpenFiles;
    this.#inputs = inputs.map((input) => ({
      config: input,
      scanner: new Scanner(input.paths, input.exclude),
      decode: decoders[input.format],
    }));
    const longest = Math.max(...inputs.map((input) => input.maxLineBytes));
    this.#readArea = new ReadArea(Math.max(256 * 1024, longest + 2));
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
          if (outOfDescriptors(error)) this.#outOfDescriptors(error, now);
          else if (code !== 'ENOENT' && code !== 'ELOOP')
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
    // New files are on disk before anything is shipped from them, in one write for the whole scan.
    this.#persist();
    this.metrics.openFiles.set(this.#open.size);
  }

  /** Writes the checkpoints of new files; they are read once it succeeded. */
  #persist(): void {
    if (this.#unpersisted.size > 0 && this.store.tryFlush()) this.#unpersisted.clear();
  }

  /**
   * EMFILE/ENFILE: a back-off, not an error per file. Fewer files are held open from now on
   * (what was open when it happened, less a headroom), no file is opened for a while (1 s,
   * doubling up to 30 s while it recurs), and one warning is logged every 5 minutes at most.
   */
  #outOfDescriptors(error: unknown, now: number): void {
    this.#fdFailures += 1;
    const before = this.#fdLimit;
    this.#fdLimit = Math.max(1, Math.min(this.#fdLimit, this.#open.size - DESCRIPTOR_HEADROOM));
    this.#fdBackoffUntil = now + backoffMs(this.#fdFailuresInARow++, DESCRIPTOR_BACKOFF);
    if (now - this.#fdWarnedAt < FD_WARNING_INTERVAL_MS) return;
    this.#fdWarnedAt = now;
    this.logger.warn(
      {
        code: (error as NodeJS.ErrnoException).code,
        openFiles: this.#open.size,
        maxOpenFiles: this.#fdLimit,
        was: before,
        failures: this.#fdFailures,
      },
      'out of file descriptors: holding fewer files open, the others wait their turn',
    );
    this.#fdFailures = 0;
  }

  /** Opens `path` unless descriptors ran out a moment ago (then undefined: try again later). */
  async #openFile(path: string): Promise<FileHandle | undefined> {
    if (Date.now() < this.#fdBackoffUntil) return undefined;
    const handle = await open(path, 'r');
    this.#fdFailuresInARow = 0;
    return handle;
  }

  async #track(path: string, input: TailedInput, now: number): Promise<TrackedFile | undefined> {
    const fingerprintBytes = input.config.fingerprintBytes;
    // A stat by path needs no descriptor: known files (the usual case) are checked without one.
    const found = await stat(path, { bigint: true });
    if (!found.isFile()) return undefined;
    const known = this.#byInode.get(`${found.dev}:${found.ino}`);
    if (known) return this.#recheck(known, path, Number(found.size));
    const handle = await this.#openFile(path);
    if (handle === undefined) return undefined; // out of descriptors: found again by a later scan
    let keep = false;
    try {
      const stat = await handle.stat({ bigint: true });
      if (!stat.isFile()) return undefined;
      const dev = String(stat.dev);
      const ino = String(stat.ino);
      const size = Number(stat.size);
      if (this.#byInode.has(`${dev}:${ino}`)) return undefined; // replaced between stat and open: the next scan sees it
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
        handle: undefined,
        head,
        input,
        readOffset: offset,
        ackedOffset: offset,
        size,
        reader: new LineReader(input.config.maxLineBytes, this.#readArea),
        joiner,
        acks: [],
        lastGrowthAt: now,
        atEnd: offset >= size,
        goneSince: undefined,
        closed: false,
        rewritten: false,
      };
      this.#files.set(key, file);
      this.#byInode.set(`${dev}:${ino}`, file);
      this.store.set(key, { idBase, offset, path, dev, ino, updatedAt: now });
      // On disk before anything is shipped from it (at the end of the scan): a crash must not give its documents new ids.
      if (!checkpoint) this.#unpersisted.add(file);
      this.logger.info({ path, key, offset, resumed: checkpoint !== undefined }, 'tailing file');
      // Kept open if a descriptor is free and nobody waits for one; else it waits its turn, closed.
      if (this.#open.size < this.#fdLimit && this.#waiting.size === 0) {
        file.handle = handle;
        this.#open.add(file);
        keep = true;
      } else if (offset < size) this.#waiting.add(file);
      return file;
    } finally {
      if (!keep) await handle.close();
    }
  }

  /** A scan found a known file (by inode) at `path` with `size` bytes: follows a rename, notices truncation and growth. */
  async #recheck(known: TrackedFile, path: string, size: number): Promise<TrackedFile | undefined> {
    const fingerprintBytes = known.input.config.fingerprintBytes;
    if (known.handle === undefined) {
      known.path = path;
      if (size < known.readOffset) {
        this.logger.info(
          { path, key: known.key, offset: known.readOffset, size },
          'file truncated: reading it from the start',
        );
        await this.#detachRewritten(known);
        return undefined;
      }
      known.size = Math.max(known.size, size);
      // Grown while closed: reopened in its turn (and its first bytes checked then).
      if (size > known.readOffset) this.#waiting.add(known);
      return known;
    }
    if (size < known.readOffset || !(await this.#unchanged(known))) {
      // copytruncate: this inode now holds new content. The old identity lives on in the
      // copy (same fingerprint), which resumes from the stored checkpoint when found.
      this.logger.info(
        { path, key: known.key, offset: known.readOffset, size },
        'file truncated: reading it from the start',
      );
      await this.#detachRewritten(known);
      return undefined;
    }
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

  /** Closes a file's descriptor, keeping everything else about it: it is reopened (by identity) when it grows. */
  async #release(file: TrackedFile): Promise<void> {
    const handle = file.handle;
    if (handle === undefined) return;
    file.handle = undefined;
    this.#open.delete(file);
    await handle.close();
  }

  /** Whether an open file has nothing to read: its last read reached its end and it has not grown since. */
  async #drained(file: TrackedFile): Promise<boolean> {
    if (file.handle === undefined || !file.atEnd || file.reader.skipping) return false;
    const { size } = await file.handle.stat();
    if (size > file.size) file.atEnd = false; // grown since: read it before letting it go
    return file.atEnd;
  }

  /** Frees a descriptor for a waiting file: closes the file opened longest ago that has nothing to read. */
  async #yieldSlot(): Promise<boolean> {
    for (const file of this.#open) {
      if (!(await this.#drained(file))) continue;
      await this.#release(file);
      return true;
    }
    return false;
  }

  /**
   * Gives the waiting files descriptors, first come first served, closing files that are read to
   * their end to make room. A reopened file must be the same file: same device and inode, and
   * the same first bytes; a file rewritten meanwhile is read as new content.
   */
  async #openWaiting(): Promise<boolean> {
    let opened = false;
    for (const file of this.#waiting) {
      if (file.closed) {
        this.#waiting.delete(file);
        continue;
      }
      if (this.#open.size >= this.#fdLimit && !(await this.#yieldSlot())) break;
      let handle: FileHandle | undefined;
      try {
        handle = await this.#openFile(file.path);
      } catch (error) {
        if (outOfDescriptors(error)) {
          this.#outOfDescriptors(error, Date.now());
          break;
        }
        // Gone from its path (deleted or renamed while closed): a scan finds it under its new name, if any.
        this.#waiting.delete(file);
        continue;
      }
      if (handle === undefined) break;
      this.#waiting.delete(file);
      const now = await handle.stat({ bigint: true });
      if (String(now.dev) !== file.dev || String(now.ino) !== file.ino) {
        await handle.close(); // another file under its path now: the scans know where each is
        continue;
      }
      file.handle = handle;
      file.atEnd = false;
      this.#open.add(file);
      opened = true;
      if (Number(now.size) < file.readOffset || !(await this.#unchanged(file))) {
        this.logger.info(
          { path: file.path, key: file.key, offset: file.readOffset },
          'file rewritten: reading it from the start',
        );
        await this.#detachRewritten(file);
        this.#lastScan = 0;
      }
    }
    return opened;
  }

  async #detach(file: TrackedFile): Promise<void> {
    file.joiner.flush();
    file.closed = true;
    this.#files.delete(file.key);
    this.#byInode.delete(`${file.dev}:${file.ino}`);
    this.#waiting.delete(file);
    this.#unpersisted.delete(file);
    this.metrics.lagBytes.remove({ path: file.path });
    await this.#release(file);
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
    const { head, handle } = file;
    if (handle === undefined) return true;
    const want = file.input.config.fingerprintBytes;
    const buffer = this.#headBuffer;
    const { bytesRead } = await handle.read(buffer, 0, want, 0);
    if (bytesRead < head.length || buffer.compare(head, 0, head.length, 0, head.length) !== 0) return false;
    if (bytesRead > head.length) file.head = Buffer.from(buffer.subarray(0, bytesRead));
    return true;
  }

  /** Reads what is available, file by file; false when nothing was read (or reading is paused). */
  async readAll(): Promise<boolean> {
    this.#persist();
    let progressed = await this.#openWaiting();
    for (const file of [...this.#open]) {
      if (file.closed || this.#unpersisted.has(file)) continue;
      while (!this.pace.paused && file.handle !== undefined) {
        const before = file.readOffset;
        const { count, next, bytesRead } = await file.reader.read(file.handle, file.readOffset);
        if (bytesRead === 0) {
          file.atEnd = true;
          break;
        }
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
        if (next === before) {
          file.atEnd = true; // only a line without its newline: wait for the rest
          break;
        }
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
        if (bytesRead < 64 * 1024) {
          file.atEnd = true;
          break;
        }
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

  /**
   * Closes the files gone from every glob that are read to their end and stopped growing
   * closeRemovedAfterMs ago; closes the descriptors of files read to their end that stopped
   * growing closeInactiveMs ago (a scan reopens them when they grow), and of as many files read to
   * their end as are open over the limit.
   */
  async closeFinished(now: number): Promise<void> {
    for (const file of [...this.#files.values()]) {
      if (file.goneSince === undefined || now - file.lastGrowthAt < file.input.config.closeRemovedAfterMs) {
        if (
          file.handle !== undefined &&
          (this.#open.size > this.#fdLimit || now - file.lastGrowthAt >= file.input.config.closeInactiveMs) &&
          (await this.#drained(file))
        )
          await this.#release(file);
        continue;
      }
      if (file.handle !== undefined) {
        const { size } = await file.handle.stat();
        if (size > file.readOffset && !file.reader.skipping) continue; // never drop a file with unread bytes
      }
      this.logger.info(
        { path: file.path, key: file.key, offset: file.readOffset },
        'file gone and read to its end: closed',
      );
      await this.#detach(file);
    }
  }

  /** Closes every file (shutdown, once its last events are acknowledged or given up). */
  async closeAll(): Promise<void> {
    for (const file of [...this.#open]) await this.#release(file);
    this.#files.clear();
    this.#waiting.clear();
  }
}
