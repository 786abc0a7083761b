// core: ${VAR} interpolation and config loading (YAML, ${VAR}, validation). ConfigError is the
// loader's own no. The sidecars' own schemas are used, so validation paths are reached too;
// byte 0 picks the schema.

import { configSchema as ambassador } from '../../packages/ambassador/dist/config.js';
import { ConfigError } from '../../packages/core/dist/config/errors.js';
import { interpolate } from '../../packages/core/dist/config/interpolate.js';
import { parseConfig } from '../../packages/core/dist/config/load.js';
import { configSchema as logShipper } from '../../packages/log-shipper/dist/config.js';
import { configSchema as metricsAdapter } from '../../packages/metrics-adapter/dist/config.js';
import { check, rejectOnlyWith, text } from './harness.mjs';

const SCHEMAS = [logShipper, ambassador, metricsAdapter];
const env = Object.freeze({ PORT: '8080', EMPTY: '', HOST: '127.0.0.1', NESTED: '${PORT}', LIST: '[1, 2]' });

export function fuzz(data) {
  if (data.length === 0) return;
  const input = text(data.subarray(1));
  const interpolated = rejectOnlyWith([ConfigError], () => interpolate(input, env, () => 'fuzz'));
  if (interpolated !== undefined) check(typeof interpolated === 'string', 'interpolate returns a string');
  rejectOnlyWith([ConfigError], () =>
    parseConfig(input, SCHEMAS[data[0] % SCHEMAS.length], { env, file: 'fuzz.yaml' }),
  );
}
