/**
 * A parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text format, each
 * as its specification reads: every sample line becomes one Sample; HELP/TYPE/UNIT lines are read
 * into family metadata. Hand-written over the string with indexOf/charCodeAt, because it runs on
 * every uncached request.
 *
 * - `format: 'prometheus'` (the default; `text/plain; version=0.0.4` and any other content type):
 *   lenient where 0.0.4 is (blank lines, free `#` comments, tabs and runs of blanks between tokens,
 *   spaces inside `{...}`, a trailing comma, no `# EOF`), strict where it is not.
 * - `format: 'openmetrics'` (`application/openmetrics-text`): the ABNF to the byte (single spaces,
 *   no blank lines, `# EOF` last), the data model's rules on families, metrics and points, and its
 *   reserved names (a leading `_` in family and label names) and `_created` timestamps.
 *
 * Every rejection is a ParseError naming the line and column (1-based, in characters).
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** As written: milliseconds in Prometheus text, seconds in OpenMetrics. */
  timestamp?: number;
}

export interface MetricFamilyInfo {
  type?: string;
  help?: string;
  /** OpenMetrics only. */
  unit?: string;
}

export interface ParsedMetrics {
  samples: Sample[];
  families: Map<string, MetricFamilyInfo>;
}

export type ExpositionFormat = 'prometheus' | 'openmetrics';

export interface ParseOptions {
  /** Which metric names to keep (every line is still validated); default: all. */
  keep?: (name: string) => boolean;
  /** At most this many kept samples; more is a SampleLimitError (bounded memory). */
  maxSamples?: number;
  /** Which grammar: Prometheus text 0.0.4 (default) or OpenMetrics 1.0. See formatOf(). */
  format?: ExpositionFormat;
}

/** The upstream exposes more series than the adapter is allowed to hold. */
export class SampleLimitError extends Error {
  override readonly name = 'SampleLimitError';
  constructor(readonly limit: number) {
    super(`more than ${limit} series of the checked metrics (source.maxSeries)`);
  }
}

export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(
    /** What is wrong, without the position. */
    readonly reason: string,
    readonly line: number,
    readonly column = 1,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
  }
}

/** The grammar a Content-Type announces: `application/openmetrics-text` is OpenMetrics, anything else Prometheus text. */
export function formatOf(contentType: string | undefined): ExpositionFormat {
  const media = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase();
  return media === 'application/openmetrics-text' ? 'openmetrics' : 'prometheus';
}

// A decimal float as the formats write it (OpenMetrics ABNF `realnumber`; Go's ParseFloat
// without its hex and underscore forms). JavaScript's Number() also takes "0x1", "0b1", " 1 ", "".
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY = /^[+-]?inf(?:inity)?$/i;
const INTEGER = /^[+-]?\d+$/;

/** `number` of both formats: a decimal float, [sign] Inf/Infinity or NaN, case-insensitive; else undefined. */
function toNumber(text: string): number | undefined {
  if (DECIMAL.test(text)) return Number(text);
  if (INFINITY.test(text))
    return text.charCodeAt(0) === 45 /* - */ ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (text.length === 3 && text.toLowerCase() === 'nan') return Number.NaN;
  return undefined;
}

const isNameStart = (code: number) =>
  (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95; /* a-z A-Z _ */
const isDigit = (code: number) => code >= 48 && code <= 57;

/** Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Label names: [a-zA-Z_][a-zA-Z0-9_]*. */
function validName(name: string, colons: boolean): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i += 1) {
    const code = name.charCodeAt(i);
    const ok = isNameStart(code) || (i > 0 && isDigit(code)) || (colons && code === 58);
    if (!ok) return false;
  }
  return true;
}

/** UTF-8 code points (a surrogate pair is one). */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) count -= 1;
  }
  return count;
}

const SPACE = 32;
const TAB = 9;
const HASH = 35;
const QUOTE = 34;
const BACKSLASH = 92;
const OPEN = 123;
const CLOSE = 125;
const COMMA = 44;
const EQUALS = 61;
const UNDERSCORE = 95;

const PROMETHEUS_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * The reading of one line: the line, its number, and the position in it. Sample and label parsing
 * shared by both formats; `strict` is the OpenMetrics grammar (single spaces, no trailing comma).
 */
class LineReader {
  line = '';
  lineNumber = 0;
  index = 0;
  /** Where the value, the timestamp and the labels of the last sample started (for later errors). */
  valueIndex = 0;
  timestampIndex = 0;
  /** The last sample's exemplar, if any. */
  exemplarValue: number | undefined;
  exemplarIndex = 0;
  /** The last metric name and the label names by position, reused while lines repeat them. */
  lastName = '';
  readonly labelNames: string[] = [];

