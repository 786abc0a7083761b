import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ExpositionFormat,
  type MetricFamilyInfo,
  ParseError,
  parsePrometheusText,
  type Sample,
  SampleLimitError,
} from '../src/index.js';

// Random metric families, written out by a serializer of our own (each format as its spec
// writes it), parsed back, and compared; then random mutations of such texts, which must parse or
// fail with a ParseError/SampleLimitError, nothing else. Fixed seeds, bounded runs.

type Kind =
  | 'gauge'
  | 'counter'
  | 'untyped'
  | 'histogram'
  | 'summary'
  | 'stateset'
  | 'info'
  | 'gaugehistogram';

interface Family {
  name: string;
  kind: Kind;
  help: string | undefined;
  unit: boolean;
  metrics: Array<{ labels: Record<string, string>; values: number[]; timestamp: number | undefined }>;
}

// No leading underscore: OpenMetrics reserves those (parser.test.ts and openmetrics.test.ts cover them).
const LABEL_NAMES = ['a', 'b', 'job', 'instance', 'x_1', 'y_', 'Zz'];
const labelValue = fc
  .oneof(
    fc.string({ maxLength: 6 }),
    fc.string({
      unit: fc.constantFrom('"', '\\', '\n', 'n', '#', ' ', '}', '{', ',', '=', '\u0000', 'é', '☃'),
    }),
  )
  .filter((value) => value !== '');
const labelSet = fc.dictionary(fc.constantFrom(...LABEL_NAMES), labelValue, { maxKeys: 3 });
const anyDouble = fc.double().map((v) => (v === 0 ? 0 : v));
const nonNegative = fc.double({ min: 0, noNaN: true }).map((v) => (v === 0 ? 0 : v));
const count = fc.nat({ max: 1_000_000 });

const familyBase = (kinds: Kind[]) =>
  fc.record({
    kind: fc.constantFrom(...kinds),
    suffix: fc.stringMatching(/^[a-z_]{0,4}$/),
    help: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    unit: fc.boolean(),
    labelSets: fc.uniqueArray(labelSet, { maxLength: 3, selector: (labels) => JSON.stringify(labels) }),
    values: fc.array(anyDouble, { minLength: 12, maxLength: 12 }),
    positives: fc.array(nonNegative, { minLength: 12, maxLength: 12 }),
    counts: fc.array(count, { minLength: 12, maxLength: 12 }),
    timestamp: fc.option(fc.integer({ min: -1e12, max: 1e13 }), { nil: undefined }),
  });
type FamilyBase = typeof familyBase extends (kinds: Kind[]) => fc.Arbitrary<infer T> ? T : never;

function toFamily(
  { kind, suffix, help, unit, labelSets, values, positives, counts, timestamp }: FamilyBase,
  index: number,
): Family {
  const hasUnit = unit && kind !== 'stateset' && kind !== 'info' && kind !== 'untyped';
  const name = `f${index}${suffix}${hasUnit ? '_seconds' : ''}`;
  const metrics = labelSets.map((labels, m) => {
    const pick = (list: number[], i: number) => list[(m * 5 + i) % list.length] as number;
    const vs =
      kind === 'gauge' || kind === 'untyped'
        ? [pick(values, 0)]
        : kind === 'counter'
          ? [pick(positives, 0)]
          : kind === 'stateset'
            ? [pick(counts, 0) % 2, pick(counts, 1) % 2]
            : kind === 'info'
              ? [1]
              : kind === 'summary'
                ? [pick(counts, 0), pick(positives, 1), pick(positives, 2), pick(positives, 3)]
                : // buckets at 0.5, 1, 2.5, +Inf: cumulative counts, then the sum
                  [pick(counts, 0), pick(counts, 1), pick(counts, 2), pick(counts, 3)]
                    .map((_, i, all) => all.slice(0, i + 1).reduce((a, b) => a + b, 0))
                    .concat(pick(positives, 4));
    return { labels, values: vs, timestamp: kind === 'gauge' ? timestamp : undefined };
  });
  return { name, kind, help, unit: hasUnit, metrics };
}

