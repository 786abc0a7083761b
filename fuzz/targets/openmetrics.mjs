// metrics-adapter: OpenMetrics 1.0 text format (Content-Type application/openmetrics-text).
import {
  ParseError,
  parsePrometheusText,
  SampleLimitError,
} from '../../packages/metrics-adapter/dist/prometheus/parser.js';
import { rejectOnlyWith, text } from './harness.mjs';
import { checkParsed } from './prometheus-text.mjs';

export function fuzz(data) {
  const input = text(data);
  checkParsed(
    rejectOnlyWith([ParseError, SampleLimitError], () =>
      parsePrometheusText(input, { format: 'openmetrics', maxSamples: 1000 }),
    ),
  );
}
