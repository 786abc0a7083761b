/**
 * Key hashes compatible with twemproxy (nutcracker) `hash:` option, byte for byte.
 *
 * Design note: these are re-implementations written from twemproxy's src/hashkit/*.c, not ports of an
 * npm library. The npm hash packages (fnv-plus, murmurhash, crc-32...) implement the textbook functions,
 * while twemproxy has quirks a compatible sharder must reproduce:
 * - `fnv1_64` / `fnv1a_64` return 32 bits and `fnv1a_64` even computes in 32 bits with the low halves of the
 *   64-bit offset basis and prime, so both are "32-bit FNV with 64-bit constants truncated".
 * - The key is read through a (signed, on x86-64 and most builds) `char`, so bytes >= 0x80 are sign-extended
 *   before they are xor-ed or added (fnv*, one_at_a_time, the last byte of hsieh). ASCII keys are unaffected.
 * - `crc32` returns only bits 16..30 of the CRC (libmemcached compatibility); `crc32a` is the full CRC-32.
 * - `crc16` (XMODEM table) never masks its accumulator to 16 bits, so the result grows beyond 16 bits.
 * - `md5` is the low 32 bits, little endian, of the MD5 digest.
 * All functions take the key bytes and return an unsigned 32-bit integer.
 */
import { createHash } from 'node:crypto';

export const HASH_NAMES = [
  'one_at_a_time',
  'md5',
  'crc16',
  'crc32',
  'crc32a',
  'fnv1_64',
  'fnv1a_64',
  'fnv1_32',
  'fnv1a_32',
  'hsieh',
  'murmur',
  'jenkins',
] as const;

export type HashName = (typeof HASH_NAMES)[number];

/** A key hash: key bytes in, unsigned 32-bit integer out. */
export type KeyHash = (key: Uint8Array) => number;

/** A byte as C reads it through a signed `char`, widened to 32 bits (0x80..0xff become 0xffffff80..). */
function signedCharWidened(byte: number): number {
  return (byte << 24) >> 24;
}

function readUint32LittleEndian(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>>
    0
  );
}

export function md5Digest(key: Uint8Array): Buffer {
  return createHash('md5').update(key).digest();
}

export function hashMd5(key: Uint8Array): number {
  return md5Digest(key).readUInt32LE(0);
}

export function hashOneAtATime(key: Uint8Array): number {
  let value = 0;
  for (let index = 0; index < key.length; index++) {
    value = (value + signedCharWidened(key[index]!)) | 0;
    value = (value + (value << 10)) | 0;
    value ^= value >>> 6;
  }
  value = (value + (value << 3)) | 0;
  value ^= value >>> 11;
  value = (value + (value << 15)) | 0;
  return value >>> 0;
}

const FNV_32_OFFSET_BASIS = 0x811c9dc5;
const FNV_32_PRIME = 0x01000193;
/** Low 32 bits of the 64-bit FNV offset basis 0xcbf29ce484222325 and prime 0x100000001b3. */
const FNV_64_OFFSET_BASIS_LOW = 0x84222325;
const FNV_64_PRIME_LOW = 0x000001b3;

function fnv1(key: Uint8Array, offsetBasis: number, prime: number): number {
  let hash = offsetBasis | 0;
  for (let index = 0; index < key.length; index++) {
    hash = Math.imul(hash, prime);
    hash ^= signedCharWidened(key[index]!);
  }
  return hash >>> 0;
}

function fnv1a(key: Uint8Array, offsetBasis: number, prime: number): number {
  let hash = offsetBasis | 0;
  // Indexed loops: on the per-request path an iterator costs more than the hash.
  for (let index = 0; index < key.length; index++) {
    hash ^= signedCharWidened(key[index]!);
    hash = Math.imul(hash, prime);
  }
  return hash >>> 0;
}

