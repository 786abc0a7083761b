import { describe, expect, it } from 'vitest';
import {
  KeyDistributor,
  ketamaPointsForServer,
  parseShardServer,
  ShardingConfigError,
} from '../src/sharding/distribution.js';
import { HASH_NAMES, type HashName, KEY_HASHES } from '../src/sharding/hash.js';

/** Keys: empty, short, long, and one with bytes >= 0x80 (sign-extended by twemproxy's `char`). */
const VECTOR_KEYS = [
  '',
  'a',
  'foo',
  'user:1000',
  'Four score and seven years ago',
  Buffer.from([0xc3, 0xa9, 0x80, 0xff, 0x01]).toString('latin1'),
];

/**
 * Regression vectors. The implementation that produced them placed 10,000 keys per hash exactly where nutcracker
 * 0.5.0 did (sharding-compat.int.test.ts); the textbook values (crc32a, fnv1*_32) match published test vectors.
 */
const VECTORS: Record<HashName, number[]> = {
  one_at_a_time: [0, 3392050242, 596015325, 3043211087, 1431610783, 2672133223],
  md5: [3649838548, 3111502092, 3675831724, 781738503, 2223163531, 4098489818],
  crc16: [0, 31879, 205303702, 3781445233, 3194004975, 1225714927],
  crc32: [0, 26807, 3187, 8052, 15614, 24034],
  crc32a: [0, 3904355907, 2356372769, 2675185635, 1023316920, 1575151101],
  fnv1_64: [2216829733, 2248259518, 1805727027, 3550362913, 3458729158, 3996201743],
  fnv1a_64: [2216829733, 2248273036, 4275688823, 2927313545, 428316748, 454591839],
  fnv1_32: [2166136261, 84696446, 1083137555, 2796551329, 2915549798, 1959400143],
  fnv1a_32: [2166136261, 3826002220, 2851307223, 1350311305, 3691133324, 758236191],
  hsieh: [0, 2472816263, 1993659431, 3723237737, 207602056, 3204828843],
  murmur: [0, 1262581116, 3303027599, 2384768711, 1718398639, 2859674251],
  jenkins: [3735928572, 3768813200, 2583187353, 76303748, 448292786, 1882894726],
};

function lowHalfOf64BitFnv(key: Buffer, alternate: boolean): number {
  let hash = 0xcbf29ce484222325n;
  for (const byte of key) {
    if (alternate) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
    else hash = ((hash * 0x100000001b3n) & 0xffffffffffffffffn) ^ BigInt(byte);
  }
  return Number(hash & 0xffffffffn);
}

