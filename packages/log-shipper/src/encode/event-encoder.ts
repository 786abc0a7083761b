import { hostname } from 'node:os';
import type { InputConfig } from '../config.js';
import type { LogEvent } from '../event.js';

// What JSON.stringify escapes in a string: quote, backslash, control characters and surrogates
// (lone ones are escaped; a valid pair only takes the slow path).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

const SURROGATE = /[\ud800-\udfff]/;
/** Half of a UTF-16 pair without its other half: not a character, and not valid in UTF-8. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/**
 * A lone surrogate as JSON.stringify writes it: `\udXXX` (it writes valid pairs as they are),
 * not preceded by an escaped backslash.
 */
const ESCAPED_LONE_SURROGATE = /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g;

/** `text` with each lone surrogate replaced by U+FFFD: documents are valid Unicode (what String.prototype.toWellFormed does). */
export function wellFormed(text: string): string {
  return SURROGATE.test(text) ? text.replace(LONE_SURROGATE, '\ufffd') : text;
}

/** JSON written by JSON.stringify, with the escapes of lone surrogates replaced by U+FFFD. */
function wellFormedJson(json: string): string {
  return json.includes('\\ud') ? json.replace(ESCAPED_LONE_SURROGATE, '$1\ufffd') : json;
}

/**
 * JSON.stringify(text), without the copy for the usual line that has nothing to escape (~10% of
 * the CPU per line). Lone surrogates (a JSON line's `"\ud800"`) become U+FFFD.
 */
function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(wellFormed(text)) : `"${text}"`;
}

const KUBERNETES_ENV: Array<[string, string[]]> = [
  ['POD_NAME', ['pod', 'name']],
  ['POD_NAMESPACE', ['namespace']],
  ['NODE_NAME', ['node', 'name']],
  ['POD_IP', ['pod', 'ip']],
  ['CONTAINER_NAME', ['container', 'name']],
];

function kubernetesMetadata(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const out: Record<string, Record<string, string> | string> = {};
  for (const [variable, [first, second]] of KUBERNETES_ENV) {
    const value = env[variable];
    if (!value || !first) continue;
    if (second) out[first] = { ...((out[first] as Record<string, string>) ?? {}), [second]: value };
    else out[first] = value;
  }
  return Object.keys(out).length ? out : undefined;
}

/** An input's static fields, as values and as `,"service":"web"` serialized once. */
interface StaticFields {
  values: Record<string, unknown>;
  json: string;
}

/**
 * Encodes events into document JSON: the event, the input's static fields and the fields every
 * document of this shipper carries (host, and Kubernetes metadata from the pod's environment).
 * A document is always valid JSON of valid Unicode: control characters (NUL included), quotes and
 * backslashes are escaped, U+2028/U+2029 kept, and lone surrogates replaced by U+FFFD.
 * Events without parsed fields, the usual case, are written by hand from pieces serialized once.
 */
export class EventEncoder {
  readonly #common: Record<string, unknown>;
  /** `,"host":{...}`: the common fields, serialized once. */
  readonly #commonJson: string;
  readonly #staticFields = new Map<InputConfig, StaticFields>();
  readonly #pathJsonCache = new Map<string, string>();

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const kubernetes = kubernetesMetadata(env);
    this.#common = { host: { name: env.HOSTNAME ?? hostname() }, ...(kubernetes ? { kubernetes } : {}) };
    this.#commonJson = `,${JSON.stringify(this.#common).slice(1, -1)}`;
  }

  /** The document of an event read by `input`, at `timestamp` (the event's own time, else when it was read). */
  encode(event: LogEvent, timestamp: string, input: InputConfig): string {
    const staticFields = this.#staticFieldsOf(input);
    const log = `"log":{"file":{"path":${this.#pathJson(event.path)}},"offset":${event.offset}${event.flags ? `,"flags":${JSON.stringify(event.flags)}` : ''}}`;
    const head = `{"@timestamp":"${timestamp}","message":${jsonString(event.message)},${log}${this.#commonJson}${staticFields.json}`;
    if (!event.fields) return `${head}}`;
    // Parsed fields first, so the static fields and the shipper's own win over same-named ones from the line.
    const logField: Record<string, unknown> = { file: { path: event.path }, offset: event.offset };
    if (event.flags) logField['flags'] = event.flags;
    return wellFormedJson(
      JSON.stringify({
        ...event.fields,
        ...staticFields.values,
        '@timestamp': timestamp,
        message: event.message,
        log: logField,
        ...this.#common,
      }),
    );
  }

  #staticFieldsOf(input: InputConfig): StaticFields {
    let fields = this.#staticFields.get(input);
    if (fields === undefined) {
      const json = Object.entries(input.fields)
        .map(
          ([key, value]) =>
            `,${wellFormedJson(JSON.stringify(key))}:${wellFormedJson(JSON.stringify(value))}`,
        )
        .join('');
      fields = { values: input.fields, json };
      this.#staticFields.set(input, fields);
    }
    return fields;
  }

  /** JSON of a path, memoized: every event of a file repeats it. */
  #pathJson(path: string): string {
    let json = this.#pathJsonCache.get(path);
    if (json === undefined) {
      if (this.#pathJsonCache.size >= 1024) this.#pathJsonCache.clear();
      json = wellFormedJson(JSON.stringify(path));
      this.#pathJsonCache.set(path, json);
    }
    return json;
  }
}
