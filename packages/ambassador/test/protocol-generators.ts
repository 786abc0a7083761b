/** Seeded generators of valid RESP and memcached streams, for the parser tests and the fuzzer. */

/** mulberry32: a small, fast, seeded PRNG. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(this.#state ^ (this.#state >>> 15), 1 | this.#state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  bytes(length: number): Buffer {
    const bytes = Buffer.allocUnsafe(length);
    for (let index = 0; index < length; index++) bytes[index] = this.below(256);
    return bytes;
  }

  /** Printable ASCII without spaces, 1..maxLength long. */
  word(maxLength: number): string {
    let text = '';
    const length = 1 + this.below(maxLength);
    for (let index = 0; index < length; index++) text += String.fromCharCode(0x21 + this.below(94));
    return text;
  }
}

export function encodeBulkArray(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) parts.push(Buffer.from(`$${arg.length}\r\n`), arg, Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

export function randomRespRequest(random: SeededRandom): Buffer {
  if (random.below(4) === 0) {
    // Inline: letters and digits only, so no quoting is involved.
    const words = Array.from({ length: 1 + random.below(4) }, () =>
      random.word(8).replace(/[^A-Za-z0-9]/g, 'x'),
    );
    return Buffer.from(`${words.join(' ')}\r\n`);
  }
  const args = Array.from({ length: 1 + random.below(5) }, () => random.bytes(random.below(12)));
  return encodeBulkArray(args);
}

function randomRespValue(random: SeededRandom, depth: number): Buffer {
  const kinds = depth >= 3 ? 10 : 16;
  switch (random.below(kinds)) {
    case 0:
      return Buffer.from(`+${random.word(10).replace(/[\r\n]/g, '')}\r\n`);
    case 1:
      return Buffer.from(`-ERR ${random.word(10)}\r\n`);
    case 2:
      return Buffer.from(`:${random.below(2) ? '-' : ''}${random.below(1_000_000)}\r\n`);
    case 3: {
      const data = random.bytes(random.below(16));
      return Buffer.concat([Buffer.from(`$${data.length}\r\n`), data, Buffer.from('\r\n')]);
    }
    case 4:
      return Buffer.from('$-1\r\n');
    case 5:
      return Buffer.from('_\r\n');
    case 6:
      return Buffer.from(`,${random.next() * 1000}\r\n`);
    case 7:
      return Buffer.from(random.below(2) ? '#t\r\n' : '#f\r\n');
    case 8: {
      const data = random.bytes(random.below(8));
      return Buffer.concat([
        Buffer.from(`${random.pick(['!', '='])}${data.length}\r\n`),
        data,
        Buffer.from('\r\n'),
      ]);
    }
    case 9:
      return Buffer.from(`(${random.below(2) ? '-' : ''}${random.below(1e9)}${random.below(1e9)}\r\n`);
    case 10:
      return Buffer.from('*-1\r\n');
    default: {
      const type = random.pick(['*', '*', '%', '~', '>', '|']);
      const count = random.below(4);
      const elements = (type === '%' || type === '|' ? count * 2 : count) + (type === '|' ? 1 : 0);
      const children = Array.from({ length: elements }, () => randomRespValue(random, depth + 1));
      return Buffer.concat([Buffer.from(`${type}${count}\r\n`), ...children]);
    }
  }
}

export function randomRespReply(random: SeededRandom): Buffer {
  return randomRespValue(random, 0);
}

function memcachedKey(random: SeededRandom): string {
  return random.word(random.below(8) === 0 ? 250 : 12);
}

export function randomMemcachedRequest(random: SeededRandom): Buffer {
  const noreply = random.below(3) === 0 ? ' noreply' : '';
  switch (random.below(8)) {
    case 0:
      return Buffer.from(
        `${random.pick(['get', 'gets'])} ${Array.from({ length: 1 + random.below(4) }, () => memcachedKey(random)).join(' ')}\r\n`,
      );
    case 1:
    case 2: {
      const data = random.bytes(random.below(20));
      const command = random.pick(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
      const cas = command === 'cas' ? ` ${random.below(1e9)}` : '';
      const header = `${command} ${memcachedKey(random)} ${random.below(65536)} ${random.below(1000)} ${data.length}${cas}${noreply}\r\n`;
      return Buffer.concat([Buffer.from(header), data, Buffer.from('\r\n')]);
    }
    case 3:
      return Buffer.from(`delete ${memcachedKey(random)}${noreply}\r\n`);
    case 4:
      return Buffer.from(
        `${random.pick(['incr', 'decr'])} ${memcachedKey(random)} ${random.below(1e6)}${noreply}\r\n`,
      );
    case 5:
      return Buffer.from(`touch ${memcachedKey(random)} ${random.below(1e5)}${noreply}\r\n`);
    case 6:
      return Buffer.from(`gat ${random.below(100)} ${memcachedKey(random)} ${memcachedKey(random)}\r\n`);
    default:
      return Buffer.from(`${random.pick(['version', 'quit', 'stats', 'flush_all'])}\r\n`);
  }
}

export function randomMemcachedReply(random: SeededRandom): Buffer {
  switch (random.below(6)) {
    case 0:
    case 1: {
      const data = random.bytes(random.below(20));
      const cas = random.below(2) ? ` ${random.below(1e9)}` : '';
      return Buffer.concat([
        Buffer.from(`VALUE ${memcachedKey(random)} ${random.below(65536)} ${data.length}${cas}\r\n`),
        data,
        Buffer.from('\r\n'),
      ]);
    }
    case 2:
      return Buffer.from('END\r\n');
    case 3:
      return Buffer.from(
        `${random.pick(['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED', 'OK', 'ERROR'])}\r\n`,
      );
    case 4:
      return Buffer.from(`${random.pick(['CLIENT_ERROR', 'SERVER_ERROR'])} ${random.word(20)}\r\n`);
    default:
      return Buffer.from(`${random.below(1e12)}\r\n`);
  }
}

/** Mutates a valid input: flips, inserts, deletes, duplicates or truncates bytes. */
export function mutate(random: SeededRandom, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  const mutations = 1 + random.below(3);
  for (let round = 0; round < mutations; round++) {
    const at = bytes.length === 0 ? 0 : random.below(bytes.length);
    switch (random.below(6)) {
      case 0:
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << random.below(8));
        break;
      case 1:
        bytes = Buffer.concat([bytes.subarray(0, at), random.bytes(1 + random.below(4)), bytes.subarray(at)]);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random.below(4))]);
        break;
      case 3:
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          bytes.subarray(at, at + random.below(8)),
          bytes.subarray(at),
        ]);
        break;
      case 4:
        bytes = bytes.subarray(0, at);
        break;
      default:
        if (bytes.length > 0) bytes[at] = random.pick([0x0d, 0x0a, 0x20, 0x2a, 0x24, 0x2d, 0x30, 0x39, 0x3f]);
    }
  }
  return bytes;
}

/** Cuts a buffer into 1..pieces chunks at random offsets. */
export function randomChunks(random: SeededRandom, bytes: Buffer, pieces: number): Buffer[] {
  const cuts = Array.from({ length: random.below(pieces) }, () => random.below(bytes.length + 1)).sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}
