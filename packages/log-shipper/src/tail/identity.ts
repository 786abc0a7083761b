import { createHash, randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/**
 * A file is known by a fingerprint of its first bytes, so a rename (rotation) keeps its identity
 * and a new file under the old name gets a new one. A file shorter than the fingerprint is known
 * by device+inode until it grows: tiny files are still shipped.
 */
export function inodeKey(dev: number | bigint | string, ino: number | bigint | string): string {
  return `ino:${dev}:${ino}`;
}

/** The first `length` bytes of a file, fewer when it is shorter. */
export async function readHead(handle: FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, 0);
  return buffer.subarray(0, bytesRead);
}

/** The fingerprint key of a file whose first bytes are `head`; undefined while it is shorter than `length`. */
export function fingerprintOf(head: Buffer, length: number): string | undefined {
  if (head.length < length) return undefined;
  return `fp:${createHash('sha256').update(head.subarray(0, length)).digest('hex').slice(0, 24)}`;
}

/**
 * A short prefix for document ids: ids are `${idBase}-${offset in base 36}`. It is stored in the
 * checkpoint before anything of the file is shipped. From a fingerprint it is derived from the
 * content and inode (a lost checkpoint gives the same ids again); from an inode alone it is made
 * unique, because an inode is reused (copytruncate, delete and create) for other content whose
 * ids must not collide with the old ones (409 would count them as delivered).
 */
export function idBaseFor(key: string, dev: string, ino: string): string {
  const seed = key.startsWith('fp:') ? `${key}:${dev}:${ino}` : `${key}:${Date.now()}:${randomUUID()}`;
  return createHash('sha256').update(seed).digest('base64url').slice(0, 16);
}
