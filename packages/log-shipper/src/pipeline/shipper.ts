import { type FileHandle, open } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Component, Logger } from '@sidecar-kit/core';
import type { CheckpointStore } from '../checkpoint/store.js';
import type { InputConfig, LogShipperConfig } from '../config.js';
import { Scanner } from '../discovery/scanner.js';
import type { DecodedLine, LogEvent } from '../event.js';
import { type Decoder, decoders } from '../format/index.js';
import type { ShipperMetrics } from '../metrics.js';
import { Joiner } from '../multiline/joiner.js';
import type { ItemInfo, Output } from '../output/output.js';
import { fingerprintOf, idBaseFor, inodeKey, readHead } from '../tail/identity.js';
import { LineReader } from '../tail/line-reader.js';
import { BatchBuilder, BufferPool } from './batch-builder.js';

export interface BatchLimits {
  maxDocs: number;
  maxBytes: number;
  flushMs: number;
  concurrency: number;
}

interface AckEntry {
  end: number;
  done: boolean;
}

interface TrackedFile {
  key: string;
  idBase: string;
  path: string;
  dev: string;
  ino: string;
  handle: FileHandle;
  /** The file's first bytes (up to fingerprintBytes) as last verified: a change means it was rewritten. */
  head: Buffer;
  input: InputRuntime;
  readOffset: number;
  ackedOffset: number;
  size: number;
  reader: LineReader;
  joiner: Joiner;
  acks: AckEntry[];
  lastGrowthAt: number;
  goneSince: number | undefined;
  closed: boolean;
  /** Detached because its inode now holds other content (copytruncate). */
  rewritten: boolean;
}

interface InputRuntime {
  config: InputConfig;
  scanner: Scanner;
  decode: Decoder;
  /** `,"service":"web"` : the static fields, serialized once. */
  staticJson: string;
}

interface PendingBatch {
  builder: BatchBuilder;
  acks: Array<[TrackedFile, AckEntry]>;
  perFile: Map<TrackedFile, number>;
  startedAt: number;
}

// What JSON.stringify escapes in a string: quote, backslash, control characters and surrogates
// (lone ones are escaped; a valid pair only takes the slow path).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(text), without the copy for the usual line that has nothing to escape (~10% of the CPU per line). */
function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

const KUBERNETES_ENV: Array<[string, string[]]> = [
  ['POD_NAME', ['pod', 'name']],
  ['POD_NAMESPACE', ['namespace']],
  ['NODE_NAME', ['node', 'name']],
  ['POD_IP', ['pod', 'ip']],
  ['CONTAINER_NAME', ['container', 'name']],
];