describe('twemproxy key hashes', () => {
  it.each(HASH_NAMES.map((name) => [name]))('%s gives the recorded 32-bit values', (name) => {
    expect(VECTOR_KEYS.map((key) => KEY_HASHES[name](Buffer.from(key, 'latin1')))).toEqual(VECTORS[name]);
  });

  it('match textbook vectors where twemproxy is textbook', () => {
    expect(KEY_HASHES.crc32a(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(KEY_HASHES.fnv1a_32(Buffer.from('a'))).toBe(0xe40c292c);
    expect(KEY_HASHES.fnv1_32(Buffer.from('a'))).toBe(0x050c5d7e);
    // fnv1*_64 are the low 32 bits of 64-bit FNV for ASCII keys (bytes >= 0x80 are sign-extended instead).
    for (const key of ['a', 'foo', 'user:1000', 'Four score and seven years ago']) {
      expect(KEY_HASHES.fnv1_64(Buffer.from(key))).toBe(lowHalfOf64BitFnv(Buffer.from(key), false));
      expect(KEY_HASHES.fnv1a_64(Buffer.from(key))).toBe(lowHalfOf64BitFnv(Buffer.from(key), true));
    }
    expect(KEY_HASHES.crc32(Buffer.from('123456789'))).toBe((0xcbf43926 >>> 16) & 0x7fff);
  });
});

describe('servers list', () => {
  it('parses host:port:weight [name] like twemproxy, with the ketama identity it hashes', () => {
    expect(parseShardServer('127.0.0.1:6379:1')).toEqual({
      address: '127.0.0.1:6379',
      host: '127.0.0.1',
      port: 6379,
      weight: 1,
      name: undefined,
      ketamaIdentity: '127.0.0.1:6379',
    });
    expect(parseShardServer('10.0.0.1:11211:2').ketamaIdentity).toBe('10.0.0.1');
    expect(parseShardServer('cache-1.svc:6380:3 shard-a')).toMatchObject({
      host: 'cache-1.svc',
      name: 'shard-a',
      ketamaIdentity: 'shard-a',
    });
    expect(parseShardServer('/var/run/redis.sock:4 local')).toMatchObject({
      address: '/var/run/redis.sock',
      port: 0,
      weight: 4,
    });
    expect(parseShardServer('::1:6379:1')).toMatchObject({ host: '::1', port: 6379 });
    // twemproxy's name arithmetic keeps the colon after a unix socket path.
    expect(parseShardServer('/var/run/redis.sock:4').ketamaIdentity).toBe('/var/run/redis.sock:');
  });

  it.each(['127.0.0.1:6379', '127.0.0.1:6379:0', '127.0.0.1:99999:1', 'host:x:1', 'host:6379:-1', ':6379:1'])(
    'refuses %j',
    (spec) => {
      expect(() => parseShardServer(spec)).toThrow(ShardingConfigError);
    },
  );

  it('refuses duplicate identities, an empty list, unknown hashes and bad hash tags', () => {
    expect(() => new KeyDistributor({ servers: ['a:1:1 same', 'b:2:1 same'] })).toThrow(/two servers/);
    expect(() => new KeyDistributor({ servers: [] })).toThrow(ShardingConfigError);
    expect(() => new KeyDistributor({ servers: ['a:1:1'], hash: 'sha1' as HashName })).toThrow(
      ShardingConfigError,
    );
    expect(() => new KeyDistributor({ servers: ['a:1:1'], hashTag: '{' })).toThrow(/two characters/);
  });
});

const THREE = ['10.0.0.1:6379:1', '10.0.0.2:6379:1', '10.0.0.3:6379:1'];
const keys = Array.from({ length: 10_000 }, (_unused, index) => `key:${index}`);

describe('KeyDistributor', () => {
  it('ketama points: 160 per server at equal weights, twemproxy float rounding otherwise', () => {
    expect(ketamaPointsForServer(1, 3, 3)).toBe(160);
    expect([1, 2, 3].map((weight) => ketamaPointsForServer(weight, 6, 3))).toEqual([80, 160, 240]);
    // Double arithmetic would give 32 and 256: twemproxy's floats give 28 and 252 (proven against nutcracker).
    expect([1, 8].map((weight) => ketamaPointsForServer(weight, 25, 5))).toEqual([28, 252]);
  });

  it('hash_tag hashes only the non-empty part between the two characters', () => {
    const distributor = new KeyDistributor({ servers: THREE, hashTag: '{}' });
    const part = (key: string) => Buffer.from(distributor.hashedPart(key)).toString();
    expect(part('{user42}:profile')).toBe('user42');
    expect(part('a{b}c{d}')).toBe('b');
    expect(part('{}x')).toBe('{}x');
    expect(part('a{b')).toBe('a{b');
    expect(part('a}b{')).toBe('a}b{');
    expect(distributor.serverIndexFor('{user42}:profile')).toBe(
      distributor.serverIndexFor('{user42}:orders'),
    );
    expect(distributor.hashOf('')).toBe(0);
  });

  it('spreads keys by weight with ketama and modula, and ignores weights with random', () => {
    const weighted = ['10.0.0.1:6379:1', '10.0.0.2:6379:2', '10.0.0.3:6379:3'];
    for (const distribution of ['ketama', 'modula'] as const) {
      // md5: fnv1a_64 (32-bit FNV with a small prime) has weak low bits, so hash % 6 of sequential keys is lumpy.
      const distributor = new KeyDistributor({ servers: weighted, distribution, hash: 'md5' });
      const counts = [0, 0, 0];
      for (const key of keys) counts[distributor.serverIndexFor(key)!]!++;
      const tolerance = distribution === 'ketama' ? 0.1 : 0.02;
      counts.forEach((count, index) => {
        expect(Math.abs(count / keys.length - (index + 1) / 6)).toBeLessThan(tolerance);
      });
    }
    let turn = 0;
    const sequence = [0.1, 0.5, 0.9];
    const random = new KeyDistributor({
      servers: weighted,
      distribution: 'random',
      random: () => sequence[turn++ % 3]!,
    });
    expect([random.serverIndexFor('x'), random.serverIndexFor('x'), random.serverIndexFor('x')]).toEqual([
      0, 1, 2,
    ]);
  });

  it('modula follows twemproxy order (servers sorted by identity, shorter first), reported as list indexes', () => {
    const distributor = new KeyDistributor({
      servers: ['10.0.0.1:1:1 zz', '10.0.0.2:1:1 y'],
      distribution: 'modula',
    });
    for (const key of keys.slice(0, 200)) {
      const slot = distributor.hashOf(key) % 2;
      expect(distributor.serverIndexFor(key)).toBe(slot === 0 ? 1 : 0);
    }
  });

  it('ketama ejection moves only the ejected server keys, and restore moves them back', () => {
    const distributor = new KeyDistributor({ servers: THREE });
    const before = keys.map((key) => distributor.serverIndexFor(key));
    expect(distributor.eject(1)).toBe(true);
    expect(distributor.eject(1)).toBe(false);
    expect(distributor.liveServerIndexes()).toEqual([0, 2]);
    const after = keys.map((key) => distributor.serverIndexFor(key));
    keys.forEach((_key, index) => {
      if (before[index] === 1) expect(after[index]).not.toBe(1);
      else expect(after[index]).toBe(before[index]);
    });
    expect(distributor.restore(1)).toBe(true);
    expect(keys.map((key) => distributor.serverIndexFor(key))).toEqual(before);
  });

  it('answers undefined when every server is ejected; one server takes every key', () => {
    const distributor = new KeyDistributor({ servers: THREE, distribution: 'modula' });
    for (const index of [0, 1, 2]) distributor.eject(index);
    expect(distributor.serverIndexFor('k')).toBeUndefined();
    expect(distributor.serverFor('k')).toBeUndefined();
    const single = new KeyDistributor({ servers: ['10.0.0.1:6379:1'] });
    expect(single.serverFor('anything')?.address).toBe('10.0.0.1:6379');
    expect(() => single.eject(5)).toThrow(RangeError);
  });
});
