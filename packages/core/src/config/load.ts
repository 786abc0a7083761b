import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors.js';
import { type Environment, interpolate } from './interpolate.js';

type Path = readonly PropertyKey[];

/** Formats a field path the way a user writes it: inputs[0].multiline.start */
export function formatPath(path: Path): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(top level)' : out;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`;
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, path: Path): unknown {
  let current: unknown = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key as string];
  }
  return current;
}

function explain(issue: z.core.$ZodIssue, input: unknown): { path: Path; text: string } {
  const found = valueAt(input, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => `"${k}"`).join(', ');
      return { path: [...issue.path, issue.keys[0] ?? ''], text: `unknown key ${keys}` };
    }
    case 'invalid_type':
      return {
        path: issue.path,
        text:
          found === undefined
            ? `required ${issue.expected} is missing`
            : `expected ${issue.expected}, found ${describe(found)}`,
      };
    case 'invalid_value':
      return {
        path: issue.path,
        text: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${describe(found)}`,
      };
    case 'invalid_union':
      return { path: issue.path, text: `${issue.message}, found ${describe(found)}` };
    case 'too_small':
    case 'too_big':
      return {
        path: issue.path,
        text: `${issue.message.replace(/^Too (small|big): /, '')}, found ${describe(found)}`,
      };
    default:
      return { path: issue.path, text: issue.message };
  }
}

export interface LoadOptions {
  env?: Environment;
}

/**
 * Reads a YAML (or JSON, which is YAML) config file, substitutes ${VAR} references from the
 * environment and validates it. Every failure is a ConfigError naming file, line and field.
 */
export function loadConfigFile<S extends z.ZodType>(
  file: string,
  schema: S,
  options: LoadOptions = {},
): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
    throw new ConfigError(`${file}: cannot read config file: ${reason}`, file);
  }
  return parseConfig(text, schema, { ...options, file });
}

export function parseConfig<S extends z.ZodType>(
  text: string,
  schema: S,
  options: LoadOptions & { file?: string } = {},
): z.output<S> {
  const file = options.file ?? '<config>';
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number | undefined): string => {
    if (offset === undefined) return file;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const message = firstError.message.split('\n')[0] ?? 'invalid YAML';
    throw new ConfigError(`${position(firstError.pos[0])}: invalid YAML: ${message}`, file);
  }

  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const replaced = interpolate(node.value, env, () => position(node.range?.[0]));
      // An unquoted "${PORT}" should become the number 8080, as if the value had been written there.
      if (node.type === 'PLAIN' && replaced.trim() !== '') {
        const reparsed = parseDocument(replaced);
        if (reparsed.errors.length === 0 && isScalar(reparsed.contents)) {
          node.value = reparsed.contents.value;
          return;
        }
      }
      node.value = replaced;
    },
  });

  const input: unknown = doc.toJS() ?? {};
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const [first] = result.error.issues;
  if (!first) throw new ConfigError(`${file}: invalid configuration`, file);
  const { path, text: reason } = explain(first, input);
  const node = nodeAt(doc.contents, path, first.code === 'unrecognized_keys');
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : '';
  throw new ConfigError(
    `${position(node?.range?.[0])}: ${formatPath(path)}: ${reason}${more}`,
    file,
    formatPath(path),
  );
}

function nodeAt(root: Node | null, path: Path, atKey: boolean): Node | undefined {
  let current: Node | null | undefined = root;
  let best: Node | undefined = root ?? undefined;
  for (const [index, key] of path.entries()) {
    const last = index === path.length - 1;
    if (isMap(current)) {
      const pair = current.items.find((item) => isScalar(item.key) && item.key.value === key);
      if (!pair) return best;
      current = pair.value as Node | null;
      // An unknown key is shown at the key itself; a bad value at the value.
      best = (last && atKey) || !current ? (pair.key as Node) : current;
    } else if (isSeq(current) && typeof key === 'number') {
      current = current.items[key] as Node | null;
      if (current) best = current;
    } else {
      return best;
    }
  }
  return best;
}
