import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type EsServer, startElasticsearch } from '../../support/elasticsearch.js';
import type { ExampleRun } from './examples.js';
import { background, run, waitFor } from './exec.js';

// The stories: what each example must show once it is up. Each is written once and run against
// both the Pod (podman kube play) and the compose run of the example (support/examples.ts).

/** Reaches 127.0.0.1 inside a Pod (or a compose app's) network namespace. */
export type Curl = (url: string) => Promise<{ status: number; body: string }>;

/** The adapter's /health follows the app's app_ready gauge: 200, then 503 once flipped, then 200. */
export async function proveHealthFollowsAppMetric(curl: Curl): Promise<void> {
  await waitFor('/health to pass', async () => (await curl('http://127.0.0.1:9102/health')).status === 200);
  expect((await curl('http://127.0.0.1:8080/admin/ready?value=0')).status).toBe(200);
  const failing = await waitFor('/health to fail', async () => {
    const response = await curl('http://127.0.0.1:9102/health');
    return response.status === 503 ? response.body : undefined;
  });
  expect(failing).toContain('ready');
  expect((await curl('http://127.0.0.1:8080/admin/ready?value=1')).status).toBe(200);
  await waitFor(
    '/health to pass again',
    async () => (await curl('http://127.0.0.1:9102/health')).status === 200,
  );
  const metrics = await curl('http://127.0.0.1:9102/metrics');
  expect(metrics.body).toMatch(/^app_up(\{[^}]*\})? 1$/m);
}

/**
 * DNS for an example's network namespace: dnsmasq on its 127.0.0.1:53 (where glibc and c-ares
 * ask when a container has no resolv.conf), answering each name with its addresses.
 */
export function startNamespaceDns(
  pid: number,
  hosts: Record<string, string[]>,
): { stop: () => Promise<void> } {
  const file = join(tmpdir(), `sidecar-kit-e2e-hosts-${pid}`);
  const lines = Object.entries(hosts).flatMap(([name, addresses]) =>
    addresses.map((address) => `${address} ${name}\n`),
  );
  writeFileSync(file, lines.join(''));
  return background('nsenter', [
    '-t',
    String(pid),
    '-n',
    'dnsmasq',
    '--no-daemon',
    '--port=53',
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${file}`,
    '--user=root',
    '--local-ttl=1',
  ]);
}

/** The init container (or compose's run-once service) wrote the site; the server serves it read-only. */
export async function proveInitContainerSiteServed(curl: Curl): Promise<void> {
  const page = await waitFor('the server to answer', async () => {
    const response = await curl('http://127.0.0.1:8080/');
    return response.status === 200 ? response.body : undefined;
  });
  expect(page).toContain('built site v1');
  // The server mounts the volume read-only: only the init container can have written the site.
  expect((await curl('http://127.0.0.1:8080/VERSION')).body.trim()).toBe('v1');
}

/** The app's calls through the ambassador (GET /call) reach every upstream replica. */
export async function proveCallsReachEveryReplica(curl: Curl, replicas: string[]): Promise<void> {
  const seen = new Set<string>();
  await waitFor(
    `calls to reach ${replicas.join(', ')}`,
    async () => {
      const response = await curl('http://127.0.0.1:8080/call');
      if (response.status === 200) seen.add((JSON.parse(response.body) as { instance: string }).instance);
      return replicas.every((replica) => seen.has(replica));
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  expect([...seen].sort()).toEqual([...replicas].sort());
}

export async function startEsInNamespace(pid: number): Promise<EsServer> {
  return startElasticsearch({ port: 9200, netnsPid: pid });
}

interface Hit {
  _source: Record<string, unknown>;
}

/** A field of a document, whether it was sent nested ({log: {offset}}) or dotted ({"log.offset"}). */
function field(source: Record<string, unknown>, path: string): unknown {
  if (path in source) return source[path];
  let current: unknown = source;
  for (const key of path.split('.')) current = (current as Record<string, unknown> | undefined)?.[key];
  return current;
}

/**
 * Every line the app has written so far is in Elasticsearch exactly once: the test reads the log
 * file, waits until every line's sequence number is indexed, then checks no (file, offset) and no
 * sequence number was indexed twice. The app keeps writing meanwhile, as a real app would.
 */
export async function proveLogsShippedExactlyOnce(
  curlInNs: (args: string[]) => Promise<string>,
  logFileOnHost: string,
  index: string,
): Promise<number> {
  const lines = readFileSync(logFileOnHost, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
  expect(lines.length).toBeGreaterThan(0);
  const expected = lines.map((line) => (JSON.parse(line) as { seq: number }).seq);
  const hits = await waitFor(
    `the ${lines.length} lines written so far in ${index}`,
    async () => {
      await curlInNs(['-s', '-XPOST', `http://127.0.0.1:9200/${index}/_refresh`]);
      const body = await curlInNs([
        '-s',
        '-H',
        'content-type: application/json',
        `http://127.0.0.1:9200/${index}/_search`,
        '-d',
        JSON.stringify({ size: 10_000, query: { match_all: {} } }),
      ]);
      const found = (JSON.parse(body) as { hits?: { hits: Hit[] } }).hits?.hits ?? [];
      const seqs = new Set(found.map((hit) => field(hit._source, 'seq')));
      return expected.every((seq) => seqs.has(seq)) ? found : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1_000 },
  );
  const positions = hits.map(
    (hit) => `${field(hit._source, 'log.file.path')}:${field(hit._source, 'log.offset')}`,
  );
  expect(positions.every((position) => !position.includes('undefined'))).toBe(true);
  expect(new Set(positions).size).toBe(hits.length);
  const sequences = hits.map((hit) => field(hit._source, 'seq'));
  expect(new Set(sequences).size).toBe(hits.length);
  return lines.length;
}