/** twemproxy's fnv1_64 keeps the low 32 bits of a 64-bit FNV-1, which only depend on the low 32 bits. */
export const hashFnv1_64: KeyHash = (key) => fnv1(key, FNV_64_OFFSET_BASIS_LOW, FNV_64_PRIME_LOW);
export const hashFnv1a_64: KeyHash = (key) => fnv1a(key, FNV_64_OFFSET_BASIS_LOW, FNV_64_PRIME_LOW);
export const hashFnv1_32: KeyHash = (key) => fnv1(key, FNV_32_OFFSET_BASIS, FNV_32_PRIME);
export const hashFnv1a_32: KeyHash = (key) => fnv1a(key, FNV_32_OFFSET_BASIS, FNV_32_PRIME);

function buildCrcTable(polynomial: number, reflected: boolean): Uint32Array {
  const table = new Uint32Array(256);
  for (let index = 0; index < 256; index++) {
    let crc: number;
    if (reflected) {
      crc = index;
      for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ polynomial : crc >>> 1;
    } else {
      crc = index << 8;
      for (let bit = 0; bit < 8; bit++)
        crc = crc & 0x8000 ? ((crc << 1) ^ polynomial) & 0xffff : (crc << 1) & 0xffff;
    }
    table[index] = crc >>> 0;
  }
  return table;
}

/** CRC-32 (IEEE, reflected 0xedb88320) and CRC-16/XMODEM (0x1021) tables, the ones twemproxy embeds. */
const CRC32_TABLE = buildCrcTable(0xedb88320, true);
const CRC16_TABLE = buildCrcTable(0x1021, false);

function crc32Register(key: Uint8Array): number {
  let crc = 0xffffffff;
  for (let index = 0; index < key.length; index++)
    crc = (crc >>> 8) ^ CRC32_TABLE[(crc ^ key[index]!) & 0xff]!;
  return crc >>> 0;
}

/** libmemcached-style crc32: bits 16..30 of the CRC-32. */
export function hashCrc32(key: Uint8Array): number {
  return ((~crc32Register(key) >>> 16) & 0x7fff) >>> 0;
}

/** The plain CRC-32 (as zlib computes it). */
export function hashCrc32a(key: Uint8Array): number {
  return ~crc32Register(key) >>> 0;
}

export function hashCrc16(key: Uint8Array): number {
  let crc = 0;
  for (let index = 0; index < key.length; index++)
    crc = (crc << 8) ^ CRC16_TABLE[((crc >>> 8) ^ key[index]!) & 0xff]!;
  return crc >>> 0;
}

/** MurmurHash2 with twemproxy's seed (0xdeadbeef times the length). */
export function hashMurmur(key: Uint8Array): number {
  const mixer = 0x5bd1e995;
  const length = key.length >>> 0;
  let hash = Math.imul(0xdeadbeef, length) ^ length;
  let offset = 0;
  let remaining = key.length;
  while (remaining >= 4) {
    let block = readUint32LittleEndian(key, offset);
    block = Math.imul(block, mixer);
    block ^= block >>> 24;
    block = Math.imul(block, mixer);
    hash = Math.imul(hash, mixer);
    hash ^= block;
    offset += 4;
    remaining -= 4;
  }
  if (remaining === 3) hash ^= key[offset + 2]! << 16;
  if (remaining >= 2) hash ^= key[offset + 1]! << 8;
  if (remaining >= 1) {
    hash ^= key[offset]!;
    hash = Math.imul(hash, mixer);
  }
  hash ^= hash >>> 13;
  hash = Math.imul(hash, mixer);
  hash ^= hash >>> 15;
  return hash >>> 0;
}

