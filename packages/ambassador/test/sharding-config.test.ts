import { parseConfig } from '@sidecar-kit/core';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../src/index.js';

const parse = (yaml: string) => parseConfig(yaml, configSchema);
const errorOf = (yaml: string): string => {
  try {
    parse(yaml);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
};

const redis = (sharding: string, listener = '') => `
listeners:
  - { name: r, listen: 127.0.0.1:6380, protocol: redis, cluster: cache${listener} }
clusters:
  - name: cache
    sharding:
${sharding}
`;

describe('sharding config', () => {
  it('takes twemproxy options with its defaults', () => {
    const config = parse(redis('      servers: ["10.0.0.1:6379:1 a", "10.0.0.2:6379:2 b"]'));
    expect(config.clusters[0]?.sharding).toMatchObject({
      distribution: 'ketama',
      hash: 'fnv1a_64',
      autoEjectHosts: false,
      serverFailureLimit: 2,
      serverRetryTimeoutMs: 30_000,
      timeoutMs: 1000,
      serverConnections: 1,
    });
    expect(config.listeners[0]?.limits.maxPendingReplies).toBe(4096);
  });

  it('names the problem: a bad server entry, duplicates, hash, distribution, hash tag', () => {
    expect(errorOf(redis('      servers: ["10.0.0.1:6379"]'))).toMatch(
      /servers.*expected "host:port:weight \[name\]"/s,
    );
    expect(errorOf(redis('      servers: ["a:1:1 x", "b:1:1 x"]'))).toMatch(/servers/);
    expect(errorOf(redis('      hash: sha1\n      servers: ["a:1:1"]'))).toMatch(/hash/);
    expect(errorOf(redis('      distribution: maglev\n      servers: ["a:1:1"]'))).toMatch(/distribution/);
    expect(errorOf(redis('      hashTag: "{"\n      servers: ["a:1:1"]'))).toMatch(/two characters/);
    expect(errorOf(redis('      servers: []'))).toMatch(/servers/);
  });

  it('takes a servers entry with its own tls (or tls: false), and names a bad one', () => {
    const config = parse(
      redis(`      tls: { ca: /ca.pem }
      servers:
        - { server: "10.0.0.1:6379:1 a", tls: { ca: /other-ca.pem, serverName: redis-a } }
        - { server: "10.0.0.2:6379:1 b", tls: false }
        - "10.0.0.3:6379:1 c"`),
    );
    expect(config.clusters[0]?.sharding?.servers).toEqual([
      {
        server: '10.0.0.1:6379:1 a',
        tls: { ca: '/other-ca.pem', serverName: 'redis-a', rejectUnauthorized: true },
      },
      { server: '10.0.0.2:6379:1 b', tls: false },
      '10.0.0.3:6379:1 c',
    ]);
    expect(errorOf(redis('      servers: [{ server: "a:1:1", tls: { cert: /c.pem } }]'))).toMatch(
      /servers\[0\]\.tls: cert and key go together/,
    );
    expect(errorOf(redis('      servers: [{ server: "a:1" }]'))).toMatch(/servers: server "a:1": expected/);
    expect(errorOf(redis('      servers: [{ address: "a:1:1" }]'))).toMatch(
      /servers\[0\]: expected "host:port:weight \[name\]" or \{ server/,
    );
    expect(errorOf(redis('      servers: [{ server: "a:1:1", tls: { cat: 1 } }]'))).toMatch(
      /servers\[0\]\.tls\.cat: unknown key/,
    );
  });

  it('pairs sharded listeners with sharding clusters only', () => {
    expect(
      errorOf(`
listeners: [{ name: r, listen: 127.0.0.1:6380, protocol: redis, cluster: web }]
clusters: [{ name: web, endpoints: ["10.0.0.1:80"] }]
`),
    ).toMatch(/redis listeners need a cluster with sharding/);
    expect(
      errorOf(`
listeners: [{ name: h, listen: 127.0.0.1:8080, cluster: cache }]
clusters: [{ name: cache, sharding: { servers: ["a:1:1"] } }]
`),
    ).toMatch(/it is a sharding cluster/);
    expect(
      errorOf(`
listeners: [{ name: m, listen: 127.0.0.1:11211, protocol: memcached, cluster: cache, password: x }]
clusters: [{ name: cache, sharding: { servers: ["a:1:1"], password: y } }]
`),
    ).toMatch(/only redis listeners take a client password[\s\S]*memcached shards have no password/);
    expect(
      errorOf(`
listeners: [{ name: r, listen: 127.0.0.1:6380, protocol: redis, cluster: cache }]
clusters: [{ name: cache, endpoints: ["10.0.0.1:80"], sharding: { servers: ["a:1:1"] } }]
`),
    ).toMatch(/exactly one of endpoints or discovery \(or sharding/);
  });
});
