/**
 * Per-shard TLS: one cluster with a TLS-only redis-server shard and a plain one, against real redis-servers on
 * 127.0.0.1. A `servers:` entry's own `tls` replaces the cluster's; `tls: false` makes one shard plain.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRespCommand, type RespReply, RespReplyParser } from '../src/protocol/resp.js';
import { KeyDistributor } from '../src/sharding/distribution.js';
import {
  HOST,
  RawClient,
  redisServer,
  type ServerProcess,
  type ShardedAmbassador,
  startSharded,
  tlsRedisServer,
  writeTestCertificates,
} from './sharded-support.js';

let dir = '';
let secure: ServerProcess;
let plain: ServerProcess;
let ambassador: ShardedAmbassador;
let specs: string[] = [];
const cmd = (...args: string[]) => encodeRespCommand(args);
const text = (reply: RespReply | undefined) => reply?.raw.toString('latin1') ?? '<none>';

/** A key of each shard (index 0: secure, 1: plain), as the cluster distributes them. */
function keysByShard(): [string, string] {
  const distributor = new KeyDistributor({ servers: specs });
  const found: (string | undefined)[] = [undefined, undefined];
  for (let index = 0; found.includes(undefined); index++) {
    const key = `tls-mix:${index}`;
    found[distributor.serverIndexFor(key)!] ??= key;
  }
  return found as [string, string];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redis-shard-tls-'));
  // TLS only: a plain connection to it gets nowhere.
  secure = await tlsRedisServer(writeTestCertificates(dir));
  plain = await redisServer();
  specs = [`${HOST}:${secure.port}:1 secure`, `${HOST}:${plain.port}:1 plain`];
  const ca = join(dir, 'ca.crt');
  ambassador = await startSharded(`
listeners:
  - { name: own-tls, listen: 127.0.0.1:0, protocol: redis, cluster: own-tls }
  - { name: tls-off, listen: 127.0.0.1:0, protocol: redis, cluster: tls-off }
clusters:
  - name: own-tls
    sharding:
      servers:
        - { server: "${specs[0]}", tls: { ca: "${ca}", serverName: redis.test } }
        - "${specs[1]}"
  - name: tls-off
    sharding:
      tls: { ca: "${ca}" }
      servers:
        - "${specs[0]}"
        - { server: "${specs[1]}", tls: false }
`);
});

afterAll(async () => {
  await ambassador?.stop();
  await secure?.stop();
  await plain?.stop();
});

describe('redis listener: TLS per shard', () => {
  it.each([
    ['a server entry with its own tls next to a plain one', 0],
    ['cluster tls with tls: false on one server', 1],
  ])('serves keys of a TLS shard and a plain shard in one cluster (%s)', async (_case, listener) => {
    const [secureKey, plainKey] = keysByShard();
    const proxy = await RawClient.open(ambassador.ports[listener]!, new RespReplyParser());
    const value = `v${listener}`;
    const replies = await proxy.exchange(
      Buffer.concat([
        cmd('SET', secureKey, `${value}-secure`),
        cmd('SET', plainKey, `${value}-plain`),
        cmd('MGET', secureKey, plainKey),
      ]),
      3,
    );
    expect(replies.map(text)).toEqual([
      '+OK\r\n',
      '+OK\r\n',
      `*2\r\n$9\r\n${value}-secure\r\n$8\r\n${value}-plain\r\n`,
    ]);
    proxy.close();
    // Each key is on the shard the distribution names: the plain redis-server has only the plain one.
    const direct = await RawClient.open(plain.port, new RespReplyParser());
    const [onPlain, notOnPlain] = await direct.exchange(
      Buffer.concat([cmd('GET', plainKey), cmd('EXISTS', secureKey)]),
      2,
    );
    expect([text(onPlain), text(notOnPlain)]).toEqual([`$8\r\n${value}-plain\r\n`, ':0\r\n']);
    direct.close();
  });

  it('shows which shards use TLS on the admin /clusters page', async () => {
    const { clusters } = await ambassador.clusters();
    const tlsOf = (name: string) =>
      clusters.find((cluster) => cluster.name === name)?.shards?.map((shard) => [shard.name, shard.tls]);
    expect(tlsOf('own-tls')).toEqual([
      ['secure', true],
      ['plain', false],
    ]);
    expect(tlsOf('tls-off')).toEqual([
      ['secure', true],
      ['plain', false],
    ]);
  });
});