const families = (kinds: Kind[]) =>
  fc.array(familyBase(kinds), { maxLength: 5 }).map((list) => list.map(toFamily));

const number = (v: number) =>
  Number.isNaN(v)
    ? 'NaN'
    : v === Number.POSITIVE_INFINITY
      ? '+Inf'
      : v === Number.NEGATIVE_INFINITY
        ? '-Inf'
        : String(v);
const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** A tiny deterministic generator for the Prometheus-text whitespace noise. */
function noise(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state >>> 16;
  };
  return {
    blank: () => [' ', ' ', '\t', '  ', ' \t '][next() % 5] as string,
    inner: () => ['', '', ' ', '\t'][next() % 4] as string,
    extraLine: () => ['', '', '', '\n', '# a free comment\n', '   \n', '#\n'][next() % 7] as string,
  };
}

/** Writes `families` in one format; returns the text and the samples and families a parser must read. */
function serialize(list: Family[], format: ExpositionFormat, seed: number) {
  const om = format === 'openmetrics';
  const n = noise(seed);
  const sp = () => (om ? ' ' : n.blank());
  const inner = () => (om ? '' : n.inner());
  const samples: Sample[] = [];
  const infos = new Map<string, MetricFamilyInfo>();
  let text = '';
  const line = (content: string) => {
    text += `${om ? '' : n.extraLine()}${content}\n`;
  };
  const sample = (name: string, labels: Record<string, string>, value: number, timestamp?: number) => {
    const entries = Object.entries(labels);
    const body = entries
      .map(([k, v]) => `${inner()}${k}${inner()}=${inner()}"${escapeLabel(v)}"${inner()}`)
      .join(',');
    const set = entries.length === 0 && seed % 3 !== 0 ? '' : `${om ? '' : inner()}{${body}}`;
    const ts = timestamp === undefined ? '' : `${sp()}${om ? timestamp / 1000 : timestamp}`;
    line(`${name}${set}${sp()}${number(value)}${ts}`);
    const parsed: Sample = { name, labels: { ...labels }, value };
    if (timestamp !== undefined) parsed.timestamp = om ? timestamp / 1000 : timestamp;
    samples.push(parsed);
  };
  for (const family of list) {
    const type = om ? (family.kind === 'untyped' ? 'unknown' : family.kind) : family.kind;
    const info: MetricFamilyInfo = { type };
    line(`# TYPE ${family.name} ${type}`);
    if (om && family.unit) {
      line(`# UNIT ${family.name} seconds`);
      info.unit = 'seconds';
    }
    if (family.help !== undefined) {
      const help = om
        ? family.help.replace(/\r/g, '')
        : family.help.replace(/\r/g, '').replace(/^[ \t]+/, '');
      const escaped = help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
      line(`# HELP ${family.name} ${om ? escaped.replace(/"/g, '\\"') : escaped}`);
      if (!om || help !== '') info.help = help;
    }
    infos.set(family.name, info);
    for (const { labels, values, timestamp } of family.metrics) {
      const v = (i: number) => values[i] as number;
      switch (family.kind) {
        case 'gauge':
        case 'untyped':
          sample(family.name, labels, v(0), timestamp);
          break;
        case 'counter':
          sample(om ? `${family.name}_total` : family.name, labels, v(0));
          break;
        case 'stateset':
          sample(family.name, { ...labels, [family.name]: 'on' }, v(0));
          sample(family.name, { ...labels, [family.name]: 'off' }, v(1));
          break;
        case 'info':
          sample(`${family.name}_info`, labels, 1);
          break;
        case 'summary':
          sample(family.name, { ...labels, quantile: '0.5' }, v(1));
          sample(family.name, { ...labels, quantile: '0.99' }, v(2));
          sample(`${family.name}_sum`, labels, v(3));
          sample(`${family.name}_count`, labels, v(0));
          break;
        default: {
          const gauge = family.kind === 'gaugehistogram';
          ['0.5', '1.0', '2.5', '+Inf'].forEach((le, i) => {
            sample(`${family.name}_bucket`, { ...labels, le }, v(i));
          });
          sample(`${family.name}${gauge ? '_gcount' : '_count'}`, labels, v(3));
          sample(`${family.name}${gauge ? '_gsum' : '_sum'}`, labels, v(4));
        }
      }
    }
  }
  if (om) text += '# EOF\n';
  return { text, samples, infos };
}

