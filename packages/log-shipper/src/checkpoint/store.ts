import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@sidecar-kit/core';

export interface Checkpoint {
  /** Stable id prefix of the file's documents. */
  idBase: string;
  /** Everything before this offset is acknowledged by the output. */
  offset: number;
  path: string;
  dev: string;
  ino: string;
  updatedAt: number;
}

interface StoredState {
  version: 1;
  files: Record<string, Checkpoint>;
}

/**
 * Acknowledged offsets per file identity, in `<dir>/checkpoints.json`. Written atomically: a temp
 * file is fsynced, the current file becomes `.bak`, the temp file is renamed in and the directory
 * fsynced. A damaged file (an OOM kill mid-write on a filesystem without ordering, a disk error)
 * never stops a start: the backup is used, or the shipper starts empty, and says which.
 */
export class CheckpointStore {
  readonly #file: string;
  readonly #backup: string;
  readonly #entries = new Map<string, Checkpoint>();
  #dirty = false;
  /** When the checkpoints were last written to disk (ms since the epoch); the start counts as one. */
  #lastWriteAt = Date.now();
  /**
   * Descriptors held for the next write, so that running out of file descriptors (EMFILE) never
   * stops checkpoints: the directory (fsynced after each rename) and the next temp file, opened
   * right after a write closed the previous one (the slot it freed).
   */
  #dirFd: number | undefined;
  #tempFd: number | undefined;
  readonly #temp: string;
  #failures = 0;
  #lastFailureLogAt = 0;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {
    this.#file = join(dir, 'checkpoints.json');
    this.#backup = join(dir, 'checkpoints.json.bak');
    this.#temp = `${this.#file}.tmp`;
  }

  /** Opens the descriptors the next write needs, if they are not open; a failure is retried at the next write. */
  #prepare(): void {
    try {
      this.#dirFd ??= openSync(this.dir, 'r');
      this.#tempFd ??= openSync(this.#temp, 'w', 0o600);
    } catch {
      // EMFILE and the like: the write opens what it lacks, and retries later.
    }
  }

  /** Closes the descriptors held for the next write (shutdown). */
  close(): void {
    for (const fd of [this.#dirFd, this.#tempFd]) if (fd !== undefined) closeSync(fd);
    this.#dirFd = undefined;
    this.#tempFd = undefined;
  }

  load(): void {
    mkdirSync(this.dir, { recursive: true });
    for (const [file, label] of [
      [this.#file, 'checkpoint file'],
      [this.#backup, 'backup checkpoint file'],
    ] as const) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.logger.warn({ file, err: error }, `cannot read ${label}`);
        continue;
      }
      try {
        const state = JSON.parse(text) as StoredState;
        if (state.version !== 1 || typeof state.files !== 'object' || state.files === null)
          throw new Error('unknown format');
        for (const [key, entry] of Object.entries(state.files)) {
          if (typeof entry.offset === 'number' && typeof entry.idBase === 'string')
            this.#entries.set(key, entry);
        }
        if (file === this.#backup)
          this.logger.warn(
            { file, files: this.#entries.size },
            'checkpoint file was damaged: recovered from the backup',
          );
        else this.logger.info({ file, files: this.#entries.size }, 'checkpoints loaded');
        return;
      } catch (error) {
        this.logger.warn(
          { file, bytes: text.length, reason: (error as Error).message },
          `${label} is damaged: ignoring it`,
        );
      }
    }
    if (this.#entries.size === 0)
      this.logger.info({ dir: this.dir }, 'no usable checkpoints: starting fresh');
    this.#prepare();
  }

  get(key: string): Checkpoint | undefined {
    return this.#entries.get(key);
  }

  findByInode(dev: string, ino: string): [string, Checkpoint] | undefined {
    for (const entry of this.#entries) if (entry[1].dev === dev && entry[1].ino === ino) return entry;
    return undefined;
  }

  set(key: string, checkpoint: Checkpoint): void {
    const current = this.#entries.get(key);
    // A late acknowledgement (from a file detached at truncation) must not move a checkpoint back.
    if (
      current &&
      current.idBase === checkpoint.idBase &&
      current.ino === checkpoint.ino &&
      current.offset > checkpoint.offset
    )
      return;
    if (
      current &&
      current.offset === checkpoint.offset &&
      current.path === checkpoint.path &&
      current.ino === checkpoint.ino
    )
      return;
    this.#entries.set(key, checkpoint);
    this.#dirty = true;
  }

  rename(from: string, to: string): void {
    const entry = this.#entries.get(from);
    if (!entry) return;
    this.#entries.delete(from);
    this.#entries.set(to, entry);
    this.#dirty = true;
  }

  delete(key: string): void {
    if (this.#entries.delete(key)) this.#dirty = true;
  }

  /** Forgets files not seen for `maxAgeMs` (the entries of long-deleted files). */
  prune(now: number, maxAgeMs: number, live: ReadonlySet<string>): void {
    for (const [key, entry] of this.#entries) {
      if (!live.has(key) && now - entry.updatedAt > maxAgeMs) this.delete(key);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * flush(), a failure logged instead of thrown: the checkpoints stay to write, the next flush
   * tries again. Repeated failures are logged once a minute, with their count. True when the
   * checkpoints are on disk.
   */
  tryFlush(): boolean {
    try {
      this.flush();
      if (this.#failures > 0) this.logger.info({ failures: this.#failures }, 'checkpoints written again');
      this.#failures = 0;
      return true;
    } catch (error) {
      this.#failures += 1;
      const now = Date.now();
      if (now - this.#lastFailureLogAt >= 60_000) {
        this.#lastFailureLogAt = now;
        this.logger.error({ err: error, failures: this.#failures }, 'cannot write checkpoints: retrying');
      }
      return false;
    }
  }

  get lastWriteAt(): number {
    return this.#lastWriteAt;
  }

  /** Writes the checkpoints if they changed since the last write. */
  flush(): void {
    if (!this.#dirty) return;
    const state: StoredState = { version: 1, files: Object.fromEntries(this.#entries) };
    const temp = this.#temp;
    this.#dirFd ??= openSync(this.dir, 'r');
    const fd = this.#tempFd ?? openSync(temp, 'w', 0o600);
    this.#tempFd = undefined;
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(this.#file, this.#backup);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    renameSync(temp, this.#file);
    fsyncSync(this.#dirFd);
    this.#dirty = false;
    this.#lastWriteAt = Date.now();
    this.#prepare(); // the next temp file takes the descriptor just closed
  }
}
