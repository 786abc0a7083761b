/**
 * A JSONPath subset: `$`, `.name`, `['name']`, `[0]`, `.*` and `[*]` (every member of an object
 * or array). Each match carries the key it was reached by (for `{key}` labels).
 */
export type PathSegment =
  | { kind: 'name'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' };

export interface PathMatch {
  value: unknown;
  /** The object key or array index of the last wildcard step (or of the last step). */
  key: string;
  /** Keys of every wildcard step, in order: {key} is the last, {key0}, {key1}... each. */
  wildcardKeys: string[];
}

export class PathError extends Error {
  constructor(
    readonly reason: string,
    readonly column: number,
  ) {
    super(`column ${column}: ${reason}`);
  }
}

export function parsePath(path: string): PathSegment[] {
  if (!path.startsWith('$')) throw new PathError('a path starts with $', 1);
  const segments: PathSegment[] = [];
  let index = 1;
  while (index < path.length) {
    const char = path[index];
    if (char === '.') {
      index += 1;
      if (path[index] === '*') {
        segments.push({ kind: 'wildcard' });
        index += 1;
        continue;
      }
      const name = /^[^.[\]]+/.exec(path.slice(index))?.[0];
      if (!name) throw new PathError('expected a name after "."', index + 1);
      segments.push({ kind: 'name', name });
      index += name.length;
    } else if (char === '[') {
      const close = path.indexOf(']', index);
      if (close < 0) throw new PathError('unclosed [', index + 1);
      const inner = path.slice(index + 1, close).trim();
      if (inner === '*') segments.push({ kind: 'wildcard' });
      else if (/^\d+$/.test(inner)) segments.push({ kind: 'index', index: Number(inner) });
      else if (/^'.*'$|^".*"$/.test(inner)) segments.push({ kind: 'name', name: inner.slice(1, -1) });
      else
        throw new PathError(`expected *, a number or a quoted name inside [], found "${inner}"`, index + 2);
      index = close + 1;
    } else {
      throw new PathError(`expected . or [, found "${char}"`, index + 1);
    }
  }
  return segments;
}

export function select(document: unknown, segments: readonly PathSegment[]): PathMatch[] {
  let current: PathMatch[] = [{ value: document, key: '', wildcardKeys: [] }];
  for (const segment of segments) {
    const next: PathMatch[] = [];
    for (const match of current) {
      const value = match.value;
      if (segment.kind === 'name') {
        if (value !== null && typeof value === 'object' && !Array.isArray(value) && segment.name in value) {
          next.push({ ...match, value: (value as Record<string, unknown>)[segment.name], key: segment.name });
        }
      } else if (segment.kind === 'index') {
        if (Array.isArray(value) && segment.index < value.length) {
          next.push({ ...match, value: value[segment.index], key: String(segment.index) });
        }
      } else if (value !== null && typeof value === 'object') {
        for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
          next.push({ value: member, key, wildcardKeys: [...match.wildcardKeys, key] });
        }
      }
    }
    current = next;
  }
  return current.map((match) => ({ ...match, key: match.wildcardKeys.at(-1) ?? match.key }));
}
