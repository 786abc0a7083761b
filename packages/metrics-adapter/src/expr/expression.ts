import type { Sample } from '../prometheus/parser.js';

/**
 * A health check expression, a PromQL subset that stays readable:
 *   [sum|min|max|avg|count](selector) OP number      e.g. max(queue_depth{queue=~"jobs|mail"}) < 1000
 *   selector OP number                               e.g. app_ready == 1 (every matching series must pass)
 * Matchers: = != =~ !~ (regexes fully anchored, as in PromQL). OP: == != < <= > >=.
 */
export type Aggregation = 'sum' | 'min' | 'max' | 'avg' | 'count';
export type Comparison = '==' | '!=' | '<' | '<=' | '>' | '>=';

export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  regex?: RegExp;
}

export interface Expression {
  source: string;
  aggregation?: Aggregation;
  metric: string;
  matchers: LabelMatcher[];
  comparison: Comparison;
  threshold: number;
}

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  constructor(
    readonly reason: string,
    /** 1-based column in the expression. */
    readonly column: number,
  ) {
    super(`column ${column}: ${reason}`);
  }
}

const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'count']);
const COMPARISONS: Comparison[] = ['==', '!=', '<=', '>=', '<', '>'];
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|^[-+]?Inf|^NaN/;

export function parseExpression(source: string): Expression {
  let index = 0;
  const skip = () => {
    while (source[index] === ' ' || source[index] === '\t') index += 1;
  };
  const fail = (reason: string): never => {
    throw new ExpressionError(reason, index + 1);
  };
  const found = () => (index >= source.length ? 'the end' : `"${source.slice(index, index + 12)}"`);

  skip();
  const first =
    NAME.exec(source.slice(index))?.[0] ??
    fail(`expected a metric name or sum|min|max|avg|count(, found ${found()}`);
  index += first.length;
  skip();
  let aggregation: Aggregation | undefined;
  let metric = first;
  if (source[index] === '(') {
    if (!AGGREGATIONS.has(first)) {
      index -= first.length;
      fail(`unknown aggregation "${first}" (expected sum, min, max, avg or count)`);
    }
    aggregation = first as Aggregation;
    index += 1;
    skip();
    metric = NAME.exec(source.slice(index))?.[0] ?? fail(`expected a metric name, found ${found()}`);
    index += metric.length;
    skip();
  }
  const matchers: LabelMatcher[] = [];
  if (source[index] === '{') {
    index += 1;
    for (;;) {
      skip();
      if (source[index] === '}') {
        index += 1;
        break;
      }
      const label = LABEL.exec(source.slice(index))?.[0] ?? fail(`expected a label name, found ${found()}`);
      index += label.length;
      skip();
      const op = (['=~', '!~', '!=', '='] as const).find((candidate) => source.startsWith(candidate, index));
      if (!op) fail(`expected =, !=, =~ or !~ after label ${label}, found ${found()}`);
      index += (op as string).length;
      skip();
      const quote = source[index];
      if (quote !== '"' && quote !== "'") fail(`expected a quoted label value, found ${found()}`);
      const close = source.indexOf(quote as string, index + 1);
      if (close < 0) fail('unterminated label value');
      const value = source.slice(index + 1, close);
      const matcher: LabelMatcher = { label, op: op as LabelMatcher['op'], value };
      if (op === '=~' || op === '!~') {
        try {
          matcher.regex = new RegExp(`^(?:${value})$`);
        } catch (error) {
          index += 1;
          fail(`invalid regular expression: ${(error as Error).message}`);
        }
      }
      matchers.push(matcher);
      index = close + 1;
      skip();
      if (source[index] === ',') index += 1;
      else if (source[index] !== '}') fail(`expected , or } in the label matchers, found ${found()}`);
    }
    skip();
  }
  if (aggregation) {
    if (source[index] !== ')') fail(`expected ) to close ${aggregation}(, found ${found()}`);
    index += 1;
    skip();
  }
  const comparison = COMPARISONS.find((candidate) => source.startsWith(candidate, index));
  if (!comparison) fail(`expected a comparison (== != < <= > >=), found ${found()}`);
  index += (comparison as string).length;
  skip();
  const number = NUMBER.exec(source.slice(index))?.[0] ?? fail(`expected a number, found ${found()}`);
  index += number.length;
  skip();
  if (index < source.length) fail(`unexpected ${found()} after the expression`);
  const threshold = number.endsWith('Inf') ? (number.startsWith('-') ? -Infinity : Infinity) : Number(number);
  const expression: Expression = {
    source,
    metric,
    matchers,
    comparison: comparison as Comparison,
    threshold,
  };
  if (aggregation) expression.aggregation = aggregation;
  return expression;
}

function matches(sample: Sample, expression: Expression): boolean {
  if (sample.name !== expression.metric) return false;
  for (const matcher of expression.matchers) {
    const value = sample.labels[matcher.label] ?? '';
    switch (matcher.op) {
      case '=':
        if (value !== matcher.value) return false;
        break;
      case '!=':
        if (value === matcher.value) return false;
        break;
      case '=~':
        if (!matcher.regex?.test(value)) return false;
        break;
      case '!~':
        if (matcher.regex?.test(value)) return false;
        break;
    }
  }
  return true;
}

function compare(value: number, comparison: Comparison, threshold: number): boolean {
  switch (comparison) {
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
  }
}

export interface CheckOutcome {
  pass: boolean;
  /** The aggregated value, or each matching series' value; null when no series matched. */
  observedValue: number | number[] | null;
  output?: string;
}

export function evaluate(expression: Expression, samples: readonly Sample[]): CheckOutcome {
  const values: number[] = [];
  for (const sample of samples) if (matches(sample, expression)) values.push(sample.value);
  if (expression.aggregation === 'count') {
    return {
      pass: compare(values.length, expression.comparison, expression.threshold),
      observedValue: values.length,
    };
  }
  if (values.length === 0)
    return { pass: false, observedValue: null, output: `no series matches ${expression.metric}` };
  if (!expression.aggregation) {
    const pass = values.every((value) => compare(value, expression.comparison, expression.threshold));
    return { pass, observedValue: values.length === 1 ? (values[0] as number) : values };
  }
  let value: number;
  switch (expression.aggregation) {
    case 'sum':
      value = values.reduce((a, b) => a + b, 0);
      break;
    case 'avg':
      value = values.reduce((a, b) => a + b, 0) / values.length;
      break;
    case 'min':
      value = Math.min(...values);
      break;
    case 'max':
      value = Math.max(...values);
      break;
  }
  return { pass: compare(value, expression.comparison, expression.threshold), observedValue: value };
}
