import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type EsServer, startElasticsearch } from '../../support/elasticsearch.js';
import { background, run, waitFor } from './exec.js';

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

/** DNS for the Pod: dnsmasq on the namespace's 127.0.0.1:53 (c-ares' default without resolv.conf). */
export function startPodDns(pid: number, name: string, addresses: string[]): { stop: () => Promise<void> } {
  const hosts = join(tmpdir(), `sidecar-kit-e2e-hosts-${pid}`);
  writeFileSync(hosts, addresses.map((address) => `${address} ${name}\n`).join(''));
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
    `--addn-hosts=${hosts}`,
    '--user=root',
    '--local-ttl=1',
  ]);
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
  const { readFileSync } = await import('node:fs');
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

export async function volumeMountpoint(volume: string): Promise<string> {
  return (await run('podman', ['volume', 'inspect', volume, '--format', '{{.Mountpoint}}'])).stdout.trim();
}
