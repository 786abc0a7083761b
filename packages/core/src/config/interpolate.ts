import { ConfigError } from './errors.js';

export type Environment = Readonly<Record<string, string | undefined>>;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
/** How deep `${A:-${B:-...}}` defaults may nest. */
export const MAX_INTERPOLATION_DEPTH = 16;

/**
 * Replaces environment references in one configuration string.
 * Kubernetes hands settings to containers as env vars (and Downward API values), so
 * every string in a config file may refer to them:
 * `${NAME}`, `${NAME:-default}` (default when unset or empty), `${NAME-default}` (when unset);
 * defaults may themselves hold references; `$${` is a literal `${`.
 */
export function interpolate(text: string, env: Environment, where: () => string, nesting = 0): string {
  if (!text.includes('${')) return text;
  if (nesting >= MAX_INTERPOLATION_DEPTH) {
    throw new ConfigError(`${where()}: \${...} defaults nest more than ${MAX_INTERPOLATION_DEPTH} deep`);
  }
  let out = '';
  let index = 0;
  while (index < text.length) {
    const start = text.indexOf('$', index);
    if (start < 0) {
      out += text.slice(index);
      break;
    }
    out += text.slice(index, start);
    if (text.startsWith('$${', start)) {
      out += '${';
      index = start + 3;
      continue;
    }
    if (text[start + 1] !== '{') {
      out += '$';
      index = start + 1;
      continue;
    }
    // Find the matching close brace, allowing nested ${...} in the default.
    let depth = 0;
    let end = -1;
    for (let i = start + 1; i < text.length; i += 1) {
      if (text[i] === '{') depth += 1;
      else if (text[i] === '}') {
        depth -= 1;
        if (depth === 0) {
          end = i;
          break;
        }
      }
    }
    if (end < 0)
      throw new ConfigError(
        `${where()}: unclosed "\${" in "${text.length > 60 ? `${text.slice(0, 57)}...` : text}"`,
      );
    const body = text.slice(start + 2, end);
    const name = NAME.exec(body)?.[0];
    if (!name)
      throw new ConfigError(`${where()}: "\${${body}}" is not a variable reference (expected \${NAME})`);
    const rest = body.slice(name.length);
    const value = env[name];
    if (rest === '') {
      if (value === undefined) {
        throw new ConfigError(
          `${where()}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
        );
      }
      out += value;
    } else if (rest.startsWith(':-')) {
      out +=
        value === undefined || value === '' ? interpolate(rest.slice(2), env, where, nesting + 1) : value;
    } else if (rest.startsWith('-')) {
      out += value === undefined ? interpolate(rest.slice(1), env, where, nesting + 1) : value;
    } else {
      throw new ConfigError(
        `${where()}: "\${${body}}" is not a variable reference (expected \${NAME:-default})`,
      );
    }
    index = end + 1;
  }
  return out;
}