/** Documents of INDEX so far (after a refresh). */
async function esCount(curlEs: (args: string[]) => Promise<string>, index: string): Promise<number> {
  await curlEs(['-s', '-XPOST', `http://127.0.0.1:9200/${index}/_refresh`]);
  const body = JSON.parse(await curlEs(['-s', `http://127.0.0.1:9200/${index}/_count`])) as {
    count?: number;
  };
  return body.count ?? 0;
}

/**
 * Shipping goes on across a SIGKILL of the log-shipper (its state file on a volume says where it
 * was), and in the end every line is indexed exactly once.
 */
export async function proveLogsSurviveShipperKill(
  running: ExampleRun,
  logVolume: string,
  index: string,
): Promise<void> {
  const curlEs = async (args: string[]) => (await running.inNetns('curl', args)).stdout;
  const before = await waitFor(
    'first documents',
    async () => ((await esCount(curlEs, index)) >= 20 ? esCount(curlEs, index) : undefined),
    { timeoutMs: 120_000 },
  );
  const shipper = await running.container('log-shipper');
  await run('podman', ['kill', '--signal', 'KILL', shipper]);
  await run('podman', ['start', shipper]);
  await waitFor(
    'shipping to go on after the restart',
    async () => (await esCount(curlEs, index)) >= before + 40,
    { timeoutMs: 120_000 },
  );
  const logFile = join(await running.volumePath(logVolume), 'app.log');
  const shipped = await proveLogsShippedExactlyOnce(curlEs, logFile, index);
  expect(shipped).toBeGreaterThan(before);
}

interface CallCounts {
  total: number;
  ok: number;
  byReplica: Record<string, number>;
  failed: Record<string, number>;
}

/** The newest {"msg":"calls",...} line the grpc-demo client logged. */
function lastCallCounts(logs: string): CallCounts | undefined {
  let last: CallCounts | undefined;
  for (const line of logs.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string } & CallCounts;
    if (entry.msg === 'calls') last = entry;
  }
  return last;
}

/** `ambassador_upstream_grpc_responses_total` with grpc_status 0, per endpoint of CLUSTER. */
function grpcOkByEndpoint(metrics: string, cluster: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('ambassador_upstream_grpc_responses_total{')) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]] as const),
    );
    if (labels['cluster'] !== cluster || labels['grpc_status'] !== '0' || !labels['endpoint']) continue;
    counts[labels['endpoint']] = (counts[labels['endpoint']] ?? 0) + Number(line.split(' ').pop());
  }
  return counts;
}

/**
 * The app's one gRPC channel to the ambassador (127.0.0.1:15002, h2c) gets answers from every
 * replica: the app's own counts (it logs which replica answered each call) and the ambassador's
 * per-endpoint gRPC metrics say so, independently.
 */