/** Paul Hsieh's SuperFastHash. */
export function hashHsieh(key: Uint8Array): number {
  if (key.length === 0) return 0;
  const read16 = (offset: number): number => key[offset]! | (key[offset + 1]! << 8);
  let hash = 0;
  let offset = 0;
  const tailLength = key.length & 3;
  for (let blocks = key.length >>> 2; blocks > 0; blocks--) {
    hash = (hash + read16(offset)) | 0;
    const mixed = (read16(offset + 2) << 11) ^ hash;
    hash = (hash << 16) ^ mixed;
    offset += 4;
    hash = (hash + (hash >>> 11)) | 0;
  }
  if (tailLength === 3) {
    hash = (hash + read16(offset)) | 0;
    hash ^= hash << 16;
    hash ^= signedCharWidened(key[offset + 2]!) << 18;
    hash = (hash + (hash >>> 11)) | 0;
  } else if (tailLength === 2) {
    hash = (hash + read16(offset)) | 0;
    hash ^= hash << 11;
    hash = (hash + (hash >>> 17)) | 0;
  } else if (tailLength === 1) {
    hash = (hash + key[offset]!) | 0;
    hash ^= hash << 10;
    hash = (hash + (hash >>> 1)) | 0;
  }
  hash ^= hash << 3;
  hash = (hash + (hash >>> 5)) | 0;
  hash ^= hash << 4;
  hash = (hash + (hash >>> 17)) | 0;
  hash ^= hash << 25;
  hash = (hash + (hash >>> 6)) | 0;
  return hash >>> 0;
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/** Bob Jenkins' lookup3 hashlittle() with initval 13, little-endian byte order. */
export function hashJenkins(key: Uint8Array): number {
  let a = (0xdeadbeef + key.length + 13) | 0;
  let b = a;
  let c = a;
  let offset = 0;
  let remaining = key.length;
  while (remaining > 12) {
    a = (a + readUint32LittleEndian(key, offset)) | 0;
    b = (b + readUint32LittleEndian(key, offset + 4)) | 0;
    c = (c + readUint32LittleEndian(key, offset + 8)) | 0;
    a = (a - c) | 0;
    a ^= rotateLeft(c, 4);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rotateLeft(a, 6);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rotateLeft(b, 8);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= rotateLeft(c, 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rotateLeft(a, 19);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rotateLeft(b, 4);
    b = (b + a) | 0;
    remaining -= 12;
    offset += 12;
  }
  if (remaining === 0) return c >>> 0;
  // The last 1..12 bytes, little endian, into a (bytes 0..3), b (4..7) and c (8..11).
  const lanes = [0, 0, 0];
  for (let index = 0; index < remaining; index++) {
    const lane = index >>> 2;
    lanes[lane] = (lanes[lane]! + (key[offset + index]! << ((index & 3) * 8))) | 0;
  }
  a = (a + lanes[0]!) | 0;
  b = (b + lanes[1]!) | 0;
  c = (c + lanes[2]!) | 0;
  c ^= b;
  c = (c - rotateLeft(b, 14)) | 0;
  a ^= c;
  a = (a - rotateLeft(c, 11)) | 0;
  b ^= a;
  b = (b - rotateLeft(a, 25)) | 0;
  c ^= b;
  c = (c - rotateLeft(b, 16)) | 0;
  a ^= c;
  a = (a - rotateLeft(c, 4)) | 0;
  b ^= a;
  b = (b - rotateLeft(a, 14)) | 0;
  c ^= b;
  c = (c - rotateLeft(b, 24)) | 0;
  return c >>> 0;
}

export const KEY_HASHES: Readonly<Record<HashName, KeyHash>> = Object.freeze({
  one_at_a_time: hashOneAtATime,
  md5: hashMd5,
  crc16: hashCrc16,
  crc32: hashCrc32,
  crc32a: hashCrc32a,
  fnv1_64: hashFnv1_64,
  fnv1a_64: hashFnv1a_64,
  fnv1_32: hashFnv1_32,
  fnv1a_32: hashFnv1a_32,
  hsieh: hashHsieh,
  murmur: hashMurmur,
  jenkins: hashJenkins,
});

export function isHashName(name: string): name is HashName {
  return (HASH_NAMES as readonly string[]).includes(name);
}
