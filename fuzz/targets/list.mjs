/** Every fuzz target: fuzz/targets/<name>.mjs, seeds in fuzz/seeds/<name>/, findings in fuzz/regressions/<name>/. */
export const TARGETS = [
  'prometheus-text',
  'openmetrics',
  'json-health',
  'resp',
  'memcached',
  'log-formats',
  'config',
];
