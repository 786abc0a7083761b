import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ParseError, parsePrometheusText, SampleLimitError } from '../src/index.js';

describe('Prometheus text format parser', () => {
  it('reads what prom-client writes, agreeing with parse-prometheus-text-format', async () => {
    const registry = new Registry();
    new Gauge({ name: 'app_ready', help: 'ready', registers: [registry] }).set(1);
    const counter = new Counter({
      name: 'jobs_total',
      help: 'jobs',
      labelNames: ['queue'],
      registers: [registry],
    });
    counter.inc({ queue: 'a "quoted" \\ value\nnext line' }, 3);
    new Histogram({ name: 'latency_seconds', help: 'lat', buckets: [0.1, 1], registers: [registry] }).observe(
      0.5,
    );
    new Summary({ name: 'size_bytes', help: 'size', percentiles: [0.5], registers: [registry] }).observe(10);
    const text = await registry.metrics();

    const ours = parsePrometheusText(text);
    const reference = parsePrometheusTextFormat(text);
    expect(ours.families.get('jobs_total')).toEqual({ type: 'counter', help: 'jobs' });
    expect(ours.samples.find((s) => s.name === 'jobs_total')).toEqual({
      name: 'jobs_total',
      labels: { queue: 'a "quoted" \\ value\nnext line' },
      value: 3,
    });
    const referenceJobs = reference.find((family) => family.name === 'jobs_total');
    expect(referenceJobs?.metrics[0]?.labels).toEqual({ queue: 'a "quoted" \\ value\nnext line' });
    expect(
      ours.samples.filter((s) => s.name === 'latency_seconds_bucket').map((s) => [s.labels['le'], s.value]),
    ).toEqual([
      ['0.1', 0],
      ['1', 1],
      ['+Inf', 1],
    ]);
    expect(ours.samples.find((s) => s.name === 'size_bytes' && s.labels['quantile'] === '0.5')?.value).toBe(
      10,
    );
  });

  it('reads OpenMetrics: histograms, exemplars, timestamps, escaped labels, and stops at # EOF', () => {
    const text = [
      '# TYPE http_request_duration_seconds histogram',
      '# HELP http_request_duration_seconds Request latency.',
      '# UNIT http_request_duration_seconds seconds',
      'http_request_duration_seconds_bucket{le="0.1",path="/a\\"b"} 8 # {trace_id="abc"} 0.05 1700000000.1',
      'http_request_duration_seconds_bucket{le="+Inf",path="/a\\"b"} 10',
      'http_request_duration_seconds_count{path="/a\\"b"} 10',
      'http_request_duration_seconds_sum{path="/a\\"b"} 1.5e0',
      'process_start_time_seconds 1.7e9 1700000000000',
      '# EOF',
      'after_eof 1',
    ].join('\n');
    const { samples, families } = parsePrometheusText(text);
    expect(families.get('http_request_duration_seconds')?.type).toBe('histogram');
    expect(samples.map((s) => s.name)).not.toContain('after_eof');
    expect(samples[0]).toEqual({
      name: 'http_request_duration_seconds_bucket',
      labels: { le: '0.1', path: '/a"b' },
      value: 8,
    });
    expect(samples[1]?.labels['le']).toBe('+Inf');
    expect(samples[3]?.value).toBe(1.5);
    expect(samples[4]).toEqual({
      name: 'process_start_time_seconds',
      labels: {},
      value: 1.7e9,
      timestamp: 1700000000000,
    });
  });

  it('parses special values', () => {
    const { samples } = parsePrometheusText('a +Inf\nb -Inf\nc NaN\n');
    expect(samples.map((s) => s.value)).toEqual([Infinity, -Infinity, Number.NaN]);
  });

  it('rejects malformed text with the line number', () => {
    expect(() => parsePrometheusText('ok 1\nbroken{a="x" 1\n')).toThrow(ParseError);
    expect(() => parsePrometheusText('ok 1\nnot_a_number abc\n')).toThrow(
      /line 2, column 14: "abc" is not a number/,
    );
  });

  it.each([
    ['a hexadecimal value', 'a 0x1\n', '"0x1" is not a number'],
    ['a binary value', 'a 0b1\n', '"0b1" is not a number'],
    ['an empty value', 'a{b="c"} \n', '"" is not a number'],
    ['a duplicate label name', 'a{b="1",b="2"} 1\n', 'label b appears twice'],
    ['an empty label name', 'a{="1"} 1\n', 'empty label name'],
    ['a label name with a dash', 'a{b-c="1"} 1\n', '"b-c" is not a valid label name'],
    ['a metric name starting with a digit', '1a 1\n', '"1a" is not a valid metric name'],
    ['a metric name with a non-ASCII letter', 'caf\u00e9 1\n', 'is not a valid metric name'],
    ['a timestamp that is not a number', 'a 1 soon\n', 'timestamp "soon" is not a number'],
  ])('rejects %s, as the format does', (_name, text, reason) => {
    expect(() => parsePrometheusText(text)).toThrow(ParseError);
    expect(() => parsePrometheusText(text)).toThrow(reason);
  });

  it('accepts what the format allows: exponents, signs, Inf spelled out, a colon in names, timestamps', () => {
    const { samples } = parsePrometheusText('a:b 1e3\nc -.5\nd +Infinity\ne{x_y="1"} 2 1700000000000\n');
    expect(samples.map((s) => s.value)).toEqual([1000, -0.5, Infinity, 2]);
    expect(samples[3]?.timestamp).toBe(1_700_000_000_000);
  });

  it('keeps a label named __proto__ as a label', () => {
    const { samples } = parsePrometheusText('a{__proto__="x"} 1\n');
    expect(Object.entries(samples[0]?.labels ?? {})).toEqual([['__proto__', 'x']]);
  });

  it('keeps only the names asked for, still validating every line, up to maxSamples', () => {
    const text = 'keep 1\nskip 2\nkeep{a="b"} 3\n';
    const { samples } = parsePrometheusText(text, { keep: (name) => name === 'keep' });
    expect(samples.map((s) => s.value)).toEqual([1, 3]);
    expect(() => parsePrometheusText(`${text}skip 0x1\n`, { keep: (name) => name === 'keep' })).toThrow(
      ParseError,
    );
    expect(() => parsePrometheusText(text, { keep: (name) => name === 'keep', maxSamples: 1 })).toThrow(
      SampleLimitError,
    );
  });
});