  constructor(readonly strict: boolean) {}

  fail(reason: string, index = this.index): never {
    throw new ParseError(reason, this.lineNumber, codePoints(this.line.slice(0, index)) + 1);
  }

  code(): number {
    return this.line.charCodeAt(this.index);
  }

  /** Blanks and tabs (Prometheus text only: OpenMetrics separates with exactly one space). */
  skipBlanks(): void {
    const { line } = this;
    let i = this.index;
    for (;;) {
      const code = line.charCodeAt(i);
      if (code !== SPACE && code !== TAB) break;
      i += 1;
    }
    this.index = i;
  }

  /** The token from here to the next separator (space; tab too in Prometheus text) or the end. */
  token(): string {
    const { line, strict } = this;
    const start = this.index;
    let i = start;
    const length = line.length;
    while (i < length) {
      const code = line.charCodeAt(i);
      if (code === SPACE || (!strict && code === TAB)) break;
      i += 1;
    }
    this.index = i;
    return line.slice(start, i);
  }

  /** `name[{labels}] value [timestamp] [# {labels} value [timestamp]]`, from index 0 (OM) or after blanks. */
  sample(): Sample {
    const { line, strict } = this;
    const length = line.length;
    const start = this.index;
    let name = this.lastName;
    let i = start + name.length;
    const after = line.charCodeAt(i);
    // The same name as the line before (the usual case): no new string, no second validation.
    if (
      name === '' ||
      !(after === OPEN || after === SPACE || after === TAB || i === length) ||
      !line.startsWith(name, start)
    ) {
      i = start;
      while (i < length) {
        const code = line.charCodeAt(i);
        if (code === OPEN || code === SPACE || code === TAB) break;
        i += 1;
      }
      name = line.slice(start, i);
      if (name === '') this.fail('expected a metric name', start);
      if (!validName(name, true)) this.fail(`"${name}" is not a valid metric name`, start);
      this.lastName = name;
    }
    this.index = i;
    const labels: Record<string, string> = Object.create(null);
    if (!strict) this.skipBlanks();
    if (this.code() === OPEN) this.labels(labels);
    if (strict) {
      if (this.code() !== SPACE) this.fail(this.index >= length ? 'expected a value' : 'expected a space');
      this.index += 1;
    } else {
      this.skipBlanks();
    }
    this.valueIndex = this.index;
    const valueText = this.token();
    const value = toNumber(valueText);
    if (value === undefined) this.fail(`"${valueText}" is not a number`, this.valueIndex);
    const sample: Sample = { name, labels, value };
    this.exemplarValue = undefined;
    if (this.separator()) return sample;
    if (this.code() !== HASH) {
      this.timestampIndex = this.index;
      const text = this.token();
      if (strict) {
        if (!DECIMAL.test(text)) this.fail(`timestamp "${text}" is not a number`, this.timestampIndex);
      } else if (!INTEGER.test(text)) {
        this.fail(
          DECIMAL.test(text)
            ? `timestamp "${text}" is not an integer (milliseconds)`
            : `timestamp "${text}" is not a number`,
          this.timestampIndex,
        );
      }
      sample.timestamp = Number(text);
      if (this.separator()) return sample;
      if (this.code() !== HASH) this.fail('expected the end of the line or " # " and an exemplar');
    }
    this.exemplar();
    return sample;
  }

  /** After a token: true at the end of the line; else steps over the separator. */
  separator(): boolean {
    const { line } = this;
    if (this.index >= line.length) return true;
    if (this.strict) {
      // the token ended at a space: a single one, followed by something
      this.index += 1;
      if (this.index >= line.length) this.fail('a space at the end of the line', this.index - 1);
      return false;
    }
    this.skipBlanks();
    return this.index >= line.length;
  }