function kubernetesMetadata(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const out: Record<string, Record<string, string> | string> = {};
  for (const [variable, [first, second]] of KUBERNETES_ENV) {
    const value = env[variable];
    if (!value || !first) continue;
    if (second) out[first] = { ...((out[first] as Record<string, string>) ?? {}), [second]: value };
    else out[first] = value;
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * Tails the inputs' files and feeds the output, with acknowledgement-driven checkpoints:
 * a file's checkpoint only moves past events the output has acknowledged, in file order, even
 * when batches complete out of order. Memory is bounded: reading pauses while more than
 * maxBufferedBytes of events are unacknowledged.
 */
export class Shipper implements Component {
  readonly name = 'tail';
  readonly #inputs: InputRuntime[];
  readonly #files = new Map<string, TrackedFile>();
  readonly #byInode = new Map<string, TrackedFile>();
  readonly #commonJson: string;
  readonly #pathJsonCache = new Map<string, string>();
  readonly #common: Record<string, unknown>;
  readonly #pool: BufferPool;
  #current: PendingBatch;
  #inFlight = 0;
  #buffered = 0;
  #slotWaiters: Array<() => void> = [];
  #wake: (() => void) | undefined;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #lastScan = 0;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #firstScan = true;
  #readTime = new Date().toISOString();
  readonly #inFlightBatches = new Set<Promise<void>>();
  #abort = new AbortController();
  /** One read buffer for every file (reads are sequential): memory does not grow with the file count. */
  readonly #readBuffer: Buffer;
  /** Where a file's first bytes are read again to check that it was not rewritten. */
  readonly #headBuffer: Buffer;

  constructor(
    private readonly config: LogShipperConfig,
    private readonly output: Output,
    private readonly store: CheckpointStore,
    private readonly metrics: ShipperMetrics,
    private readonly limits: BatchLimits,
    private readonly logger: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.#inputs = config.inputs.map((input) => ({
      config: input,
      scanner: new Scanner(input.paths, input.exclude),
      decode: decoders[input.format],
      staticJson: Object.entries(input.fields)
        .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
        .join(''),
    }));
    const longest = Math.max(...config.inputs.map((input) => input.maxLineBytes));
    this.#readBuffer = Buffer.allocUnsafe(Math.max(256 * 1024, longest + 1));
    this.#headBuffer = Buffer.allocUnsafe(Math.max(...config.inputs.map((input) => input.fingerprintBytes)));
    this.#pool = new BufferPool(limits.concurrency + 1);
    this.#current = this.#newBatch();
    const kubernetes = kubernetesMetadata(env);
    this.#common = { host: { name: env.HOSTNAME ?? hostname() }, ...(kubernetes ? { kubernetes } : {}) };
    this.#commonJson = `,${JSON.stringify(this.#common).slice(1, -1)}`;
  }

  async start(): Promise<void> {
    this.store.load();
    await this.#scan(Date.now());
    this.#checkpointTimer = setInterval(() => this.#writeCheckpoints(), this.config.state.flushMs);
    this.#loop = this.#run();
  }

  /** Wakes the read loop early (a watcher saw a change). */
  poke(): void {
    this.#wake?.();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const now = Date.now();
      if (now - this.#lastScan >= this.config.scanIntervalMs) await this.#scan(now);
      const progressed = await this.#readAll();
      for (const file of this.#files.values()) file.joiner.flushIfStale(now);
      if (this.#current.builder.count > 0 && now - this.#current.startedAt >= this.limits.flushMs)
        await this.#dispatch();
      await this.#closeFinished(now);
      if (!progressed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, 100);
          this.#wake = done;
          function done() {
            clearTimeout(timer);
            resolve();
          }
        });
        this.#wake = undefined;
      }
    }
  }

  async #scan(now: number): Promise<void> {
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

  async #track(path: string, input: InputRuntime, now: number): Promise<TrackedFile | undefined> {
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
        joiner: undefined as unknown as Joiner,
        acks: [],
        lastGrowthAt: now,
        goneSince: undefined,
        closed: false,
        rewritten: false,
      };
      const multiline = input.config.multiline;
      file.joiner = new Joiner(
        multiline
          ? {
              start: new RegExp(multiline.start),
              maxLines: multiline.maxLines,
              timeoutMs: multiline.timeoutMs,
            }
          : undefined,
        (event) => this.#enqueue(file, event),
      );
      this.#files.set(key, file);
      this.#byInode.set(`${dev}:${ino}`, file);
      this.store.set(key, { idBase, offset, path, dev, ino, updatedAt: now });
      // On disk before anything is shipped from it: a crash must not give its documents new ids.
      if (!checkpoint) this.#writeCheckpoints();
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
  async #readAll(): Promise<boolean> {
    let progressed = false;
    for (const file of [...this.#files.values()]) {
      if (file.closed) continue;
      while (this.#buffered < this.config.output.maxBufferedBytes) {
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
          if (
            this.#current.builder.count >= this.limits.maxDocs ||
            this.#current.builder.bytes >= this.limits.maxBytes
          )
            await this.#dispatch();
        }
        if (bytesRead < 64 * 1024) break;
      }
    }
    return progressed;
  }

  #enqueue(file: TrackedFile, event: LogEvent): void {
    event.timestamp ??= this.#readTime;
    const doc = this.#serialize(file, event);
    const batch = this.#current;
    if (batch.builder.count === 0) batch.startedAt = Date.now();
    const before = batch.builder.bytes;
    batch.builder.append(this.output.actionLine?.(event as ItemInfo) ?? '', doc);
    this.#buffered += batch.builder.bytes - before;
    batch.perFile.set(file, event.end);
  }

  #serialize(file: TrackedFile, event: LogEvent): string {
    const log = `"log":{"file":{"path":${this.#pathJson(event.path)}},"offset":${event.offset}${event.flags ? `,"flags":${JSON.stringify(event.flags)}` : ''}}`;
    const head = `{"@timestamp":"${event.timestamp}","message":${jsonString(event.message)},${log}${this.#commonJson}${file.input.staticJson}`;
    if (!event.fields) return `${head}}`;
    // Parsed fields first, so the static fields and the shipper's own win over same-named ones from the line.
    const logField: Record<string, unknown> = { file: { path: event.path }, offset: event.offset };
    if (event.flags) logField['flags'] = event.flags;
    return JSON.stringify({
      ...event.fields,
      ...file.input.config.fields,
      '@timestamp': event.timestamp,
      message: event.message,
      log: logField,
      ...this.#common,
    });
  }

  /** JSON of a path, memoized: every event of a file repeats it. */
  #pathJson(path: string): string {
    let json = this.#pathJsonCache.get(path);
    if (json === undefined) {
      if (this.#pathJsonCache.size >= 1024) this.#pathJsonCache.clear();
      json = JSON.stringify(path);
      this.#pathJsonCache.set(path, json);
    }
    return json;
  }

  #newBatch(): PendingBatch {
    return { builder: new BatchBuilder(this.#pool), acks: [], perFile: new Map(), startedAt: Date.now() };
  }

  async #dispatch(): Promise<void> {
    const pending = this.#current;
    if (pending.builder.count === 0) return;
    this.#current = this.#newBatch();
    const { batch, space } = pending.builder.seal();
    const bytes = batch.body.length;
    this.metrics.read.inc(batch.count);
    for (const [file, end] of pending.perFile) {
      const entry = { end, done: false };
      file.acks.push(entry);
      pending.acks.push([file, entry]);
    }
    while (this.#inFlight >= this.limits.concurrency)
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    this.#inFlight += 1;
    this.metrics.bufferedBytes.set(this.#buffered);
    const sending: Promise<void> = this.output
      .send(batch, this.#abort.signal)
      .then(
        (done) => {
          if (!done) return;
          this.#acknowledge(pending);
          this.#pool.give(space); // only once done: an aborted request may still hold it
        },
        (error: unknown) => this.logger.error({ err: error }, 'output failed: batch not acknowledged'),
      )
      .finally(() => {
        this.#inFlight -= 1;
        this.#buffered -= bytes;
        this.metrics.bufferedBytes.set(this.#buffered);
        this.#inFlightBatches.delete(sending);
        this.#slotWaiters.shift()?.();
        this.#wake?.();
      });
    this.#inFlightBatches.add(sending);
  }

  #acknowledge(batch: PendingBatch): void {
    const now = Date.now();
    for (const [file, entry] of batch.acks) {
      entry.done = true;
      let moved = false;
      while (file.acks[0]?.done) {
        file.ackedOffset = (file.acks.shift() as AckEntry).end;
        moved = true;
      }
      if (!moved) continue;
      // A late acknowledgement for a detached file: not over a live file with the same key (the
      // copy of a copytruncate resumes on its own), nor for an inode that holds other content now.
      if (file.closed && (this.#files.has(file.key) || (file.rewritten && file.key.startsWith('ino:'))))
        continue;
      this.store.set(file.key, {
        idBase: file.idBase,
        offset: file.ackedOffset,
        path: file.path,
        dev: file.dev,
        ino: file.ino,
        updatedAt: now,
      });
      if (!file.closed)
        this.metrics.lagBytes.set({ path: file.path }, Math.max(0, file.size - file.ackedOffset));
    }
  }

  async #closeFinished(now: number): Promise<void> {
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

  #writeCheckpoints(): void {
    try {
      this.store.flush();
    } catch (error) {
      this.logger.error({ err: error }, 'cannot write checkpoints');
    }
  }

  /**
   * SIGTERM: as a native sidecar this runs after the app exited, so its last lines are on disk.
   * Read every file to its end, ship it, wait for the acknowledgements, write the checkpoints.
   */
  async stop(deadline: AbortSignal): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    deadline.addEventListener('abort', () => this.#abort.abort(), { once: true });
    while (!deadline.aborted) {
      if (await this.#readAll()) continue;
      if (this.#buffered < this.config.output.maxBufferedBytes) break; // every file is at its end
      // Paused by the memory bound: let batches complete, then read on.
      if (this.#inFlightBatches.size > 0) await Promise.race([...this.#inFlightBatches]);
      else await this.#dispatch();
    }
    for (const file of this.#files.values()) file.joiner.flush();
    if (!deadline.aborted) await this.#dispatch();
    while (this.#inFlightBatches.size > 0) await Promise.race([...this.#inFlightBatches]);
    clearInterval(this.#checkpointTimer);
    this.#writeCheckpoints();
    const unacknowledged = [...this.#files.values()].filter(
      (file) => file.ackedOffset < file.readOffset,
    ).length;
    this.logger.info(
      { files: this.#files.size, unacknowledged, cutOff: deadline.aborted },
      'tailing stopped, checkpoints written',
    );
    for (const file of [...this.#files.values()]) await file.handle.close();
    this.#files.clear();
    await this.output.close();
  }
}
