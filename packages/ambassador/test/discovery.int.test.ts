import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/elasticsearch.js';
import { getJson, type RunningAmbassador, startAmbassador, Upstream, waitFor } from './helpers.js';

let ambassador: RunningAmbassador | undefined;
let upstreams: Upstream[] = [];
let dnsmasq: ChildProcess | undefined;
afterEach(async () => {
  await ambassador?.stop();
  for (const upstream of upstreams) await upstream.kill();
  dnsmasq?.kill();
  ambassador = undefined;
  upstreams = [];
  dnsmasq = undefined;
});

async function spread(url: string, requests: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < requests; i++) seen.add(String((await getJson(url)).body['upstream']));
  return seen;
}

/** Writes a ConfigMap-style volume: the file is a symlink through `..data`, swapped atomically. */
function configMapVolume(dir: string) {
  let version = 0;
  const write = (addresses: string[]) => {
    version++;
    const data = join(dir, `..2026_11_24_${version}`);
    mkdirSync(data);
    writeFileSync(
      join(data, 'endpoints.yaml'),
      `endpoints:\n${addresses.map((a) => `  - "${a}"`).join('\n')}\n`,
    );
    symlinkSync(`..2026_11_24_${version}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  return { write };
}

describe('discovery', () => {
  it('file: applies a ConfigMap symlink swap without dropping the request in flight; the removed endpoint drains', async () => {
    const slow = await new Upstream('u0', (_request, response) =>
      setTimeout(() => response.end(JSON.stringify({ upstream: 'u0' })), 700),
    ).start();
    const fresh = await new Upstream('u1').start();
    upstreams = [slow, fresh];
    const dir = mkdtempSync(join(tmpdir(), 'ambassador-cm-'));
    const volume = configMapVolume(dir);
    volume.write([slow.address]);
    symlinkSync('..data/endpoints.yaml', join(dir, 'endpoints.yaml'));
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters: [{ name: web, discovery: { file: { path: ${join(dir, 'endpoints.yaml')}, pollMs: 60000 } } }]`);
    const url = `${ambassador.urls[0]}/`;
    const inFlight = getJson(url);
    await new Promise((resolve) => setTimeout(resolve, 150));
    volume.write([fresh.address]);
    const current = ambassador;
    const draining = await waitFor(async () => {
      const cluster = (await current.clusters()).clusters[0];
      return cluster?.endpoints[0]?.address === fresh.address ? cluster : undefined;
    }, 10_000);
    expect(draining.draining.map((endpoint) => endpoint.address)).toEqual([slow.address]);
    expect(await inFlight).toMatchObject({ status: 200, body: { upstream: 'u0' } });
    expect(await spread(url, 10)).toEqual(new Set(['u1']));
    await waitFor(async () => (await current.clusters()).clusters[0]?.draining.length === 0, 10_000);
    // The drained endpoint's series are gone: endpoint churn cannot grow the metrics.
    const metrics = await (await request(`${ambassador.admin}/metrics`)).body.text();
    expect(metrics).toContain(`endpoint="${fresh.address}"`);
    expect(metrics).not.toContain(`endpoint="${slow.address}"`);
  });

  it('file: an invalid update keeps the last good endpoints', async () => {
    upstreams = [await new Upstream('u0').start()];
    const dir = mkdtempSync(join(tmpdir(), 'ambassador-file-'));
    const file = join(dir, 'endpoints.yaml');
    writeFileSync(file, `- "${upstreams[0]?.address}"\n`);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters: [{ name: web, discovery: { file: { path: ${file}, pollMs: 100 } } }]`);
    writeFileSync(file, '- "not an address"\n');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await spread(`${ambassador.urls[0]}/`, 3)).toEqual(new Set(['u0']));
  });

  it('dns: follows the A records of a real DNS server (dnsmasq on 127.0.0.1)', async () => {
    const first = await new Upstream('a', undefined, '127.0.0.2').start();
    const port = first.port;
    const second = new Upstream('b', undefined, '127.0.0.3');
    second.port = port;
    const third = new Upstream('c', undefined, '127.0.0.4');
    third.port = port;
    await second.start();
    await third.start();
    upstreams = [first, second, third];
    const dir = mkdtempSync(join(tmpdir(), 'ambassador-dns-'));
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, '127.0.0.2 backend.test\n127.0.0.3 backend.test\n');
    const dnsPort = await freePort();
    dnsmasq = spawn(
      'dnsmasq',
      [
        '--keep-in-foreground',
        '--no-resolv',
        '--no-hosts',
        `--addn-hosts=${hosts}`,
        `--port=${dnsPort}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        `--user=${userInfo().username}`,
        '--pid-file=',
        '--local-ttl=0',
        '--no-negcache',
      ],
      { stdio: 'inherit' },
    );
    const started = await Promise.race([
      new Promise<Error>((resolve) => dnsmasq?.once('error', resolve)),
      new Promise((resolve) => setTimeout(resolve, 300)),
    ]);
    if (started instanceof Error) throw new Error(`dnsmasq could not be started: ${started.message}`);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: web }]
clusters:
  - name: web
    discovery: { dns: { name: backend.test, port: ${port}, refreshMs: 200, server: "127.0.0.1:${dnsPort}" } }`);
    const url = `${ambassador.urls[0]}/`;
    expect(await spread(url, 10)).toEqual(new Set(['a', 'b']));
    writeFileSync(hosts, '127.0.0.3 backend.test\n127.0.0.4 backend.test\n');
    dnsmasq.kill('SIGHUP');
    const current = ambassador;
    await waitFor(async () => {
      const addresses = (await current.clusters()).clusters[0]?.endpoints.map((e) => e.address).join(',');
      return addresses === `127.0.0.3:${port},127.0.0.4:${port}`;
    }, 10_000);
    expect(await spread(url, 10)).toEqual(new Set(['b', 'c']));
    const metrics = await (await request(`${ambassador.admin}/metrics`)).body.text();
    expect(metrics).toContain('ambassador_cluster_endpoints{cluster="web"} 2');
  });
});
