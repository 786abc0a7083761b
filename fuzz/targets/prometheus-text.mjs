// metrics-adapter: Prometheus text format 0.0.4 (the default for any Content-Type but OpenMetrics).
import {
  ParseError,
  parsePrometheusText,
  SampleLimitError,
} from '../../packages/metrics-adapter/dist/prometheus/parser.js';
import { check, rejectOnlyWith, text } from './harness.mjs';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function checkParsed(parsed) {
  if (parsed === undefined) return;
  for (const sample of parsed.samples) {
    check(METRIC_NAME.test(sample.name), `sample name ${JSON.stringify(sample.name)}`);
    check(typeof sample.value === 'number', 'sample value is a number');
    for (const name of Object.keys(sample.labels)) check(LABEL_NAME.test(name), `label name ${name}`);
  }
}

export function fuzz(data) {
  const input = text(data);
  checkParsed(
    rejectOnlyWith([ParseError, SampleLimitError], () =>
      parsePrometheusText(input, { format: 'prometheus', maxSamples: 1000 }),
    ),
  );
}
