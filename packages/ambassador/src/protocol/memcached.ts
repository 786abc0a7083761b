/**
 * Incremental, bounded parsers for the memcached ASCII protocol: requests (get/gets/gat/gats with many keys,
 * set/add/replace/append/prepend/cas with their data block, delete, incr/decr, touch, `noreply`, and the keyless
 * quit/version/stats/flush_all/verbosity) and replies (VALUE ... END, STORED, NOT_STORED, EXISTS, NOT_FOUND,
 * DELETED, TOUCHED, OK, numbers, ERROR, CLIENT_ERROR, SERVER_ERROR, VERSION, STAT).
 *
 * Design note, why hand-written: a sharding proxy must forward each frame's raw bytes untouched, know every key
 * of a multi-get to split it, keep memory bounded while a value is arriving, and get one typed error for any
 * malformed input. The npm memcached clients (memcached, memjs, memcache-client) embed reply decoders that
 * decode into JS values, keep no raw bytes, parse no requests, and have no configurable limits.
 *
 * Rules, as memcached 1.6 applies them: lines end with "\r\n" (a bare "\n" is accepted, like memcached); tokens
 * are separated by spaces; keys are 1..250 bytes with no control characters or spaces; the data block is exactly
 * <bytes> bytes followed by "\r\n". A retrieval reply is a sequence of `value` frames closed by an `end` frame.
 * Malformed input throws ProtocolError, and nothing else; the parser then stays failed.
 */
import { FramedParser, ProtocolError } from './stream-buffer.js';

export { ProtocolError, type ProtocolErrorCode } from './stream-buffer.js';

export interface MemcachedLimits {
  /** Longest key; memcached's KEY_MAX_LENGTH. Default 250. */
  readonly maxKeyLength: number;
  /** Largest value (data block); memcached's item_size_max. Default 1 MiB. */
  readonly maxValueLength: number;
  /** Longest command or reply line, without CRLF. Default 64 KiB (a multi-get of ~250 long keys). */
  readonly maxLineLength: number;
  /** Most keys in one get/gets/gat/gats. Default 4096. */
  readonly maxKeysPerCommand: number;
}

export const DEFAULT_MEMCACHED_LIMITS: MemcachedLimits = Object.freeze({
  maxKeyLength: 250,
  maxValueLength: 1024 * 1024,
  maxLineLength: 64 * 1024,
  maxKeysPerCommand: 4096,
});

export const MEMCACHED_RETRIEVAL_COMMANDS = ['get', 'gets', 'gat', 'gats'] as const;
export const MEMCACHED_STORAGE_COMMANDS = ['set', 'add', 'replace', 'append', 'prepend', 'cas'] as const;
export const MEMCACHED_KEYLESS_COMMANDS = ['quit', 'version', 'stats', 'flush_all', 'verbosity'] as const;

export type MemcachedCommand =
  | (typeof MEMCACHED_RETRIEVAL_COMMANDS)[number]
  | (typeof MEMCACHED_STORAGE_COMMANDS)[number]
  | (typeof MEMCACHED_KEYLESS_COMMANDS)[number]
  | 'delete'
  | 'incr'
  | 'decr'
  | 'touch';

export interface MemcachedRequest {
  /** The bytes of the whole command as received, data block included. */
  readonly raw: Buffer;
  readonly command: MemcachedCommand;
  /** Keys, views into `raw` (one, except for get/gets/gat/gats; none for keyless commands). */
  readonly keys: readonly Buffer[];
  /** Every token after the command name, as received. */
  readonly args: readonly Buffer[];
  readonly noreply: boolean;
  /** Storage commands: the data block, without its CRLF. */
  readonly data?: Buffer;
  readonly flags?: number;
  /** Storage commands, touch, gat/gats. */
  readonly exptime?: number;
  readonly casUnique?: bigint;
  /** incr/decr. */
  readonly delta?: bigint;
}

export type MemcachedStatus =
  | 'STORED'
  | 'NOT_STORED'
  | 'EXISTS'
  | 'NOT_FOUND'
  | 'DELETED'
  | 'TOUCHED'
  | 'OK'
  | 'RESET';

