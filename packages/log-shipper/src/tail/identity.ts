import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/**
 * A file is known by a fingerprint of its first bytes, so a rename (rotation) keeps its identity
 * and a new file under the old name gets a new one. A file shorter than the fingerprint is known
 * by device+inode until it grows: tiny files are still shipped.
 */
export function inodeKey(dev: number | bigint | string, ino: number | bigint | string): string {
  return `ino:${dev}:${ino}`;
}

export async function fingerprintKey(
  handle: FileHandle,
  size: number,
  length: number,
): Promise<string | undefined> {
  if (size < length) return undefined;
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, 0);
  if (bytesRead < length) return undefined;
  return `fp:${createHash('sha256').update(buffer).digest('hex').slice(0, 24)}`;
}

/** A short, stable prefix for document ids: ids are `${idBase}-${offset in base 36}`. */
export function idBaseFor(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 16);
}
