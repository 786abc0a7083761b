import { readFileSync, statSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from './errors.js';
import { type Environment, interpolate } from './interpolate.js';
import { closestName, knownKeys } from './suggest.js';

/** Config files larger than this are refused before they are parsed (a config is a few KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** YAML aliases (`*name`) allowed in one file: enough for shared anchors, too few for an alias bomb. */
export const MAX_YAML_ALIASES = 100;

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
    const { size } = statSync(file);
    if (size > MAX_CONFIG_BYTES) {
      throw new ConfigError(
        `${file}: config file is ${size} bytes, more than the limit of ${MAX_CONFIG_BYTES} (1 MiB)`,
        file,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
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
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(
      `${file}: config is more than the limit of ${MAX_CONFIG_BYTES} bytes (1 MiB)`,
      file,
    );
  }
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

  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) ?? {};
  } catch (error) {
    // The yaml library refuses alias expansion beyond maxAliasCount with a ReferenceError.
    if (error instanceof ReferenceError || error instanceof RangeError) {
      throw new ConfigError(
        `${file}: YAML aliases expand too far (more than ${MAX_YAML_ALIASES} uses of *alias): write the values out`,
        file,
      );
    }
    throw error;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;

  interface Located extends ConfigProblem {
    unknownKey: boolean;
    offset: number;
  }
  const located: Located[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const candidates = knownKeys(schema, issue.path);
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        const node = nodeAt(doc.contents, path, true);
        const suggestion = closestName(key, candidates);
        located.push({
          unknownKey: true,
          offset: node?.range?.[0] ?? -1,
          position: position(node?.range?.[0]),
          field: formatPath(path),
          reason: `unknown key "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`,
        });
      }
      continue;
    }
    const { path, text: reason } = explain(issue, input);
    const node = nodeAt(doc.contents, path, false);
    located.push({
      unknownKey: false,
      offset: node?.range?.[0] ?? -1,
      position: position(node?.range?.[0]),
      field: formatPath(path),
      reason,
    });
  }
  // Unknown keys first: a misspelt key often explains the "missing" one reported beside it.
  located.sort((a, b) => Number(b.unknownKey) - Number(a.unknownKey) || a.offset - b.offset);
  if (located.length === 0) throw new ConfigError(`${file}: invalid configuration`, file);
  throw ConfigError.of(
    file,
    located.map(({ position: where, field, reason }) => ({ position: where, field, reason })),
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