  /** ` # {labels} value [timestamp]`, at the `#`. */
  exemplar(): void {
    const { line } = this;
    this.exemplarIndex = this.index;
    if (line.charCodeAt(this.index + 1) !== SPACE || line.charCodeAt(this.index + 2) !== OPEN)
      this.fail('an exemplar is " # {labels} value [timestamp]"');
    this.index += 2;
    const labels: Record<string, string> = Object.create(null);
    this.labels(labels);
    let size = 0;
    for (const key in labels) size += codePoints(key) + codePoints(labels[key] as string);
    if (size > 128)
      this.fail(
        `exemplar labels are ${size} characters, more than 128 (names and values)`,
        this.exemplarIndex + 2,
      );
    if (this.code() !== SPACE) this.fail('expected a space and the exemplar value');
    this.index += 1;
    const valueIndex = this.index;
    const valueText = this.token();
    const value = toNumber(valueText);
    if (value === undefined) this.fail(`exemplar value "${valueText}" is not a number`, valueIndex);
    this.exemplarValue = value;
    if (this.separator()) return;
    const timestampIndex = this.index;
    const text = this.token();
    if (!DECIMAL.test(text)) this.fail(`exemplar timestamp "${text}" is not a number`, timestampIndex);
    if (this.strict) {
      if (this.index < line.length) this.fail('expected the end of the line');
    } else if (!this.separator()) {
      this.fail('expected the end of the line');
    }
  }

  /** OpenMetrics: "Label names beginning with underscores are RESERVED and MUST NOT be used". */
  reserved(labelName: string, index: number): never {
    this.fail(`label name "${labelName}" is reserved (OpenMetrics: names beginning with "_")`, index);
  }

  /** `{name="value",...}` at the `{`, into `labels`. */
  labels(labels: Record<string, string>): void {
    const { line, strict } = this;
    const length = line.length;
    this.index += 1;
    if (!strict) this.skipBlanks();
    if (this.code() === CLOSE) {
      this.index += 1;
      return;
    }
    const cache = this.labelNames;
    for (let position = 0; ; position += 1) {
      const nameStart = this.index;
      // The same label name at this position as on an earlier line is already validated; else the
      // fast path: the name runs to the next "=" and is valid as it is.
      const cached = cache[position] ?? '';
      const hit =
        cached !== '' &&
        line.charCodeAt(nameStart + cached.length) === EQUALS &&
        line.startsWith(cached, nameStart);
      let labelName = hit ? cached : line.slice(nameStart, Math.max(nameStart, line.indexOf('=', nameStart)));
      let i = nameStart;
      if (hit || (labelName !== '' && validName(labelName, false))) {
        if (!hit && strict && labelName.charCodeAt(0) === UNDERSCORE) this.reserved(labelName, nameStart);
        if (labelName in labels) this.fail(`label ${labelName} appears twice`, nameStart);
        this.index = nameStart + labelName.length + 1;
        cache[position] = labelName;
      } else {
        while (i < length) {
          const code = line.charCodeAt(i);
          if (
            code === EQUALS ||
            code === SPACE ||
            code === TAB ||
            code === CLOSE ||
            code === COMMA ||
            code === QUOTE
          )
            break;
          i += 1;
        }
        const slowName = line.slice(nameStart, i);
        if (!validName(slowName, false)) {
          this.fail(
            slowName === ''
              ? i >= length
                ? 'unterminated label set'
                : line.charCodeAt(i) === EQUALS
                  ? 'empty label name'
                  : 'expected a label name'
              : `"${slowName}" is not a valid label name`,
            nameStart,
          );
        }
        if (strict && slowName.charCodeAt(0) === UNDERSCORE) this.reserved(slowName, nameStart);
        if (slowName in labels) this.fail(`label ${slowName} appears twice`, nameStart);
        this.index = i;
        if (!strict) this.skipBlanks();
        if (this.code() !== EQUALS) this.fail(`label ${slowName}: expected "="`);
        this.index += 1;
        labelName = slowName;
      }
      if (!strict) this.skipBlanks();
      if (this.code() !== QUOTE) this.fail(`label ${labelName}: expected a quoted value`);
      labels[labelName] = this.quoted(labelName);
      if (!strict) this.skipBlanks();
      const code = this.code();
      if (code === CLOSE) {
        this.index += 1;
        return;
      }
      if (code !== COMMA)
        this.fail(this.index >= length ? 'unterminated label set' : 'expected "," or "}" after a label');
      this.index += 1;
      if (!strict) {
        this.skipBlanks();
        // Prometheus text allows a trailing comma; OpenMetrics does not.
        if (this.code() === CLOSE) {
          this.index += 1;
          return;
        }
      }
    }
  }

