import type { FileHandle } from 'node:fs/promises';
import type { InputConfig } from '../config.js';
import type { Scanner } from '../discovery/scanner.js';
import type { Decoder } from '../format/index.js';
import type { Joiner } from '../multiline/joiner.js';
import type { LineReader } from './line-reader.js';

/** An input while the shipper runs: its config, the scanner of its globs and its line decoder. */
export interface TailedInput {
  config: InputConfig;
  scanner: Scanner;
  decode: Decoder;
}

/** A place in a file's queue of acknowledgements: the end of the file's events in one batch. */
export interface PendingAck {
  end: number;
  done: boolean;
}

/** A file being followed, from open to close. */
export interface TrackedFile {
  /** Its identity: a fingerprint key, or an inode key while it is shorter than the fingerprint. */
  key: string;
  idBase: string;
  path: string;
  dev: string;
  ino: string;
  /** Its descriptor while open for reading; undefined while closed (inactive, or waiting for a slot under maxOpenFiles). */
  handle: FileHandle | undefined;
  /** The file's first bytes (up to fingerprintBytes) as last verified: a change means it was rewritten. */
  head: Buffer;
  input: TailedInput;
  readOffset: number;
  ackedOffset: number;
  size: number;
  reader: LineReader;
  joiner: Joiner;
  /** Its batches in flight, in file order: the checkpoint moves over the done ones at the front. */
  acks: PendingAck[];
  lastGrowthAt: number;
  /** Its last read reached the end of the file: nothing more to read for now. */
  atEnd: boolean;
  goneSince: number | undefined;
  closed: boolean;
  /** Detached because its inode now holds other content (copytruncate). */
  rewritten: boolean;
}
