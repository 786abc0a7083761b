// Writes fuzz/seeds/<target>/ from the repository's fixtures and examples (run again when they
// change): the seed corpus each fuzz run starts from. Byte 0 of some targets picks a mode (see
// each target), so those seeds get a prefix byte.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const seeds = new Map();
const add = (target, content) => {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  if (!seeds.has(target)) seeds.set(target, []);
  seeds.get(target).push(bytes);
};
const withMode = (mode, content) => Buffer.concat([Buffer.from([mode]), Buffer.from(content)]);

// metrics-adapter: the 211 vendored OpenMetrics parser cases feed both grammars.
const cases = JSON.parse(
  readFileSync(join(root, 'packages/metrics-adapter/test/fixtures/openmetrics/parsers.json'), 'utf8'),
).cases;
for (const { metrics } of cases) {
  add('openmetrics', metrics);
  add('prometheus-text', metrics);
}
add(
  'prometheus-text',
  [
    '# HELP http_requests_total Requests.',
    '# TYPE http_requests_total counter',
    'http_requests_total{method="post",code="200"} 1027 1395066363000',
    'http_requests_total{method="post",code="400"}    3 1395066363000',
    'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
    '# A comment',
    'metric_without_timestamp_and_labels 12.47',
    'something_weird{problem="division by zero"} +Inf -3982045',
    '# TYPE rpc_duration_seconds summary',
    'rpc_duration_seconds{quantile="0.5"} 4773',
    'rpc_duration_seconds_sum 1.7560473e+07',
    'rpc_duration_seconds_count 2693',
    '# TYPE http_request_duration_seconds histogram',
    'http_request_duration_seconds_bucket{le="0.05"} 24054',
    'http_request_duration_seconds_bucket{le="+Inf"} 144320',
    '\tspaced { a = "1" , b="2", } 1',
    '',
  ].join('\n'),
);

// metrics-adapter: JSON health documents, and JSONPath lines.
for (const document of [
  { status: 'UP', components: { db: { status: 'UP' }, disk: { status: 'DOWN', details: { free: 1 } } } },
  [[{ value: 1 }], [{ value: '2.5' }], [{ value: true }]],
  { 'a b': { x: { y: 3 } }, status: 'DOWN' },
])
  add('json-health', JSON.stringify(document));
add('json-health', '$.components.*.status\n{"components":{"db":{"status":"UP"}}}');
add('json-health', '$[\'a b\'][0].*\n{"a b":[{"c":1}]}');

// ambassador: byte 0 is the chunk size for the split run; bit 4 picks the reply parser.
const requests = [
  '*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n',
  'PING\r\nSET "a b" \'c\\nd\'\r\n',
  '*1\r\n$-1\r\n',
];
const replies = [
  '+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n',
  '%1\r\n+k\r\n,3.14\r\n_\r\n#t\r\n(12345678901234567890\r\n=15\r\ntxt:Some string\r\n',
  '~2\r\n+a\r\n+b\r\n>2\r\n+message\r\n+x\r\n|1\r\n+k\r\n+v\r\n!3\r\nerr\r\n',
];
for (const [i, stream] of requests.entries()) add('resp', withMode(i % 16, stream));
for (const [i, stream] of replies.entries()) add('resp', withMode(0x10 | (i + 3), stream));
const memcachedRequests = [
  'set k 0 0 5\r\nvalue\r\nget k k2\r\n',
  'cas k 1 60 3 99 noreply\r\nabc\r\nincr n 5\r\ndelete k\r\ntouch k 10\r\ngats 10 a b\r\n',
  'version\r\nstats\r\nflush_all 0\r\nverbosity 1\r\nquit\r\n',
];
const memcachedReplies = [
  'VALUE k 0 5\r\nvalue\r\nVALUE k2 1 2 77\r\nab\r\nEND\r\n',
  'STORED\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\n42\r\nERROR\r\nCLIENT_ERROR bad\r\nSERVER_ERROR oom\r\n',
  'STAT pid 1\r\nSTAT uptime 10\r\nEND\r\nVERSION 1.6.21\r\n',
];
for (const [i, stream] of memcachedRequests.entries()) add('memcached', withMode(i % 16, stream));
for (const [i, stream] of memcachedReplies.entries()) add('memcached', withMode(0x10 | (i + 3), stream));

// log-shipper: byte 0 picks raw/json/cri/docker (low 2 bits) and multiline (bit 2).
add(
  'log-formats',
  withMode(1, '{"message":"hi","time":"2024-01-01T00:00:00Z","level":"info"}\nnot json\n[1]\n'),
);
add(
  'log-formats',
  withMode(
    2 | 4,
    '2024-01-01T00:00:00.000000001Z stdout P part one \n2024-01-01T00:00:01Z stdout F and two\n2024-01-01T00:00:02Z stderr F Exception\n2024-01-01T00:00:02Z stderr F \tat x.y(Z.java:1)\n',
  ),
);
add(
  'log-formats',
  withMode(
    3,
    '{"log":"split ","stream":"stdout","time":"2024-01-01T00:00:00Z"}\n{"log":"end\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}\n{"log":3}\n',
  ),
);
add('log-formats', withMode(0 | 4 | 0x30, 'Exception\n\tat a\n\tat b\n\tat c\nnext\n'));

// core: byte 0 picks the schema (0 log-shipper, 1 ambassador, 2 metrics-adapter).
const SCHEMA_OF = { 'log-shipper.yaml': 0, 'ambassador.yaml': 1, 'metrics-adapter.yaml': 2 };
for (const example of readdirSync(join(root, 'examples'))) {
  for (const [file, mode] of Object.entries(SCHEMA_OF)) {
    try {
      add('config', withMode(mode, readFileSync(join(root, 'examples', example, file))));
    } catch {
      // not every example has every sidecar
    }
  }
}
add('config', withMode(1, 'port: ${PORT}\nhost: "${HOST:-0.0.0.0}"\nname: ${UNSET-x}\nlit: $${PORT}\n'));

for (const [target, inputs] of seeds) {
  const folder = join(root, 'fuzz', 'seeds', target);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  for (const bytes of inputs)
    writeFileSync(join(folder, createHash('sha1').update(bytes).digest('hex')), bytes);
  console.log(`${target}: ${inputs.length} seeds`);
}