export type MemcachedReply =
  | {
      readonly kind: 'value';
      readonly raw: Buffer;
      readonly key: Buffer;
      readonly flags: number;
      readonly data: Buffer;
      readonly casUnique: bigint | undefined;
    }
  | { readonly kind: 'end'; readonly raw: Buffer }
  | { readonly kind: 'status'; readonly raw: Buffer; readonly status: MemcachedStatus }
  | { readonly kind: 'number'; readonly raw: Buffer; readonly value: bigint }
  | {
      readonly kind: 'error';
      readonly raw: Buffer;
      readonly error: 'ERROR' | 'CLIENT_ERROR' | 'SERVER_ERROR';
      readonly message: string;
    }
  | { readonly kind: 'version'; readonly raw: Buffer; readonly version: string }
  | { readonly kind: 'stat'; readonly raw: Buffer; readonly name: string; readonly value: string };

function resolveLimits(limits: Partial<MemcachedLimits> | undefined): MemcachedLimits {
  if (limits === undefined) return DEFAULT_MEMCACHED_LIMITS;
  const resolved = { ...DEFAULT_MEMCACHED_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`memcached limit ${name} must be a positive integer`);
    }
  }
  return resolved;
}

const MAX_UINT32 = 0xffffffff;
const MAX_UINT64 = (1n << 64n) - 1n;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function isDigits(token: Buffer, allowSign: boolean): boolean {
  let position = 0;
  if (allowSign && token[0] === 0x2d) position = 1;
  if (position >= token.length || token.length - position > 20) return false;
  for (; position < token.length; position++) {
    const byte = token[position]!;
    if (byte < 0x30 || byte > 0x39) return false;
  }
  return true;
}

function parseUint64(token: Buffer | undefined, what: string): bigint {
  if (token === undefined || !isDigits(token, false)) {
    throw new ProtocolError('bad_number', `${what} is not an unsigned number`);
  }
  const value = BigInt(token.toString('latin1'));
  if (value > MAX_UINT64) throw new ProtocolError('bad_number', `${what} is larger than 2^64-1`);
  return value;
}

function parseBoundedInteger(
  token: Buffer | undefined,
  what: string,
  minimum: number,
  maximum: number,
): number {
  if (token === undefined || !isDigits(token, minimum < 0) || token.length > 11) {
    throw new ProtocolError('bad_number', `${what} is not a number`);
  }
  const value = Number(token.toString('latin1'));
  if (value < minimum || value > maximum)
    throw new ProtocolError('bad_number', `${what} ${value} is out of range`);
  return value;
}

/** Splits a line on spaces (memcached's tokenizer), skipping empty tokens. */
function tokenize(line: Buffer): Buffer[] {
  const tokens: Buffer[] = [];
  let start = -1;
  for (let position = 0; position <= line.length; position++) {
    const isSpace = position === line.length || line[position] === 0x20;
    if (isSpace) {
      if (start >= 0) tokens.push(line.subarray(start, position));
      start = -1;
    } else if (start < 0) {
      start = position;
    }
  }
  return tokens;
}

function checkKey(key: Buffer | undefined, limits: MemcachedLimits): Buffer {
  if (key === undefined || key.length === 0) throw new ProtocolError('bad_arguments', 'missing key');
  if (key.length > limits.maxKeyLength) {
    throw new ProtocolError('bad_key', `key of ${key.length} bytes, longer than ${limits.maxKeyLength}`);
  }
  for (const byte of key) {
    if (byte <= 0x20 || byte === 0x7f) throw new ProtocolError('bad_key', 'key contains a control character');
  }
  return key;
}

/** The shared driver and line framing (stream-buffer.ts), with the memcached limits. */
abstract class MemcachedParser<Frame> extends FramedParser<Frame> {
  readonly limits: MemcachedLimits;

  constructor(limits?: Partial<MemcachedLimits>) {
    super();
    this.limits = resolveLimits(limits);
  }

