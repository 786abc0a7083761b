import { describe, expect, it } from 'vitest';
import { ExpressionError, evaluate, parseExpression, parsePrometheusText } from '../src/index.js';

const samples = parsePrometheusText(
  [
    'app_ready 1',
    'queue_depth{queue="jobs"} 12',
    'queue_depth{queue="mail"} 900',
    'queue_depth{queue="other"} 5000',
  ].join('\n'),
).samples;

describe('check expressions', () => {
  it('compares a single series', () => {
    expect(evaluate(parseExpression('app_ready == 1'), samples)).toEqual({ pass: true, observedValue: 1 });
    expect(evaluate(parseExpression('app_ready != 1'), samples).pass).toBe(false);
  });

  it('aggregates over label matchers, regexes anchored as in PromQL', () => {
    expect(evaluate(parseExpression('max(queue_depth{queue=~"jobs|mail"}) < 1000'), samples)).toEqual({
      pass: true,
      observedValue: 900,
    });
    expect(evaluate(parseExpression('max(queue_depth) < 1000'), samples)).toEqual({
      pass: false,
      observedValue: 5000,
    });
    expect(evaluate(parseExpression('sum(queue_depth{queue!="other"}) >= 912'), samples)).toEqual({
      pass: true,
      observedValue: 912,
    });
    expect(evaluate(parseExpression('count(queue_depth{queue=~"j"}) == 0'), samples)).toEqual({
      pass: true,
      observedValue: 0,
    });
    expect(evaluate(parseExpression("avg(queue_depth{queue!~'other'}) > 400"), samples).observedValue).toBe(
      456,
    );
    expect(evaluate(parseExpression('min(queue_depth) <= 12'), samples).pass).toBe(true);
  });

  it('fails, and says why, when no series matches', () => {
    expect(evaluate(parseExpression('missing_metric == 1'), samples)).toEqual({
      pass: false,
      observedValue: null,
      output: 'no series matches missing_metric',
    });
  });

  it.each([
    ['app_ready = 1', 11, 'expected a comparison'],
    ['maxx(queue_depth) < 1', 1, 'unknown aggregation "maxx"'],
    ['max(queue_depth{queue=~"("}) < 1', 25, 'invalid regular expression'],
    ['max(queue_depth < 1', 17, 'expected ) to close max('],
    ['app_ready == one', 14, 'expected a number'],
    ['queue_depth{queue="a" 1', 23, 'expected , or }'],
    ['app_ready == 1 extra', 16, 'unexpected'],
  ])('rejects %j at column %i', (source, column, reason) => {
    try {
      parseExpression(source);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ExpressionError);
      expect((error as ExpressionError).column).toBe(column);
      expect((error as ExpressionError).reason).toContain(reason);
    }
  });
});