const PROMETHEUS_KINDS: Kind[] = ['gauge', 'counter', 'untyped', 'histogram', 'summary'];
const OPENMETRICS_KINDS: Kind[] = [...PROMETHEUS_KINDS, 'stateset', 'info', 'gaugehistogram'];

describe('parser properties', () => {
  for (const [format, kinds, seed] of [
    ['prometheus', PROMETHEUS_KINDS, 20_240_401],
    ['openmetrics', OPENMETRICS_KINDS, 20_240_402],
  ] as const) {
    it(`${format}: serialize random metric families, parse, get the same samples and metadata`, () => {
      fc.assert(
        fc.property(families(kinds), fc.nat(), (list, noiseSeed) => {
          const { text, samples, infos } = serialize(list, format, noiseSeed);
          const parsed = parsePrometheusText(text, { format });
          expect(parsed.samples).toEqual(samples);
          expect(parsed.families).toEqual(infos);
        }),
        { seed, numRuns: 2_000 },
      );
    });
  }

  const mutation = fc.oneof(
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }),
    fc.record({
      op: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.string({
        unit: fc.constantFrom(
          '{',
          '}',
          '"',
          '\\',
          ' ',
          '\n',
          '#',
          '=',
          ',',
          '\t',
          '\r',
          'e',
          '+',
          '-',
          '.',
          '0',
          '1',
          'a',
          '_',
          ':',
          '\u0000',
          'é',
          'I',
          'N',
        ),
        minLength: 1,
        maxLength: 3,
      }),
    }),
    fc.record({ op: fc.constant('duplicateLine' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('swapLines' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

  function mutate(text: string, m: Mutation): string {
    const at = text.length === 0 ? 0 : m.at % (text.length + 1);
    switch (m.op) {
      case 'delete':
        return text.slice(0, at) + text.slice(at + m.length);
      case 'insert':
        return text.slice(0, at) + m.text + text.slice(at);
      case 'truncate':
        return text.slice(0, at);
      default: {
        const lines = text.split('\n');
        const i = m.at % lines.length;
        if (m.op === 'duplicateLine') lines.splice(i, 0, lines[i] as string);
        else if (i + 1 < lines.length)
          [lines[i], lines[i + 1]] = [lines[i + 1] as string, lines[i] as string];
        return lines.join('\n');
      }
    }
  }

  it('random mutations of valid input parse or fail with a ParseError (line, column) or SampleLimitError only', () => {
    fc.assert(
      fc.property(
        families(OPENMETRICS_KINDS),
        fc.constantFrom<ExpositionFormat>('prometheus', 'openmetrics'),
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
        (list, format, noiseSeed, mutations, maxSamples) => {
          const valid = serialize(list, format, noiseSeed).text;
          const text = mutations.reduce(mutate, valid);
          for (const mode of ['prometheus', 'openmetrics'] as const) {
            try {
              parsePrometheusText(text, {
                format: mode,
                ...(maxSamples === undefined ? {} : { maxSamples }),
                keep: (name) => name.length % 2 === 0,
              });
            } catch (error) {
              if (error instanceof SampleLimitError) continue;
              expect(error).toBeInstanceOf(ParseError);
              const { line, column, message } = error as ParseError;
              expect(line).toBeGreaterThanOrEqual(1);
              expect(line).toBeLessThanOrEqual(text.split('\n').length + 1);
              expect(column).toBeGreaterThanOrEqual(1);
              expect(message).toMatch(/^line \d+, column \d+: \S/);
            }
          }
        },
      ),
      { seed: 20_240_403, numRuns: 2_000 },
    );
  });
});