  /** The first line of the frame: the position of its LF, or -1 when incomplete. */
  protected findCommandLine(): number {
    return this.findLine(this.limits.maxLineLength, 'line');
  }
}

/** A command line whose data block has not fully arrived. */
interface AwaitingData<Header> {
  readonly header: Header;
  readonly dataStart: number;
  readonly dataLength: number;
}

/** A parsed command line; offsets (flat start/end pairs) are relative to the frame start. */
interface RequestHeader {
  command: MemcachedCommand;
  noreply: boolean;
  /** Storage commands: length of the data block that follows; else -1. */
  dataLength: number;
  keyOffsets: number[];
  argOffsets: number[];
  flags?: number;
  exptime?: number;
  casUnique?: bigint;
  delta?: bigint;
}

type Mutable<T> = { -readonly [Key in keyof T]: T[Key] };

function slices(raw: Buffer, offsets: readonly number[]): Buffer[] {
  const views: Buffer[] = [];
  for (let index = 0; index < offsets.length; index += 2)
    views.push(raw.subarray(offsets[index]!, offsets[index + 1]!));
  return views;
}

const COMMANDS = new Set<string>([
  ...MEMCACHED_RETRIEVAL_COMMANDS,
  ...MEMCACHED_STORAGE_COMMANDS,
  ...MEMCACHED_KEYLESS_COMMANDS,
  'delete',
  'incr',
  'decr',
  'touch',
]);

function isCommand(name: string): name is MemcachedCommand {
  return COMMANDS.has(name);
}

export class MemcachedRequestParser extends MemcachedParser<MemcachedRequest> {
  #awaiting: AwaitingData<RequestHeader> | undefined;

  protected parseNext(): MemcachedRequest | undefined {
    for (;;) {
      if (this.#awaiting === undefined) {
        if (this.input.length === 0) return undefined;
        const newline = this.findCommandLine();
        if (newline < 0) return undefined;
        const next = newline + 1;
        const header = this.#parseCommandLine(this.input.view(0, this.lineContentEnd(newline)));
        if (header === null) {
          // An empty line: memcached answers ERROR; a proxy may as well drop it.
          this.input.take(next);
          continue;
        }
        if (header.dataLength < 0) return this.#frame(header, next, undefined);
        this.#awaiting = { header, dataStart: next, dataLength: header.dataLength };
      }
      const { header, dataStart, dataLength } = this.#awaiting;
      if (!this.dataComplete(dataStart, dataLength, 'data block')) return undefined;
      this.#awaiting = undefined;
      return this.#frame(header, dataStart + dataLength + 2, [dataStart, dataStart + dataLength]);
    }
  }

