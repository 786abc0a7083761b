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

export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

function parseValue(text: string, line: number): number {
  switch (text) {
    case '+Inf':
    case 'Inf':
    case '+inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
    case '-inf':
      return Number.NEGATIVE_INFINITY;
    case 'NaN':
    case 'nan':
      return Number.NaN;
  }
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new ParseError(`"${text}" is not a number`, line);
  return value;
}

const SPACE = 32;
const TAB = 9;

export function parsePrometheusText(text: string): ParsedMetrics {
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
    samples.push(parseSampleLine(line, lineNumber));
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
  const labels: Record<string, string> = {};
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
    const timestamp = Number(rest.split(/\s/)[0]);
    if (!Number.isNaN(timestamp)) sample.timestamp = timestamp;
  }
  return sample;
}