describe('Prometheus text format 0.0.4: lenient where it is lenient', () => {
  it('accepts blank lines, free comments, tabs and runs of blanks, spaces in label sets, a trailing comma, no # EOF', () => {
    const text = [
      '',
      '# a free comment',
      '#HELP',
      '   ',
      '# HELP a  Some \\\\ help \\n next "quoted"',
      '# TYPE a gauge',
      '\ta { b = "1" , c="x\\z" , } \t 2 \t 1700000000000 ',
      '\r',
      'a{} 3\r',
      'b 4',
    ].join('\n');
    const { samples, families } = parsePrometheusText(text);
    expect(families.get('a')).toEqual({ type: 'gauge', help: 'Some \\ help \n next "quoted"' });
    expect(samples).toEqual([
      { name: 'a', labels: { b: '1', c: 'x\\z' }, value: 2, timestamp: 1700000000000 },
      { name: 'a', labels: {}, value: 3 },
      { name: 'b', labels: {}, value: 4 },
    ]);
  });

  it.each([
    ['a second HELP line', '# HELP a x\n# HELP a y\n', 'line 2, column 3: a second HELP line for a'],
    [
      'a second TYPE line',
      '# TYPE a gauge\n# TYPE a counter\n',
      'line 2, column 3: a second TYPE line for a',
    ],
    [
      'a TYPE line after the samples',
      'a 1\n# TYPE a gauge\n',
      'line 2, column 3: the TYPE line for a comes after',
    ],
    ['an OpenMetrics-only type', '# TYPE a info\n', 'line 1, column 10: "info" is not a metric type'],
    ['a TYPE without a type', '# TYPE a\n', 'line 1, column 9: "" is not a metric type'],
    ['a bad name in HELP', '# HELP 1a x\n', 'line 1, column 8: "1a" is not a valid metric name'],
    [
      'a fractional timestamp',
      'a 1 1.5\n',
      'line 1, column 5: timestamp "1.5" is not an integer (milliseconds)',
    ],
    ['text after the timestamp', 'a 1 2 3\n', 'line 1, column 7: expected the end of the line'],
    [
      'an le that is not a number',
      '# TYPE h histogram\nh_bucket{le="x"} 1\n',
      'line 2, column 10: le="x" is not a number',
    ],
    [
      'a bucket without le',
      '# TYPE h histogram\nh_bucket 1\n',
      'line 2, column 1: a histogram bucket without an "le" label',
    ],
    [
      'a quantile that is not a number',
      '# TYPE s summary\ns{quantile="q"} 1\n',
      'line 2, column 3: quantile="q" is not',
    ],
    ['an unterminated label value', 'a{b="c} 1\n', 'line 1, column 5: label b: unterminated value'],
    ['a missing "="', 'a{b "c"} 1\n', 'line 1, column 5: label b: expected "="'],
    ['two commas', 'a{b="c",,d="e"} 1\n', 'line 1, column 9: expected a label name'],
    ['a byte order mark', '\ufeffa 1\n', 'line 1, column 1: a byte order mark'],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parsePrometheusText(text)).toThrow(ParseError);
    expect(() => parsePrometheusText(text)).toThrow(message);
  });

  it('reports the column in characters, not bytes', () => {
    expect(() => parsePrometheusText('a{b="☃"} 1 x\n')).toThrow('line 1, column 12: timestamp "x"');
    expect(() => parsePrometheusText('ok 1\n\n  bad{a="x" 1\n')).toThrow(/^line 3, column 13: /);
  });
});