  #frame(header: RequestHeader, end: number, data: readonly [number, number] | undefined): MemcachedRequest {
    const raw = this.input.take(end);
    const request: Mutable<MemcachedRequest> = {
      raw,
      command: header.command,
      keys: slices(raw, header.keyOffsets),
      args: slices(raw, header.argOffsets),
      noreply: header.noreply,
    };
    if (data) request.data = raw.subarray(data[0], data[1]);
    if (header.flags !== undefined) request.flags = header.flags;
    if (header.exptime !== undefined) request.exptime = header.exptime;
    if (header.casUnique !== undefined) request.casUnique = header.casUnique;
    if (header.delta !== undefined) request.delta = header.delta;
    return request;
  }

  /** Validates a command line; null for an empty one. The line starts at the frame start. */
  #parseCommandLine(line: Buffer): RequestHeader | null {
    const tokens = tokenize(line);
    const first = tokens[0];
    if (first === undefined) return null;
    const name = first.toString('latin1');
    if (!isCommand(name))
      throw new ProtocolError('unknown_command', `unknown command "${name.slice(0, 32)}"`);
    const args = tokens.slice(1);
    const argOffsets: number[] = [];
    for (const arg of args) {
      const from = arg.byteOffset - line.byteOffset;
      argOffsets.push(from, from + arg.length);
    }
    /** Offsets of the args from `from` on (the keys). */
    const keyOffsetsFrom = (from: number, count: number) => argOffsets.slice(from * 2, (from + count) * 2);
    const limits = this.limits;
    const hasNoreply = (count: number): boolean => {
      if (args.length === count) return false;
      if (args.length === count + 1 && args[count]!.toString('latin1') === 'noreply') return true;
      throw new ProtocolError('bad_arguments', `wrong number of arguments for "${name}"`);
    };
    const header: RequestHeader = {
      command: name,
      noreply: false,
      dataLength: -1,
      keyOffsets: [],
      argOffsets,
    };
    switch (name) {
      case 'get':
      case 'gets':
      case 'gat':
      case 'gats': {
        const keysFrom = name === 'gat' || name === 'gats' ? 1 : 0;
        if (keysFrom === 1) header.exptime = parseBoundedInteger(args[0], 'exptime', INT32_MIN, INT32_MAX);
        const keyCount = args.length - keysFrom;
        if (keyCount <= 0) throw new ProtocolError('bad_arguments', `"${name}" needs a key`);
        if (keyCount > limits.maxKeysPerCommand) {
          throw new ProtocolError('too_many_elements', `more than ${limits.maxKeysPerCommand} keys`);
        }
        for (let index = keysFrom; index < args.length; index++) checkKey(args[index], limits);
        header.keyOffsets = keyOffsetsFrom(keysFrom, keyCount);
        return header;
      }
      case 'set':
      case 'add':
      case 'replace':
      case 'append':
      case 'prepend':
      case 'cas': {
        header.noreply = hasNoreply(name === 'cas' ? 5 : 4);
        checkKey(args[0], limits);
        header.keyOffsets = keyOffsetsFrom(0, 1);
        header.flags = parseBoundedInteger(args[1], 'flags', 0, MAX_UINT32);
        header.exptime = parseBoundedInteger(args[2], 'exptime', INT32_MIN, INT32_MAX);
        const lengthToken = args[3];
        if (lengthToken === undefined || !isDigits(lengthToken, false) || lengthToken.length > 11) {
          throw new ProtocolError('bad_length', 'bad data chunk length');
        }
        header.dataLength = Number(lengthToken.toString('latin1'));
        if (header.dataLength > limits.maxValueLength) {
          throw new ProtocolError(
            'value_too_long',
            `value of ${header.dataLength} bytes, more than ${limits.maxValueLength}`,
          );
        }
        if (name === 'cas') header.casUnique = parseUint64(args[4], 'cas unique');
        return header;
      }
      case 'delete': {
        // memcached still accepts the old "delete <key> 0".
        const legacyZero = args.length >= 2 && args[1]!.toString('latin1') === '0' ? 1 : 0;
        header.noreply = hasNoreply(1 + legacyZero);
        checkKey(args[0], limits);
        header.keyOffsets = keyOffsetsFrom(0, 1);
        return header;
      }
      case 'incr':
      case 'decr':
      case 'touch': {
        header.noreply = hasNoreply(2);
        checkKey(args[0], limits);
        header.keyOffsets = keyOffsetsFrom(0, 1);
        if (name === 'touch') header.exptime = parseBoundedInteger(args[1], 'exptime', INT32_MIN, INT32_MAX);
        else header.delta = parseUint64(args[1], 'delta');
        return header;
      }
      default: {
        if (args.length > 8) throw new ProtocolError('bad_arguments', `too many arguments for "${name}"`);
        header.noreply = args.at(-1)?.toString('latin1') === 'noreply';
        return header;
      }
    }
  }
}

const STATUSES = new Set<string>([
  'STORED',
  'NOT_STORED',
  'EXISTS',
  'NOT_FOUND',
  'DELETED',
  'TOUCHED',
  'OK',
  'RESET',
]);

interface ValueHeader {
  readonly keyOffsets: readonly [number, number];
  readonly flags: number;
  readonly casUnique: bigint | undefined;
}

export class MemcachedReplyParser extends MemcachedParser<MemcachedReply> {
  #awaiting: AwaitingData<ValueHeader> | undefined;