  /** A double-quoted label value at the `"`: `\\`, `\"` and `\n` are escapes; another `\x` stays as written. */
  quoted(labelName: string): string {
    const { line } = this;
    const length = line.length;
    let i = this.index + 1;
    // Fast path: no backslash before the closing quote.
    const close = line.indexOf('"', i);
    if (close >= 0) {
      const backslash = line.indexOf('\\', i);
      if (backslash < 0 || backslash > close) {
        this.index = close + 1;
        return line.slice(i, close);
      }
    }
    let value = '';
    let chunkStart = i;
    for (;;) {
      if (i >= length) this.fail(`label ${labelName}: unterminated value`, this.index);
      const code = line.charCodeAt(i);
      if (code === QUOTE) break;
      if (code === BACKSLASH) {
        const next = line.charCodeAt(i + 1);
        if (next === BACKSLASH || next === QUOTE || next === 110 /* n */) {
          value += line.slice(chunkStart, i) + (next === 110 ? '\n' : next === QUOTE ? '"' : '\\');
          i += 2;
          chunkStart = i;
          continue;
        }
      }
      i += 1;
    }
    value += line.slice(chunkStart, i);
    this.index = i + 1;
    return value;
  }
}

/** HELP text: `\\` and `\n` (and in OpenMetrics `\"`) are escapes; another `\x` stays as written. */
function unescapeHelp(text: string, quotes: boolean): string {
  if (!text.includes('\\')) return text;
  let out = '';
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] as string;
    const next = text[i + 1];
    if (char === '\\' && (next === '\\' || next === 'n' || (quotes && next === '"'))) {
      out += next === 'n' ? '\n' : next;
      i += 1;
    } else {
      out += char;
    }
  }
  return out;
}

export function parsePrometheusText(text: string, options: ParseOptions = {}): ParsedMetrics {
  return options.format === 'openmetrics' ? parseOpenMetrics(text, options) : parseTextFormat(text, options);
}

/** Prometheus text format 0.0.4. */
function parseTextFormat(text: string, options: ParseOptions): ParsedMetrics {
  const { keep, maxSamples = Number.POSITIVE_INFINITY } = options;
  const samples: Sample[] = [];
  const families = new Map<string, MetricFamilyInfo>();
  const family = (name: string) => {
    let info = families.get(name);
    if (!info) {
      info = {};
      families.set(name, info);
    }
    return info;
  };
  /** Sample names seen (a TYPE line must come before them). */
  const sampled = new Set<string>();
  const reader = new LineReader(false);
  if (text.charCodeAt(0) === 0xfeff) throw new ParseError('a byte order mark is not allowed', 1, 1);
  let lastName = '';
  /** What the last sample name is: 1 a histogram's _bucket, 2 a summary's quantile, 0 anything else. */
  let lastRole = 0;
  let position = 0;
  let lineNumber = 0;
  const length = text.length;
  while (position < length) {
    let end = text.indexOf('\n', position);
    if (end < 0) end = length;
    lineNumber += 1;
    let line = text.slice(position, end);
    position = end + 1;
    if (line.charCodeAt(line.length - 1) === 13 /* \r */) line = line.slice(0, -1);
    reader.line = line;
    reader.lineNumber = lineNumber;
    reader.index = 0;
    let first = line.charCodeAt(0);
    if (first === SPACE || first === TAB) {
      reader.skipBlanks();
      first = line.charCodeAt(reader.index);
    }
    if (reader.index >= line.length) continue;
    if (first === HASH) {
      reader.index += 1;
      reader.skipBlanks();
      const keywordIndex = reader.index;
      const keyword = reader.token();
      if (keyword === 'EOF' && line.slice(reader.index).trim() === '') break;
      if (keyword !== 'HELP' && keyword !== 'TYPE') continue; // a comment
      reader.skipBlanks();
      if (reader.index >= line.length) continue; // "# HELP" alone is a comment too
      const nameIndex = reader.index;
      const name = reader.token();
      if (!validName(name, true)) reader.fail(`"${name}" is not a valid metric name`, nameIndex);
      reader.skipBlanks();
      const rest = line.slice(reader.index);
      const info = family(name);
      if (keyword === 'HELP') {
        if (info.help !== undefined) reader.fail(`a second HELP line for ${name}`, keywordIndex);
        info.help = unescapeHelp(rest, false);
      } else {
        const type = rest.trimEnd();
        if (!PROMETHEUS_TYPES.has(type))
          reader.fail(
            `"${type}" is not a metric type (counter, gauge, histogram, summary, untyped)`,
            reader.index,
          );
        if (info.type !== undefined) reader.fail(`a second TYPE line for ${name}`, keywordIndex);
        if (sampled.has(name)) reader.fail(`the TYPE line for ${name} comes after its samples`, keywordIndex);
        info.type = type;
        if (name === lastName) lastName = '';
      }
      continue;
    }
    const sample = reader.sample();
    const { name } = sample;
    if (name !== lastName) {
      lastName = name;
      sampled.add(name);
      lastRole = 0;
      if (name.endsWith('_bucket') && families.get(name.slice(0, -7))?.type === 'histogram') lastRole = 1;
      else if (families.get(name)?.type === 'summary') lastRole = 2;
    }
    if (lastRole !== 0) {
      const label = lastRole === 1 ? 'le' : 'quantile';
      const bound = sample.labels[label];
      if (lastRole === 1 && bound === undefined) reader.fail(`a histogram bucket without an "le" label`, 0);
      if (bound !== undefined && toNumber(bound) === undefined)
        reader.fail(`${label}="${bound}" is not a number`, line.indexOf(label));
    }
    if (keep && !keep(name)) continue;
    if (samples.length >= maxSamples) throw new SampleLimitError(maxSamples);
    samples.push(sample);
  }
  return { samples, families };
}