export async function proveGrpcCallsSpreadOverReplicas(
  running: ExampleRun,
  replicas: string[],
): Promise<void> {
  const counts = await waitFor(
    `calls answered by ${replicas.join(', ')}`,
    async () => {
      const last = lastCallCounts(await running.logs('app'));
      return last && replicas.every((replica) => (last.byReplica[replica] ?? 0) >= 10) ? last : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1_000 },
  );
  expect(Object.keys(counts.byReplica).sort()).toEqual([...replicas].sort());
  expect(Object.values(counts.byReplica).reduce((sum, n) => sum + n, 0)).toBe(counts.ok);
  // Spread, not only reached: round robin gives each a third; none may have answered half.
  for (const [replica, answered] of Object.entries(counts.byReplica))
    expect(answered, replica).toBeLessThanOrEqual(counts.ok / 2);
  const metrics = await running.curl('http://127.0.0.1:9901/metrics');
  expect(metrics.status).toBe(200);
  const byEndpoint = grpcOkByEndpoint(metrics.body, 'greeters');
  expect(Object.keys(byEndpoint).sort()).toEqual(['127.0.0.1:50051', '127.0.0.1:50052', '127.0.0.1:50053']);
  for (const [endpoint, ok] of Object.entries(byEndpoint)) expect(ok, endpoint).toBeGreaterThanOrEqual(10);
}

interface ShardSnapshot {
  name: string;
  live: boolean;
  down: boolean;
}

/**
 * The app's one Redis (the ambassador on 127.0.0.1:6379) spreads keys over the three shards:
 * 300 keys written through it land on every shard and on one shard each, and one MGET through it
 * (split over the shards, merged in order) reads every value back. The example's own app (redis-cli
 * in a loop) gets its MGET answers too.
 */
export async function proveKeysShardedOverEveryShard(
  running: ExampleRun,
  shardAddresses: string[],
): Promise<void> {
  // Until the test's DNS is up, the shards' names do not resolve and the app's first commands fail:
  // a failed shard is "down" for up to 1 s, and ejected for serverRetryTimeoutMs (30 s) after
  // serverFailureLimit failures in a row. Wait until every shard takes commands again.
  await waitFor(
    'every shard live in /clusters',
    async () => {
      const response = await running.curl('http://127.0.0.1:9901/clusters');
      if (response.status !== 200) return false;
      const { clusters } = JSON.parse(response.body) as { clusters: Array<{ shards?: ShardSnapshot[] }> };
      const found = clusters.flatMap((cluster) => cluster.shards ?? []);
      return found.length === shardAddresses.length && found.every((shard) => shard.live && !shard.down);
    },
    { timeoutMs: 90_000, intervalMs: 1_000 },
  );
  const redis = (args: string[], input?: string) =>
    running.inNetns('redis-cli', args, input === undefined ? {} : { input });
  const keys = Array.from({ length: 300 }, (_, index) => `e2e:${running.kind}:key:${index}`);
  const values = keys.map((_, index) => `value-${index}`);
  const written = await redis(
    ['-h', '127.0.0.1', '-p', '6379'],
    `${keys.map((key, index) => `SET ${key} ${values[index]}`).join('\n')}\n`,
  );
  expect(written.stdout.trim().split('\n')).toEqual(keys.map(() => 'OK'));

  const onShards = [];
  for (const address of shardAddresses) {
    const scan = await redis([
      '-h',
      address,
      '-p',
      '6379',
      '--scan',
      '--pattern',
      `e2e:${running.kind}:key:*`,
    ]);
    onShards.push(scan.stdout.split('\n').filter((key) => key !== ''));
  }
  for (const [index, found] of onShards.entries())
    expect(found.length, `keys on shard ${shardAddresses[index]}`).toBeGreaterThan(0);
  const everywhere = onShards.flat();
  expect(everywhere).toHaveLength(keys.length);
  expect(new Set(everywhere)).toEqual(new Set(keys));

  const readBack = await redis(['-h', '127.0.0.1', '-p', '6379', 'MGET', ...keys]);
  expect(readBack.stdout.trim().split('\n')).toEqual(values);

  await waitFor('the app to read its keys through the ambassador', async () =>
    /alice\s+bob\s+carol/.test(await running.logs('app')),
  );
}