  protected parseNext(): MemcachedReply | undefined {
    if (this.#awaiting === undefined) {
      if (this.input.length === 0) return undefined;
      const newline = this.findCommandLine();
      if (newline < 0) return undefined;
      const next = newline + 1;
      const text = this.input.view(0, this.lineContentEnd(newline));
      if (text.length >= 6 && text.subarray(0, 6).toString('latin1') === 'VALUE ') {
        this.#awaiting = this.#parseValueLine(text, next);
      } else {
        return this.#parseSimpleLine(text, next);
      }
    }
    const { header, dataStart, dataLength } = this.#awaiting;
    if (!this.dataComplete(dataStart, dataLength, 'data block')) return undefined;
    this.#awaiting = undefined;
    const raw = this.input.take(dataStart + dataLength + 2);
    return {
      kind: 'value',
      raw,
      key: raw.subarray(header.keyOffsets[0], header.keyOffsets[1]),
      flags: header.flags,
      data: raw.subarray(dataStart, dataStart + dataLength),
      casUnique: header.casUnique,
    };
  }

  #parseValueLine(line: Buffer, dataStart: number): AwaitingData<ValueHeader> {
    const tokens = tokenize(line);
    if (tokens.length !== 4 && tokens.length !== 5)
      throw new ProtocolError('bad_arguments', 'malformed VALUE line');
    const key = checkKey(tokens[1], this.limits);
    const flags = parseBoundedInteger(tokens[2], 'flags', 0, MAX_UINT32);
    const lengthToken = tokens[3]!;
    if (!isDigits(lengthToken, false) || lengthToken.length > 11)
      throw new ProtocolError('bad_length', 'bad VALUE length');
    const dataLength = Number(lengthToken.toString('latin1'));
    if (dataLength > this.limits.maxValueLength) {
      throw new ProtocolError(
        'value_too_long',
        `value of ${dataLength} bytes, more than ${this.limits.maxValueLength}`,
      );
    }
    const casUnique = tokens[4] === undefined ? undefined : parseUint64(tokens[4], 'cas unique');
    const keyStart = key.byteOffset - line.byteOffset;
    return {
      header: { keyOffsets: [keyStart, keyStart + key.length], flags, casUnique },
      dataStart,
      dataLength,
    };
  }

  #parseSimpleLine(line: Buffer, end: number): MemcachedReply {
    const text = line.toString('latin1');
    const space = text.indexOf(' ');
    const word = space < 0 ? text : text.slice(0, space);
    const rest = space < 0 ? '' : text.slice(space + 1);
    if (word === 'END' && rest === '') return { kind: 'end', raw: this.input.take(end) };
    if (STATUSES.has(word) && rest === '') {
      return { kind: 'status', raw: this.input.take(end), status: word as MemcachedStatus };
    }
    if (word === 'ERROR' || word === 'CLIENT_ERROR' || word === 'SERVER_ERROR') {
      return { kind: 'error', raw: this.input.take(end), error: word, message: rest };
    }
    if (word === 'VERSION') return { kind: 'version', raw: this.input.take(end), version: rest };
    if (word === 'STAT') {
      const valueSpace = rest.indexOf(' ');
      const name = valueSpace < 0 ? rest : rest.slice(0, valueSpace);
      if (name === '') throw new ProtocolError('bad_arguments', 'malformed STAT line');
      return {
        kind: 'stat',
        raw: this.input.take(end),
        name,
        value: valueSpace < 0 ? '' : rest.slice(valueSpace + 1),
      };
    }
    // incr/decr reply: memcached pads the number with spaces when the value shrank.
    const digits = text.trimEnd();
    if (digits.length > 0 && digits.length <= 20 && /^[0-9]+$/.test(digits)) {
      const value = BigInt(digits);
      if (value <= MAX_UINT64) return { kind: 'number', raw: this.input.take(end), value };
    }
    throw new ProtocolError('bad_type', `unknown reply "${text.slice(0, 32)}"`);
  }
}

/** Whether replies to this request end with an `end` frame (after zero or more `value` frames). */
export function isRetrievalCommand(command: MemcachedCommand): boolean {
  return (MEMCACHED_RETRIEVAL_COMMANDS as readonly string[]).includes(command);
}
