/**
 * Shard TLS and shard AUTH against a real redis-server with TLS and requirepass (127.0.0.1 only).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRespCommand, type RespReply, RespReplyParser } from '../src/protocol/resp.js';
import {
  HOST,
  RawClient,
  type ServerProcess,
  type ShardedAmbassador,
  startSharded,
  tlsRedisServer,
  writeTestCertificates,
} from './sharded-support.js';

let dir = '';
let shard: ServerProcess;
let ambassador: ShardedAmbassador;
const cmd = (...args: string[]) => encodeRespCommand(args);
const text = (reply: RespReply | undefined) => reply?.raw.toString('latin1') ?? '<none>';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  shard = await tlsRedisServer(writeTestCertificates(dir), ['--requirepass', 'shard-pw']);
  const servers = `["${HOST}:${shard.port}:1 secure"]`;
  ambassador = await startSharded(`
listeners:
  - { name: good, listen: 127.0.0.1:0, protocol: redis, cluster: good }
  - { name: badpass, listen: 127.0.0.1:0, protocol: redis, cluster: badpass }
clusters:
  - name: good
    sharding: { password: shard-pw, tls: { ca: "${join(dir, 'ca.crt')}" }, servers: ${servers} }
  - name: badpass
    sharding: { password: wrong, tls: { ca: "${join(dir, 'ca.crt')}" }, servers: ${servers} }
`);
});

afterAll(async () => {
  await ambassador?.stop();
  await shard?.stop();
});

describe('redis listener: shard TLS and AUTH', () => {
  it('reaches a TLS shard that requires a password', async () => {
    const proxy = await RawClient.open(ambassador.ports[0]!, new RespReplyParser());
    const replies = await proxy.exchange(
      Buffer.concat([cmd('SET', 'tls:key', 'secret'), cmd('GET', 'tls:key')]),
      2,
    );
    expect(replies.map(text)).toEqual(['+OK\r\n', '$6\r\nsecret\r\n']);
    proxy.close();
  });

  it('a wrong shard password fails the commands with an error naming the shard', async () => {
    const proxy = await RawClient.open(ambassador.ports[1]!, new RespReplyParser());
    const [reply] = await proxy.exchange(cmd('GET', 'tls:key'), 1);
    expect(text(reply)).toMatch(/^-ERR shard secure: AUTH failed: -WRONGPASS/);
    proxy.close();
  });
});