type OmType =
  | 'counter'
  | 'gauge'
  | 'histogram'
  | 'gaugehistogram'
  | 'stateset'
  | 'info'
  | 'summary'
  | 'unknown';

/** A counter point's identity of its _total sample (suffix, NUL, no point label). */
const COUNTER_TOTAL = '_total\u0000';

/** The sample name suffixes of each OpenMetrics type. */
const SUFFIXES: Record<OmType, readonly string[]> = {
  counter: ['_total', '_created'],
  gauge: [''],
  histogram: ['_bucket', '_count', '_sum', '_created'],
  gaugehistogram: ['_bucket', '_gcount', '_gsum'],
  stateset: [''],
  info: ['_info'],
  summary: ['', '_count', '_sum', '_created'],
  unknown: [''],
};

interface Family {
  name: string;
  type: OmType;
  info: MetricFamilyInfo;
  typed: boolean;
  helped: boolean;
  unitSet: boolean;
  unit: string;
  sampled: boolean;
  /** Metrics (label sets) already finished: a metric must not come back. */
  done: Set<string>;
  metric: string | undefined;
  /** Whether the current metric's samples carry timestamps, and the last one. */
  timestamped: boolean;
  lastTimestamp: number;
  point: Point;
}

interface Point {
  /** Sample identities (suffix and le/quantile/state) in this point: a repeat starts the next point. */
  seen: Set<string>;
  lastLine: number;
  lastLe: number;
  lastBucket: number;
  buckets: number;
  inf: number | undefined;
  negative: boolean;
  count: number | undefined;
  sum: number | undefined;
}

const newPoint = (): Point => ({
  seen: new Set(),
  lastLine: 0,
  lastLe: Number.NEGATIVE_INFINITY,
  lastBucket: 0,
  buckets: 0,
  inf: undefined,
  negative: false,
  count: undefined,
  sum: undefined,
});

/** A canonical key for a label set without one label (and without empty values, which mean absent). */
function metricKey(labels: Record<string, string>, without: string): string {
  const names = Object.keys(labels);
  for (let i = 1; i < names.length; i += 1) {
    if ((names[i - 1] as string) > (names[i] as string)) {
      names.sort();
      break;
    }
  }
  let key = '';
  for (const name of names) {
    const value = labels[name] as string;
    if (name === without || value === '') continue;
    key += `${name}=${value.length}:${value},`;
  }
  return key;
}

