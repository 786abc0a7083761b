/**
 * A parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0: every sample line
 * becomes one Sample; HELP/TYPE/UNIT lines are read into family metadata; `# EOF` ends the input.
 * Hand-written over the string with indexOf/charCodeAt, because it runs on every uncached request.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface MetricFamilyInfo {
  type?: string;
  help?: string;
}

export interface ParsedMetrics {
  samples: Sample[];
  families: Map<string, MetricFamilyInfo>;
}

export interface ParseOptions {
  /** Which metric names to keep (every line is still validated); default: all. */
  keep?: (name: string) => boolean;
  /** At most this many kept samples; more is a SampleLimitError (bounded memory). */
  maxSamples?: number;
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
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

// A decimal float as the formats write it (OpenMetrics ABNF `realnumber`; Go's ParseFloat
// without its hex and underscore forms). JavaScript's Number() also takes "0x1", "0b1", " 1 ", "".
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY = /^[+-]?inf(?:inity)?$/i;

function parseValue(text: string, line: number): number {
  if (DECIMAL.test(text)) return Number(text);
  if (INFINITY.test(text))
    return text.charCodeAt(0) === 45 /* - */ ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (text.toLowerCase() === 'nan') return Number.NaN;
  throw new ParseError(`"${text}" is not a number`, line);
}

const isNameStart = (code: number) =>
  (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95; /* a-z A-Z _ */
const isNameChar = (code: number) => isNameStart(code) || (code >= 48 && code <= 57);

/** Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Label names: [a-zA-Z_][a-zA-Z0-9_]*. */
function validName(name: string, colons: boolean): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i += 1) {
    const code = name.charCodeAt(i);
    const ok = i === 0 ? isNameStart(code) : isNameChar(code);
    if (!ok && !(colons && code === 58)) return false;
  }
  return true;
}

const SPACE = 32;
const TAB = 9;

export function parsePrometheusText(text: string, options: ParseOptions = {}): ParsedMetrics {
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
  let position = 0;
  let lineNumber = 0;
  const length = text.length;
  while (position < length) {
    let end = text.indexOf('\n', position);
    if (end < 0) end = length;
    lineNumber += 1;
    let line = text.slice(position, end);
    position = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0) continue;
    if (line.charCodeAt(0) === 35 /* # */) {
      if (line === '# EOF') break;
      const parts = /^#\s+(HELP|TYPE|UNIT)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (parts) {
        const info = family(parts[2] as string);
        if (parts[1] === 'TYPE') info.type = parts[3];
        else if (parts[1] === 'HELP') info.help = parts[3] ?? '';
      }
      continue;
    }
    const sample = parseSampleLine(line, lineNumber);
    if (keep && !keep(sample.name)) continue;
    if (samples.length >= maxSamples) throw new SampleLimitError(maxSamples);
    samples.push(sample);
  }
  return { samples, families };
}

function parseSampleLine(line: string, lineNumber: number): Sample {
  let index = 0;
  const length = line.length;
  while (index < length) {
    const code = line.charCodeAt(index);
    if (code === 123 /* { */ || code === SPACE || code === TAB) break;
    index += 1;
  }
  const name = line.slice(0, index);
  if (name === '') throw new ParseError('expected a metric name', lineNumber);
  if (!validName(name, true)) throw new ParseError(`"${name}" is not a valid metric name`, lineNumber);
  const labels: Record<string, string> = Object.create(null);
  if (line.charCodeAt(index) === 123) {
    index += 1;
    for (;;) {
      while (line.charCodeAt(index) === SPACE) index += 1;
      if (line.charCodeAt(index) === 125 /* } */) {
        index += 1;
        break;
      }
      const equals = line.indexOf('=', index);
      if (equals < 0) throw new ParseError(`unterminated label set in "${line}"`, lineNumber);
      const labelName = line.slice(index, equals).trim();
      if (!validName(labelName, false)) {
        throw new ParseError(
          labelName === '' ? 'empty label name' : `"${labelName}" is not a valid label name`,
          lineNumber,
        );
      }
      if (labelName in labels) throw new ParseError(`label ${labelName} appears twice`, lineNumber);
      index = equals + 1;
      if (line.charCodeAt(index) !== 34 /* " */)
        throw new ParseError(`label ${labelName}: expected a quoted value`, lineNumber);
      index += 1;
      let value = '';
      let chunkStart = index;
      for (;;) {
        if (index >= length) throw new ParseError(`label ${labelName}: unterminated value`, lineNumber);
        const code = line.charCodeAt(index);
        if (code === 34) break;
        if (code === 92 /* \ */) {
          value += line.slice(chunkStart, index);
          const next = line[index + 1];
          value += next === 'n' ? '\n' : next === undefined ? '' : next;
          index += 2;
          chunkStart = index;
          continue;
        }
        index += 1;
      }
      value += line.slice(chunkStart, index);
      labels[labelName] = value;
      index += 1;
      while (line.charCodeAt(index) === SPACE) index += 1;
      if (line.charCodeAt(index) === 44 /* , */) index += 1;
    }
  }
  while (line.charCodeAt(index) === SPACE || line.charCodeAt(index) === TAB) index += 1;
  let valueEnd = index;
  while (valueEnd < length && line.charCodeAt(valueEnd) !== SPACE && line.charCodeAt(valueEnd) !== TAB)
    valueEnd += 1;
  const value = parseValue(line.slice(index, valueEnd), lineNumber);
  const sample: Sample = { name, labels, value };
  // Timestamp, then (OpenMetrics) an exemplar after " # ": the timestamp is kept, the exemplar skipped.
  const rest = line.slice(valueEnd).trim();
  if (rest !== '' && !rest.startsWith('#')) {
    const text = rest.split(/\s/)[0] ?? '';
    if (!DECIMAL.test(text)) throw new ParseError(`timestamp "${text}" is not a number`, lineNumber);
    sample.timestamp = Number(text);
  }
  return sample;
}
