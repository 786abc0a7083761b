/**
 * The redis listener against 3 real redis-server shards (and nutcracker for the routing comparison), 127.0.0.1
 * only: routing, multi-key split and merge, pipelining, refusals, a shard killed mid-pipeline, ejection and
 * return, malformed input, AUTH. No timing assertions: waits are polls with generous bounds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRespCommand, type RespReply, RespReplyParser } from '../src/protocol/resp.js';
import { KeyDistributor } from '../src/sharding/distribution.js';
import {
  HOST,
  RawClients,
  redisServer,
  type ServerProcess,
  type ShardedAmbassador,
  startNutcracker,
  startSharded,
} from './sharded-support.js';

const shards: ServerProcess[] = [];
let ambassador: ShardedAmbassador;
let specs: string[] = [];
let distributor: KeyDistributor;
let nutcracker: ServerProcess | undefined;
const clients = new RawClients(() => new RespReplyParser());

const cmd = (...args: (string | Buffer)[]) => encodeRespCommand(args);
const text = (reply: RespReply | undefined) => reply?.raw.toString('latin1') ?? '<none>';

const client = (port = ambassador.ports[0]!) => clients.open(port);

const direct = (index: number) => client(shards[index]!.port);

const SHARDING = (servers: string[], extra = '') => `
    sharding:
      distribution: ketama
      hash: fnv1a_64
      hashTag: "{}"
      timeoutMs: 2000
${extra}      servers:
${servers.map((spec) => `        - "${spec}"`).join('\n')}`;

beforeAll(async () => {
  for (let index = 0; index < 3; index++) shards.push(await redisServer());
  specs = shards.map((shard, index) => `${HOST}:${shard.port}:${index + 1} shard-${index}`);
  distributor = new KeyDistributor({
    servers: specs,
    distribution: 'ketama',
    hash: 'fnv1a_64',
    hashTag: '{}',
  });
  ambassador = await startSharded(`
listeners:
  - { name: redis, listen: 127.0.0.1:0, protocol: redis, cluster: cache }
  - name: redis-auth
    listen: 127.0.0.1:0
    protocol: redis
    cluster: cache-auth
    password: s3cret
    limits: { maxValueBytes: 1024, maxPendingReplies: 64 }
clusters:
  - name: cache${SHARDING(specs)}
  - name: cache-auth${SHARDING(specs)}
`);
  // nutcracker with the same pool, to compare routing.
  nutcracker = await startNutcracker(specs, [
    'redis: true',
    'hash: fnv1a_64',
    'distribution: ketama',
    'hash_tag: "{}"',
    'auto_eject_hosts: false',
  ]);
});

afterAll(async () => {
  clients.closeAll();
  await ambassador?.stop();
  await Promise.all([...shards, nutcracker].map((server) => server?.stop()));
});

describe('redis listener: routing', () => {
  it('puts each key on the shard KeyDistributor names, which is where nutcracker finds it', async () => {
    const proxy = await client();
    const keys = Array.from({ length: 600 }, (_, index) =>
      index % 3 === 0 ? `route:{user${index % 17}}:${index}` : `route:key:${index}:é`,
    );
    const replies = await proxy.exchange(
      Buffer.concat(keys.map((key) => cmd('SET', key, `v-${key}`))),
      keys.length,
    );
    expect(replies.map(text).filter((reply) => reply !== '+OK\r\n')).toEqual([]);
    const wrong: string[] = [];
    for (let index = 0; index < 3; index++) {
      const shard = await direct(index);
      const found = await shard.exchange(Buffer.concat(keys.map((key) => cmd('EXISTS', key))), keys.length);
      found.forEach((reply, at) => {
        const expected = distributor.serverIndexFor(keys[at]!) === index ? ':1\r\n' : ':0\r\n';
        if (text(reply) !== expected) wrong.push(`${keys[at]} on shard ${index}: ${text(reply)}`);
      });
    }
    expect(wrong).toEqual([]);
    // Every shard got some keys.
    expect(new Set(keys.map((key) => distributor.serverIndexFor(key))).size).toBe(3);
    // nutcracker reads each key from its own shard: it finds them all with the right values.
    const twemproxy = await client(nutcracker!.port);
    const viaNutcracker = await twemproxy.exchange(
      Buffer.concat(keys.map((key) => cmd('GET', key))),
      keys.length,
    );
    const missing = viaNutcracker.flatMap((reply, at) =>
      reply.kind === 'bulk' && reply.data?.toString() === `v-${keys[at]}`
        ? []
        : [`${keys[at]}: ${text(reply)}`],
    );
    expect(missing).toEqual([]);
  });

  it('splits MGET, MSET, DEL, EXISTS, TOUCH and UNLINK over the shards and merges in key order', async () => {
    const proxy = await client();
    const keys = Array.from({ length: 40 }, (_, index) => `m:${index}:k`);
    expect(new Set(keys.map((key) => distributor.serverIndexFor(key))).size).toBe(3);
    const msetArgs = keys.flatMap((key) => [key, `value-${key}`]);
    const [mset] = await proxy.exchange(cmd('MSET', ...msetArgs), 1);
    expect(text(mset)).toBe('+OK\r\n');
    const withMissing = [...keys.slice(0, 20), 'm:absent', ...keys.slice(20), keys[0]!];
    const [mget] = await proxy.exchange(cmd('MGET', ...withMissing), 1);
    expect(mget?.kind).toBe('aggregate');
    const values =
      mget?.kind === 'aggregate'
        ? (mget.items ?? []).map((item) => (item.kind === 'bulk' ? (item.data?.toString() ?? null) : '?'))
        : [];
    expect(values).toEqual(withMissing.map((key) => (key === 'm:absent' ? null : `value-${key}`)));
    const [exists, touch] = await proxy.exchange(
      Buffer.concat([cmd('EXISTS', ...keys, 'm:absent', keys[1]!), cmd('TOUCH', ...keys)]),
      2,
    );
    expect(text(exists)).toBe(':41\r\n');
    expect(text(touch)).toBe(':40\r\n');
    const [del, unlink, after] = await proxy.exchange(
      Buffer.concat([
        cmd('DEL', ...keys.slice(0, 20), 'm:absent'),
        cmd('UNLINK', ...keys.slice(20)),
        cmd('EXISTS', ...keys),
      ]),
      3,
    );
    expect([text(del), text(unlink), text(after)]).toEqual([':20\r\n', ':20\r\n', ':0\r\n']);
    // Wrong arity is answered, not forwarded.
    const [odd] = await proxy.exchange(cmd('MSET', 'a', 'b', 'c'), 1);
    expect(text(odd)).toMatch(/^-ERR wrong number of arguments for 'mset'/);
  });

  it('keeps 1,000 pipelined commands over all shards in order', async () => {
    const proxy = await client();
    const commands: Buffer[] = [];
    const expected: string[] = [];
    for (let index = 0; index < 1000; index++) {
      const key = `pipe:${Math.floor(index / 4) % 50}`;
      switch (index % 4) {
        case 0:
          commands.push(cmd('SET', key, String(index)));
          expected.push('+OK\r\n');
          break;
        case 1:
          commands.push(cmd('GET', key));
          expected.push(`$${String(index - 1).length}\r\n${index - 1}\r\n`);
          break;
        case 2:
          commands.push(cmd('PING'));
          expected.push('+PONG\r\n');
          break;
        default:
          commands.push(cmd('MGET', key, `pipe:${(index + 7) % 50}`, 'pipe:absent'));
          expected.push('MGET');
      }
    }
    const replies = await proxy.exchange(Buffer.concat(commands), commands.length);
    const bad = replies.flatMap((reply, index) => {
      if (expected[index] === 'MGET')
        return reply.kind === 'aggregate' && reply.items?.length === 3 ? [] : [`${index}: ${text(reply)}`];
      return text(reply) === expected[index]
        ? []
        : [`${index}: ${text(reply)} instead of ${expected[index]}`];
    });
    expect(bad).toEqual([]);
  });

  it('answers PING, ECHO, SELECT 0, inline commands and QUIT itself', async () => {
    const proxy = await client();
    const replies = await proxy.exchange(
      Buffer.concat([
        cmd('PING'),
        cmd('ping', 'hello'),
        cmd('ECHO', 'hi'),
        cmd('SELECT', '0'),
        Buffer.from('SET inline:key "a b"\r\nGET inline:key\r\n'),
      ]),
      6,
    );
    expect(replies.map(text)).toEqual([
      '+PONG\r\n',
      '$5\r\nhello\r\n',
      '$2\r\nhi\r\n',
      '+OK\r\n',
      '+OK\r\n',
      '$3\r\na b\r\n',
    ]);
    const [quit] = await proxy.exchange(cmd('QUIT'), 1);
    expect(text(quit)).toBe('+OK\r\n');
    await proxy.closed;
  });

  it('refuses unshardable commands with an error naming them, and sends nothing to the shards', async () => {
    const proxy = await client();
    const before = await Promise.all(
      [0, 1, 2].map(async (index) => {
        const [info] = await (await direct(index)).exchange(cmd('INFO', 'commandstats'), 1);
        return text(info);
      }),
    );
    let otherShardKey = 'refuse:b';
    for (let n = 0; distributor.serverIndexFor(otherShardKey) === distributor.serverIndexFor('refuse:a'); n++)
      otherShardKey = `refuse:b${n}`;
    const refused = [
      ['MULTI'],
      ['EXEC'],
      ['WATCH', 'k'],
      ['SUBSCRIBE', 'channel'],
      ['PUBLISH', 'channel', 'message'],
      ['KEYS', '*'],
      ['SCAN', '0'],
      ['FLUSHALL'],
      ['SELECT', '1'],
      ['CLUSTER', 'INFO'],
      ['BLPOP', 'list', '0'],
      ['CONFIG', 'GET', 'save'],
      ['EVAL', 'return 1', '0'],
      ['RENAME', 'refuse:a', otherShardKey],
      ['MSETNX', 'a', '1'],
    ];
    const replies = await proxy.exchange(Buffer.concat(refused.map((args) => cmd(...args))), refused.length);
    replies.forEach((reply, index) => {
      const name = refused[index]![0]!;
      expect(text(reply)).toMatch(/^-ERR /);
      expect(text(reply)).toContain(name === 'SELECT' ? 'SELECT 1' : name);
    });
    // Same-shard keys (a hash tag) are fine.
    const [rename] = await proxy.exchange(
      Buffer.concat([cmd('SET', '{r}:a', '1'), cmd('RENAME', '{r}:a', '{r}:b'), cmd('GET', '{r}:b')]),
      3,
    );
    expect(text(rename)).toBe('+OK\r\n');
    const after = await Promise.all(
      [0, 1, 2].map(async (index) => {
        const [info] = await (await direct(index)).exchange(cmd('INFO', 'commandstats'), 1);
        return text(info);
      }),
    );
    for (const name of [
      'multi',
      'exec',
      'subscribe',
      'keys',
      'scan',
      'flushall',
      'select',
      'cluster',
      'blpop',
      'config',
      'eval',
      'msetnx',
    ])
      for (let index = 0; index < 3; index++)
        expect(after[index]!.includes(`cmdstat_${name}:`)).toBe(before[index]!.includes(`cmdstat_${name}:`));
  });

  it('checks the client password: NOAUTH, WRONGPASS, then OK', async () => {
    const proxy = await client(ambassador.ports[1]);
    const replies = await proxy.exchange(
      Buffer.concat([
        cmd('GET', 'x'),
        cmd('AUTH', 'wrong'),
        cmd('AUTH', 's3cret'),
        cmd('SET', 'auth:x', '1'),
        cmd('GET', 'auth:x'),
      ]),
      5,
    );
    expect(replies.map(text)).toEqual([
      '-NOAUTH Authentication required.\r\n',
      '-WRONGPASS invalid username-password pair or user is disabled.\r\n',
      '+OK\r\n',
      '+OK\r\n',
      '$1\r\n1\r\n',
    ]);
    const open = await client();
    const [noPassword] = await open.exchange(cmd('AUTH', 'x'), 1);
    expect(text(noPassword)).toMatch(/^-ERR AUTH <password> called without any password configured/);
  });
});

describe('redis listener: bad input and limits', () => {
  it('answers malformed RESP with an error and closes the connection', async () => {
    const proxy = await client();
    const replies = await proxy.exchange(
      Buffer.concat([cmd('PING'), Buffer.from('*2\r\n$3\r\nGET\r\n:12\r\n')]),
      2,
    );
    expect(text(replies[0])).toBe('+PONG\r\n');
    expect(text(replies[1])).toMatch(/^-ERR Protocol error: /);
    await proxy.closed;
    // The ambassador is fine.
    const next = await client();
    expect(text((await next.exchange(cmd('PING'), 1))[0])).toBe('+PONG\r\n');
  });

  it('refuses a value over maxValueBytes and closes', async () => {
    const proxy = await client(ambassador.ports[1]);
    const replies = await proxy.exchange(
      Buffer.concat([cmd('AUTH', 's3cret'), cmd('SET', 'big', 'x'.repeat(2000))]),
      2,
    );
    expect(text(replies[0])).toBe('+OK\r\n');
    expect(text(replies[1])).toMatch(/^-ERR Protocol error: bulk of 2000 bytes, more than 1024/);
    await proxy.closed;
  });

  it('keeps answering in order when a client pipelines more than maxPendingReplies (reading pauses)', async () => {
    const proxy = await client(ambassador.ports[1]);
    const count = 1000; // limit 64
    const commands = [
      cmd('AUTH', 's3cret'),
      ...Array.from({ length: count }, (_, index) => cmd('ECHO', String(index))),
    ];
    const replies = await proxy.exchange(Buffer.concat(commands), commands.length);
    expect(replies.slice(1).map(text)).toEqual(
      Array.from({ length: count }, (_, index) => `$${String(index).length}\r\n${index}\r\n`),
    );
  });
});

describe('redis listener: shard failures', () => {
  let failing: ShardedAmbassador;
  const extraShards: ServerProcess[] = [];
  let failSpecs: string[] = [];
  let failDistributor: KeyDistributor;

  beforeAll(async () => {
    for (let index = 0; index < 3; index++) extraShards.push(await redisServer());
    failSpecs = extraShards.map((shard, index) => `${HOST}:${shard.port}:1 fail-${index}`);
    failDistributor = new KeyDistributor({ servers: failSpecs, distribution: 'ketama', hash: 'fnv1a_64' });
    failing = await startSharded(`
listeners:
  - { name: eject, listen: 127.0.0.1:0, protocol: redis, cluster: eject }
  - { name: noeject, listen: 127.0.0.1:0, protocol: redis, cluster: noeject }
clusters:
  - name: eject
    sharding:
      autoEjectHosts: true
      serverFailureLimit: 1
      serverRetryTimeoutMs: 1500
      timeoutMs: 1000
      servers: [${failSpecs.map((spec) => `"${spec}"`).join(', ')}]
  - name: noeject
    sharding:
      timeoutMs: 1000
      servers: [${failSpecs.map((spec) => `"${spec}"`).join(', ')}]
`);
  });

  afterAll(async () => {
    await failing?.stop();
    await Promise.all(extraShards.map((shard) => shard.stop()));
  });

  it('answers every pending command of a shard killed mid-pipeline with an error, in order; without ejection its keys fail fast', async () => {
    const proxy = await client(failing.ports[1]);
    // A key per shard.
    const keyOf = [0, 1, 2].map((index) => {
      for (let n = 0; ; n++) if (failDistributor.serverIndexFor(`k${n}`) === index) return `k${n}`;
    });
    // A slow script holds shard 1 busy while commands pile up behind it; then the shard dies.
    const victim = keyOf[1]!;
    const slow = cmd(
      'EVAL',
      'local t = redis.call("TIME") while true do local n = redis.call("TIME") if (n[1]-t[1])*1000000 + (n[2]-t[2]) > 300000 then break end end return 1',
      '1',
      victim,
    );
    const commands = [slow];
    for (let index = 0; index < 30; index++) commands.push(cmd('SET', keyOf[index % 3]!, String(index)));
    const pending = proxy.exchange(Buffer.concat(commands), commands.length);
    await sleep(50);
    await extraShards[1]!.stop();
    const replies = await pending;
    const shapes = replies.map((reply, index) => {
      const shard = index === 0 ? 1 : (index - 1) % 3;
      return `${shard}:${text(reply).startsWith('-ERR') ? 'error' : text(reply)}`;
    });
    expect(shapes).toEqual(
      commands.map((_, index) => {
        const shard = index === 0 ? 1 : (index - 1) % 3;
        return shard === 1 ? '1:error' : `${shard}:+OK\r\n`;
      }),
    );
    expect(replies.filter((reply) => text(reply).startsWith('-ERR')).map(text)[0]).toContain('fail-1');
    // Without ejection the dead shard's keys get an error, quickly, and the others work.
    const again = await proxy.exchange(Buffer.concat([cmd('GET', keyOf[1]!), cmd('GET', keyOf[0]!)]), 2);
    expect(text(again[0])).toMatch(/^-ERR shard fail-1/);
    expect(text(again[1])).toBe('$2\r\n27\r\n');
    await extraShards[1]!.start();
  });

  it('ejects a dead shard (its keys move to the others, the rest stay) and takes it back after serverRetryTimeoutMs', async () => {
    const proxy = await client(failing.ports[0]);
    const keys = Array.from({ length: 300 }, (_, index) => `ej:${index}`);
    await extraShards[2]!.stop();
    // The first command for the dead shard fails and ejects it; poll until every SET succeeds.
    let failures = -1;
    for (let attempt = 0; attempt < 50 && failures !== 0; attempt++) {
      const replies = await proxy.exchange(
        Buffer.concat(keys.map((key) => cmd('SET', key, 'x'))),
        keys.length,
      );
      failures = replies.filter((reply) => text(reply) !== '+OK\r\n').length;
      if (failures) await sleep(20);
    }
    expect(failures).toBe(0);
    const ejected = new KeyDistributor({ servers: failSpecs, distribution: 'ketama', hash: 'fnv1a_64' });
    ejected.eject(2);
    // ketama: only the dead shard's keys moved.
    for (const key of keys) {
      const before = failDistributor.serverIndexFor(key);
      if (before !== 2) expect(ejected.serverIndexFor(key)).toBe(before);
    }
    const snapshot = await failing.clusters();
    const shardsView = snapshot.clusters.find((cluster) => cluster.name === 'eject')?.shards ?? [];
    expect(shardsView.map((shard) => shard.live)).toEqual([true, true, false]);
    expect(shardsView[2]?.ejections).toBe(1);
    const metrics = await failing.metrics();
    expect(metrics).toMatch(/shard_ejections_total\{cluster="eject",shard="fail-2"\} 1/);
    expect(metrics).toMatch(/shard_requests_total\{cluster="eject",shard="fail-0"\} \d+/);
    expect(metrics).toMatch(/shard_request_duration_seconds_count\{cluster="eject",shard="fail-0"\} \d+/);
    // Back: after the retry timeout the shard returns and its keys go to it again.
    await extraShards[2]!.start();
    let live = false;
    for (let attempt = 0; attempt < 200 && !live; attempt++) {
      await sleep(50);
      const view =
        (await failing.clusters()).clusters.find((cluster) => cluster.name === 'eject')?.shards ?? [];
      live = view[2]?.live === true;
    }
    expect(live).toBe(true);
    const onTwo = keys.filter((key) => failDistributor.serverIndexFor(key) === 2);
    const replies = await proxy.exchange(
      Buffer.concat(onTwo.map((key) => cmd('SET', key, 'back'))),
      onTwo.length,
    );
    expect(replies.map(text).filter((reply) => reply !== '+OK\r\n')).toEqual([]);
    const shardTwo = await client(extraShards[2]!.port);
    const values = await shardTwo.exchange(Buffer.concat(onTwo.map((key) => cmd('GET', key))), onTwo.length);
    expect(values.map(text).filter((value) => value !== '$4\r\nback\r\n')).toEqual([]);
  });
});