/** OpenMetrics 1.0 text format. */
function parseOpenMetrics(text: string, options: ParseOptions): ParsedMetrics {
  const { keep, maxSamples = Number.POSITIVE_INFINITY } = options;
  const samples: Sample[] = [];
  const families = new Map<string, MetricFamilyInfo>();
  /** Every family name seen, and which family each possible sample name belongs to. */
  const names = new Set<string>();
  const claimed = new Map<string, string>();
  const reader = new LineReader(true);
  let current: Family | undefined;
  let lineNumber = 0;

  const finishPoint = (family: Family) => {
    const { point } = family;
    if (point.seen.size === 0) return;
    const at = (reason: string): never => {
      throw new ParseError(`${family.type} ${family.name}: ${reason}`, point.lastLine, 1);
    };
    if (family.type === 'histogram' || family.type === 'gaugehistogram') {
      const [count, sum] = family.type === 'histogram' ? ['_count', '_sum'] : ['_gcount', '_gsum'];
      if (point.inf === undefined) at(point.buckets === 0 ? 'no buckets' : 'no le="+Inf" bucket');
      if (point.count !== undefined && point.sum === undefined) at(`${count} without ${sum}`);
      if (point.sum !== undefined && point.count === undefined) at(`${sum} without ${count}`);
      if (point.sum !== undefined && point.sum < 0 && !point.negative)
        at(`${sum} is negative without negative buckets`);
      if (family.type === 'histogram' && point.negative && point.sum !== undefined)
        at('a _sum with negative bucket thresholds');
    } else if (family.type === 'counter' && !point.seen.has(COUNTER_TOTAL)) {
      at(`${family.name}_created without ${family.name}_total (a counter point has a total)`);
    }
    point.seen.clear();
    point.lastLine = 0;
    point.lastLe = Number.NEGATIVE_INFINITY;
    point.lastBucket = 0;
    point.buckets = 0;
    point.inf = undefined;
    point.negative = false;
    point.count = undefined;
    point.sum = undefined;
  };
  const finishFamily = () => {
    if (!current) return;
    finishPoint(current);
    current.done.clear();
    current = undefined;
  };
  const startFamily = (name: string, bySample: boolean): Family => {
    finishFamily();
    if (name.charCodeAt(0) === UNDERSCORE)
      reader.fail(
        `metric family name "${name}" is reserved (OpenMetrics: names beginning with "_")`,
        bySample ? 0 : 7,
      );
    if (names.has(name))
      reader.fail(`metric family ${name} appears again (families must not be interleaved)`, 0);
    const owner = claimed.get(name);
    if (owner !== undefined)
      reader.fail(
        bySample
          ? `${name} belongs to metric family ${owner}, which came earlier (families must not be interleaved)`
          : `${name} clashes with the sample names of metric family ${owner}`,
        0,
      );
    names.add(name);
    claimed.set(name, name);
    const info: MetricFamilyInfo = {};
    families.set(name, info);
    current = {
      name,
      type: 'unknown',
      info,
      typed: false,
      helped: false,
      unitSet: false,
      unit: '',
      sampled: false,
      done: new Set(),
      metric: undefined,
      timestamped: false,
      lastTimestamp: Number.NEGATIVE_INFINITY,
      point: newPoint(),
    };
    return current;
  };

  const metadata = (line: string) => {
    const keyword = line.slice(2, 7);
    if (keyword !== 'HELP ' && keyword !== 'TYPE ' && keyword !== 'UNIT ')
      reader.fail(
        line.startsWith('# EOF')
          ? '"# EOF" must be alone on its line'
          : 'a line starting with # must be "# HELP", "# TYPE", "# UNIT" or "# EOF" (no comments in OpenMetrics)',
      );
    const space = line.indexOf(' ', 7);
    const name = line.slice(7, space < 0 ? line.length : space);
    if (!validName(name, true))
      reader.fail(name === '' ? 'expected a metric name' : `"${name}" is not a valid metric name`, 7);
    if (space < 0) reader.fail(`expected a space and the ${keyword.trim()} value`, line.length);
    const value = line.slice(space + 1);
    const family = current?.name === name ? current : startFamily(name, false);
    if (family.sampled) reader.fail(`${keyword.trim()} for ${name} after its samples`, 2);
    if (keyword === 'TYPE ') {
      if (family.typed) reader.fail(`a second TYPE line for ${name}`, 2);
      if (!Object.hasOwn(SUFFIXES, value))
        reader.fail(
          `"${value}" is not a metric type (counter, gauge, histogram, gaugehistogram, stateset, info, summary, unknown)`,
          space + 1,
        );
      const type = value as OmType;
      for (const suffix of SUFFIXES[type]) {
        const owner = claimed.get(name + suffix);
        if (owner !== undefined && owner !== name)
          reader.fail(`a ${type} ${name} clashes with metric family ${owner} (${name}${suffix})`, 7);
      }
      for (const suffix of SUFFIXES[type]) claimed.set(name + suffix, name);
      if (family.unit !== '' && (type === 'info' || type === 'stateset'))
        reader.fail(`a ${type} must not have a unit`, 2);
      family.typed = true;
      family.type = type;
      family.info.type = type;
    } else if (keyword === 'HELP ') {
      if (family.helped) reader.fail(`a second HELP line for ${name}`, 2);
      family.helped = true;
      if (value !== '') family.info.help = unescapeHelp(value, true);
    } else {
      if (family.unitSet) reader.fail(`a second UNIT line for ${name}`, 2);
      family.unitSet = true;
      for (let i = 0; i < value.length; i += 1) {
        const code = value.charCodeAt(i);
        if (!(isNameStart(code) || isDigit(code) || code === 58))
          reader.fail(`unit "${value}" is not made of metric name characters`, space + 1 + i);
      }
      if (value !== '') {
        if (!name.endsWith(`_${value}`))
          reader.fail(`${name} does not end with _${value}, its unit`, space + 1);
        if (family.type === 'info' || family.type === 'stateset')
          reader.fail(`a ${family.type} must not have a unit`, space + 1);
        family.unit = value;
        family.info.unit = value;
      }
    }
  };

  // The sample being checked, shared by the helpers below (no closures per line).
  let family: Family = undefined as unknown as Family;
  let value = 0;
  let sampleText = '';
  const fail = (reason: string, index = 0): never =>
    reader.fail(`${family.type} ${family.name}: ${reason}`, index);
  const nonNegative = (what: string) => {
    if (Number.isNaN(value)) fail(`${what} must not be NaN`, reader.valueIndex);
    if (value < 0) fail(`${what} must not be negative`, reader.valueIndex);
  };
  const integer = (what: string) => {
    nonNegative(what);
    if (!Number.isInteger(value) && value !== Number.POSITIVE_INFINITY)
      fail(`${what} must be an integer`, reader.valueIndex);
  };
  /** A Created value is a timestamp (seconds since the epoch): a real number. */
  const created = () => {
    if (!Number.isFinite(value))
      fail('_created is a timestamp: a real number, not NaN or Inf', reader.valueIndex);
  };
  const labelAt = (label: string) => Math.max(0, sampleText.indexOf(`${label}=`));

  const sampleLine = (line: string) => {
    reader.index = 0;
    const sample = reader.sample();
    const { name, labels } = sample;
    value = sample.value;
    sampleText = line;
    let suffix: string | undefined;
    if (current) {
      const base = current.name;
      if (name === base) {
        if (SUFFIXES[current.type][0] === '' || current.type === 'summary') suffix = '';
      } else if (name.startsWith(base)) {
        const rest = name.slice(base.length);
        if (SUFFIXES[current.type].includes(rest)) suffix = rest;
      }
    }
    if (suffix === undefined || !current) {
      family = startFamily(name, true);
      suffix = '';
    } else {
      family = current;
    }
    family.sampled = true;
    const { type } = family;
    const valueAt = reader.valueIndex;

    // Exemplars: on a counter's _total and a histogram's buckets only.
    if (reader.exemplarValue !== undefined) {
      const allowed =
        (type === 'counter' && suffix === '_total') ||
        ((type === 'histogram' || type === 'gaugehistogram') && suffix === '_bucket');
      if (!allowed) fail(`an exemplar is not allowed on ${name}`, reader.exemplarIndex);
    }

    // The label that tells a point's samples apart, and the checks of each type.
    let pointLabel = '';
    const histogram = type === 'histogram' || type === 'gaugehistogram';
    if (histogram) {
      if (suffix === '_bucket') pointLabel = 'le';
      else if ('le' in labels) fail(`${name} must not have an "le" label`, labelAt('le'));
    } else if (type === 'summary') {
      if (suffix === '') pointLabel = 'quantile';
      else if ('quantile' in labels) fail(`${name} must not have a "quantile" label`, labelAt('quantile'));
    } else if (type === 'stateset') {
      pointLabel = family.name;
    }
    const pointValue = pointLabel === '' ? '' : labels[pointLabel];
    if (pointValue === undefined) fail(`${name} needs a "${pointLabel}" label`, name.length);

    const key = metricKey(labels, pointLabel);
    if (key !== family.metric) {
      if (family.metric !== undefined) {
        finishPoint(family);
        family.done.add(family.metric);
      }
      if (family.done.has(key))
        fail(`the metric ${name}{${key}} appears again (metrics must not be interleaved)`);
      family.metric = key;
      family.timestamped = sample.timestamp !== undefined;
      family.lastTimestamp = Number.NEGATIVE_INFINITY;
    }
    const { timestamp } = sample;
    if ((timestamp !== undefined) !== family.timestamped)
      fail('either every sample of a metric has a timestamp or none has', reader.timestampIndex);
    if (timestamp !== undefined) {
      if (timestamp < family.lastTimestamp)
        fail('timestamps of a metric must not go back', reader.timestampIndex);
      family.lastTimestamp = timestamp;
    }
    const identity = `${suffix}\u0000${pointValue}`;
    const { point } = family;
    if (point.seen.has(identity)) {
      if (timestamp === undefined) fail(`${name} repeats without a timestamp`);
      finishPoint(family);
    }
    point.seen.add(identity);
    point.lastLine = lineNumber;

    switch (type) {
      case 'counter':
        if (suffix === '_total') nonNegative('a counter total');
        else created();
        break;
      case 'stateset':
        if (value !== 0 && value !== 1) fail('a state must be 0 or 1', valueAt);
        break;
      case 'info':
        if (value !== 1) fail('an info value must be 1', valueAt);
        break;
      case 'summary':
        if (suffix === '') {
          const q = pointValue as string;
          const quantile = DECIMAL.test(q) ? Number(q) : Number.NaN;
          if (!(quantile >= 0 && quantile <= 1))
            fail(`quantile="${q}" is not a number from 0 to 1`, labelAt('quantile'));
          if (value < 0) fail('a quantile value must not be negative', valueAt);
        } else if (suffix === '_count') {
          integer('_count');
        } else if (suffix === '_sum') {
          nonNegative('_sum');
        } else {
          created();
        }
        break;
      case 'histogram':
      case 'gaugehistogram': {
        const count = type === 'histogram' ? '_count' : '_gcount';
        const sum = type === 'histogram' ? '_sum' : '_gsum';
        if (suffix === '_bucket') {
          const le = pointValue as string;
          const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : DECIMAL.test(le) ? Number(le) : Number.NaN;
          if (Number.isNaN(bound)) fail(`le="${le}" is not a number or +Inf`, labelAt('le'));
          if (bound <= point.lastLe) fail(`le="${le}" is not above the bucket before it`, labelAt('le'));
          integer('a bucket');
          if (value < point.lastBucket)
            fail(`buckets must be cumulative: ${value} is less than the bucket before it`, valueAt);
          if (reader.exemplarValue !== undefined && reader.exemplarValue > bound)
            fail(`the exemplar value ${reader.exemplarValue} is above le="${le}"`, reader.exemplarIndex);
          if (bound < 0) {
            point.negative = true;
            if (type === 'histogram' && point.sum !== undefined)
              fail('a _sum with negative bucket thresholds');
          }
          point.lastLe = bound;
          point.lastBucket = value;
          point.buckets += 1;
          if (bound === Number.POSITIVE_INFINITY) {
            point.inf = value;
            if (point.count !== undefined && point.count !== value)
              fail(`${count} ${point.count} differs from the +Inf bucket ${value}`, valueAt);
          }
        } else if (suffix === count) {
          integer(count);
          if (point.inf !== undefined && point.inf !== value)
            fail(`${count} ${value} differs from the +Inf bucket ${point.inf}`, valueAt);
          point.count = value;
        } else if (suffix === sum) {
          if (Number.isNaN(value)) fail(`${sum} must not be NaN`, valueAt);
          if (type === 'histogram') {
            if (value < 0) fail(`${sum} must not be negative`, valueAt);
            if (point.negative) fail('a _sum with negative bucket thresholds', valueAt);
          }
          point.sum = value;
        } else if (suffix === '_created') {
          created();
        }
        break;
      }
      default:
        break;
    }
    if (keep && !keep(name)) return;
    if (samples.length >= maxSamples) throw new SampleLimitError(maxSamples);
    samples.push(sample);
  };

  if (text.charCodeAt(0) === 0xfeff) throw new ParseError('a byte order mark is not allowed', 1, 1);
  let position = 0;
  const length = text.length;
  let ended = false;
  while (position < length) {
    let end = text.indexOf('\n', position);
    if (end < 0) end = length;
    lineNumber += 1;
    const line = text.slice(position, end);
    position = end + 1;
    reader.line = line;
    reader.lineNumber = lineNumber;
    reader.index = 0;
    if (line === '# EOF') {
      if (position < length) throw new ParseError('text after "# EOF"', lineNumber + 1, 1);
      ended = true;
      break;
    }
    if (line.length === 0) reader.fail('a blank line (not allowed in OpenMetrics)');
    if (line.charCodeAt(line.length - 1) === 13)
      reader.fail('a carriage return (lines end with \\n alone)', line.length - 1);
    if (line.charCodeAt(0) === HASH) metadata(line);
    else sampleLine(line);
  }
  if (!ended) {
    const last = text.endsWith('\n') || text === '' ? lineNumber + 1 : lineNumber;
    throw new ParseError('no "# EOF" at the end', last, 1);
  }
  finishFamily();
  return { samples, families };
}
