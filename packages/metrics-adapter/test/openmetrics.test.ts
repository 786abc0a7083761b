import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatOf, ParseError, parsePrometheusText, SampleLimitError } from '../src/index.js';

interface Case {
  name: string;
  shouldParse: boolean;
  comment?: string;
  metrics: string;
}
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/openmetrics/parsers.json', import.meta.url), 'utf8'),
) as { commit: string; license: string; cases: Case[] };

const om = (text: string) => parsePrometheusText(text, { format: 'openmetrics' });
/** The ParseError message of `text` in OpenMetrics, or "parsed". */
const outcome = (text: string) => {
  try {
    om(text);
    return 'parsed';
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    return error.message;
  }
};

describe('OpenMetrics: the published parser test cases', () => {
  it('has all 211 cases of the vendored commit', () => {
    expect(fixture.cases).toHaveLength(211);
    expect(fixture.license).toBe('Apache-2.0');
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    if (c.shouldParse) {
      expect(() => om(c.metrics)).not.toThrow();
    } else {
      expect(() => om(c.metrics)).toThrow(ParseError);
      expect(outcome(c.metrics)).toMatch(/^line \d+, column \d+: /);
    }
  });
});

describe('OpenMetrics: our own cases', () => {
  it('is chosen by the Content-Type', () => {
    expect(formatOf('application/openmetrics-text; version=1.0.0; charset=utf-8')).toBe('openmetrics');
    expect(formatOf('Application/OpenMetrics-Text')).toBe('openmetrics');
    expect(formatOf('text/plain; version=0.0.4; charset=utf-8')).toBe('prometheus');
    expect(formatOf('application/json')).toBe('prometheus');
    expect(formatOf('')).toBe('prometheus');
    expect(formatOf(undefined)).toBe('prometheus');
  });

  it('reads families with their metadata, unescaped, and samples with timestamps in seconds', () => {
    const { samples, families } = om(
      [
        '# TYPE req_seconds histogram',
        '# UNIT req_seconds seconds',
        '# HELP req_seconds Latency \\"quoted\\" \\\\ \\n next',
        'req_seconds_bucket{le="0.1",path="/a\\"b"} 1 # {trace_id="x"} 0.05 1700000000.5',
        'req_seconds_bucket{le="+Inf",path="/a\\"b"} 2',
        'req_seconds_count{path="/a\\"b"} 2',
        'req_seconds_sum{path="/a\\"b"} 0.3',
        'req_seconds_created{path="/a\\"b"} 1700000000',
        '# TYPE up gauge',
        'up 1 1700000000.25',
        '# EOF',
      ].join('\n'),
    );
    expect(families.get('req_seconds')).toEqual({
      type: 'histogram',
      unit: 'seconds',
      help: 'Latency "quoted" \\ \n next',
    });
    expect(samples[0]).toEqual({ name: 'req_seconds_bucket', labels: { le: '0.1', path: '/a"b' }, value: 1 });
    expect(samples.at(-1)).toEqual({ name: 'up', labels: {}, value: 1, timestamp: 1700000000.25 });
  });

  it.each([
    ['no # EOF', 'a 1\n', 'line 2, column 1: no "# EOF" at the end'],
    ['a blank line', 'a 1\n\n# EOF\n', 'line 2, column 1: a blank line'],
    ['a carriage return', 'a 1\r\n# EOF\n', 'line 1, column 4: a carriage return'],
    ['CRLF after metadata', '# HELP a x\r\n# EOF\n', 'line 1, column 11: a carriage return'],
    ['two spaces', 'a  1\n# EOF\n', 'line 1, column 3: "" is not a number'],
    ['a tab', 'a\t1\n# EOF\n', 'line 1, column 2: expected a space'],
    ['a free comment', '# hello\n# EOF\n', 'line 1, column 1: a line starting with #'],
    ['a trailing comma', 'a{b="c",} 1\n# EOF\n', 'line 1, column 9: expected a label name'],
    [
      'a counter without _total',
      '# TYPE a counter\na 1\n# EOF\n',
      'line 2, column 1: metric family a appears again',
    ],
    ['interleaved families', 'a 1\nb 1\na 2\n# EOF\n', 'line 3, column 1: metric family a appears again'],
    [
      'interleaved metrics',
      '# TYPE a gauge\na{x="1"} 1\na{x="2"} 1\na{x="1"} 2\n# EOF\n',
      'line 4, column 1: gauge a: the metric a{x=1:1,} appears again',
    ],
    ['a repeated sample without timestamps', 'a 1\na 2\n# EOF\n', 'line 2, column 1: unknown a: a repeats'],
    ['HELP after samples', 'a 1\n# HELP a x\n# EOF\n', 'line 2, column 3: HELP for a after its samples'],
    [
      'an exemplar on a gauge',
      'a 1 # {} 1\n# EOF\n',
      'line 1, column 5: unknown a: an exemplar is not allowed',
    ],
    [
      'an exemplar above its bucket',
      '# TYPE a histogram\na_bucket{le="1"} 1 # {} 2\na_bucket{le="+Inf"} 1\n# EOF\n',
      'line 2, column 20: histogram a: the exemplar value 2 is above le="1"',
    ],
    [
      'a histogram without +Inf',
      '# TYPE a histogram\na_bucket{le="1"} 1\n# EOF\n',
      'line 2, column 1: histogram a: no le="+Inf" bucket',
    ],
    [
      'a fractional bucket count',
      '# TYPE a histogram\na_bucket{le="+Inf"} 1.5\n# EOF\n',
      'line 2, column 21: histogram a: a bucket must be an integer',
    ],
    [
      'le on a histogram _count',
      '# TYPE a histogram\na_count{le="1"} 1\n# EOF\n',
      'line 2, column 9: histogram a: a_count must not have an "le" label',
    ],
    [
      'a unit on an info',
      '# UNIT a_u u\n# TYPE a_u info\n# EOF\n',
      'line 2, column 3: a info must not have a unit',
    ],
    ['a byte order mark', '\ufeffa 1\n# EOF\n', 'line 1, column 1: a byte order mark'],
    ['a column counted in characters', 'a{b="☃☃"} x\n# EOF\n', 'line 1, column 11: "x" is not a number'],
  ])('rejects %s', (_name, text, message) => {
    expect(outcome(text)).toContain(message);
  });

  const RESERVED = '(OpenMetrics: names beginning with "_")';
  const NOT_REAL = '_created is a timestamp: a real number, not NaN or Inf';
  it.each([
    [
      'a label name with a leading _',
      'a{_a="1"} 1\n# EOF\n',
      `line 1, column 3: label name "_a" is reserved ${RESERVED}`,
    ],
    [
      'a __ label name after another label',
      'a{b="1",__name__="x"} 1\n# EOF\n',
      `line 1, column 9: label name "__name__" is reserved ${RESERVED}`,
    ],
    [
      'a reserved label name on a later line',
      'a{x="1"} 1\na{_x="2"} 1\n# EOF\n',
      `line 2, column 3: label name "_x" is reserved ${RESERVED}`,
    ],
    [
      'a reserved exemplar label name',
      '# TYPE a counter\na_total 1 # {_t="x"} 1\n# EOF\n',
      `line 2, column 14: label name "_t" is reserved ${RESERVED}`,
    ],
    [
      'a reserved family name in TYPE',
      '# TYPE _a gauge\n# EOF\n',
      `line 1, column 8: metric family name "_a" is reserved ${RESERVED}`,
    ],
    [
      'a reserved family name in HELP',
      '# HELP __a x\n# EOF\n',
      `line 1, column 8: metric family name "__a" is reserved ${RESERVED}`,
    ],
    [
      'a reserved family name in UNIT',
      '# UNIT _a_s s\n# EOF\n',
      `line 1, column 8: metric family name "_a_s" is reserved ${RESERVED}`,
    ],
    [
      'a reserved family name started by a sample',
      '_a 1\n# EOF\n',
      `line 1, column 1: metric family name "_a" is reserved ${RESERVED}`,
    ],
    [
      'a counter _created of NaN',
      '# TYPE a counter\na_total 1\na_created NaN\n# EOF\n',
      `line 3, column 11: counter a: ${NOT_REAL}`,
    ],
    [
      'a histogram _created of +Inf',
      '# TYPE a histogram\na_bucket{le="+Inf"} 1\na_count 1\na_sum 1\na_created +Inf\n# EOF\n',
      `line 5, column 11: histogram a: ${NOT_REAL}`,
    ],
    [
      'a summary _created of -Inf',
      '# TYPE a summary\na_count 1\na_sum 1\na_created{x="y"} -Inf\n# EOF\n',
      `line 4, column 18: summary a: ${NOT_REAL}`,
    ],
    [
      'a counter _created without its _total',
      '# TYPE a counter\na_created 1\n# EOF\n',
      'line 2, column 1: counter a: a_created without a_total (a counter point has a total)',
    ],
    [
      'a counter metric with only _created, before another metric',
      '# TYPE a counter\na_created{x="1"} 1\na_total{x="2"} 1\n# EOF\n',
      'line 2, column 1: counter a: a_created without a_total (a counter point has a total)',
    ],
    [
      'an exemplar on _created',
      '# TYPE a counter\na_total 1\na_created 1 # {} 1\n# EOF\n',
      'line 3, column 13: counter a: an exemplar is not allowed on a_created',
    ],
    [
      'le on a histogram _created',
      '# TYPE a histogram\na_bucket{le="+Inf"} 1\na_created{le="1"} 1\n# EOF\n',
      'line 3, column 11: histogram a: a_created must not have an "le" label',
    ],
    [
      'quantile on a summary _created',
      '# TYPE a summary\na_created{quantile="0.5"} 1\n# EOF\n',
      'line 2, column 11: summary a: a_created must not have a "quantile" label',
    ],
    [
      'a _created repeated in one point',
      '# TYPE a counter\na_total 1\na_created 1\na_created 2\n# EOF\n',
      'line 4, column 1: counter a: a_created repeats without a timestamp',
    ],
  ])('rejects %s', (_name, text, message) => {
    expect(outcome(text)).toBe(message);
  });

  it.each([
    [
      'a negative _created (timestamps may be negative)',
      '# TYPE a counter\na_total 1\na_created -1.5\n# EOF\n',
    ],
    [
      '_created before _total, with timestamps',
      '# TYPE a counter\na_created 1520430000.123 1520879607.789\na_total 17.0 1520879607.789\n# EOF\n',
    ],
    [
      '_created of a summary without quantiles',
      '# TYPE a summary\na_count 1\na_sum 1\na_created 1605281325.0\n# EOF\n',
    ],
    ['underscores inside and at the end of label names', 'a{b_="1",c__d="2"} 1\n# EOF\n'],
    ['colons in family names (reserved for aggregations, not forbidden)', 'job:a:rate5m 1\n# EOF\n'],
    [
      'a gaugehistogram followed by a family named like its _created',
      '# TYPE a gaugehistogram\na_bucket{le="+Inf"} 1\na_created 1\n# EOF\n',
    ],
  ])('accepts %s', (_name, text) => {
    expect(outcome(text)).toBe('parsed');
  });

  it('leaves leading underscores to the ingestor in Prometheus text (0.0.4 reserves only __ labels for internal use)', () => {
    const { samples } = parsePrometheusText('_a{_b="1",__c="2"} 1\n');
    expect(samples).toEqual([{ name: '_a', labels: { _b: '1', __c: '2' }, value: 1 }]);
  });

  it('accepts exactly 128 characters of exemplar labels, NUL in strings, unknown escapes as written', () => {
    const labels = `{a="${'x'.repeat(127)}"}`;
    expect(() => om(`# TYPE a counter\na_total 1 ${`# ${labels} 1`}\n# EOF\n`)).not.toThrow();
    expect(outcome(`# TYPE a counter\na_total 1 # {a="${'x'.repeat(128)}"} 1\n# EOF\n`)).toContain(
      'exemplar labels are 129 characters',
    );
    const { samples, families } = om('# HELP a x\\zy\u0000\na{b="\\z\u0000"} 1\n# EOF');
    expect(samples[0]?.labels['b']).toBe('\\z\u0000');
    expect(families.get('a')?.help).toBe('x\\zy\u0000');
  });

  it('keeps only the names asked for, still validating every line, up to maxSamples', () => {
    const text = '# TYPE a gauge\na 1\n# TYPE b gauge\nb 2\n# EOF\n';
    const keep = (name: string) => name === 'b';
    expect(parsePrometheusText(text, { format: 'openmetrics', keep }).samples).toEqual([
      { name: 'b', labels: {}, value: 2 },
    ]);
    expect(() =>
      parsePrometheusText(text.replace('a 1', 'a 1 # x'), { format: 'openmetrics', keep }),
    ).toThrow(ParseError);
    expect(() => parsePrometheusText(text, { format: 'openmetrics', maxSamples: 1 })).toThrow(
      SampleLimitError,
    );
  });
});
