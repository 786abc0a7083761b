import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { type Component, component, type SidecarDefinition } from '@sidecar-kit/core';
import { mergeClusterSnapshots } from './admin/clusters.js';
import { type AmbassadorStatusSources, ambassadorStatus } from './admin/status.js';
import { Cluster } from './cluster/cluster.js';
import { configSchema } from './config.js';
import { DnsDiscovery } from './discovery/dns.js';
import { FileDiscovery } from './discovery/file.js';
import { HealthChecker } from './health/checker.js';
import { HttpListener } from './listener/http.js';
import { createMemcachedPool, MemcachedListener } from './listener/memcached.js';
import { createRedisPool, RedisListener } from './listener/redis.js';
import { TcpListener } from './listener/tcp.js';
import { AmbassadorMetrics } from './metrics.js';
import type { MemcachedReply } from './protocol/memcached.js';
import type { RespReply } from './protocol/resp.js';
import type { ShardPool } from './sharding/pool.js';

export {
  type AmbassadorStatusSources,
  ambassadorStatus,
  formatLatency,
  latencyQuantile,
} from './admin/status.js';
export { Cluster, type ClusterEvents } from './cluster/cluster.js';
export { Endpoint } from './cluster/endpoint.js';
export { Lease } from './cluster/lease.js';
export {
  type AmbassadorConfig,
  type ClusterConfig,
  configSchema,
  type ListenerConfig,
} from './config.js';
export { DnsDiscovery } from './discovery/dns.js';
export { FileDiscovery, parseEndpointsFile } from './discovery/file.js';
export {
  AmbassadorError,
  BadRequestError,
  CircuitOpenError,
  ClientClosedError,
  ClientRequestError,
  type FailureKind,
  NoHealthyUpstreamError,
  RequestBodyTimeoutError,
  RetryBudgetExhaustedError,
  TooManyHeadersError,
  UpstreamConnectError,
  UpstreamFailure,
  UpstreamResetError,
  UpstreamStatusError,
  UpstreamTimeoutError,
  UriTooLongError,
} from './errors.js';
export { HealthChecker } from './health/checker.js';
export { hashKey, RingHash } from './lb/index.js';
export { RequestBuffers } from './listener/body.js';
export { forwardHeaders } from './listener/headers.js';
export { HttpListener } from './listener/http.js';
export { MemcachedListener } from './listener/memcached.js';
export { RedisListener } from './listener/redis.js';
export { TcpListener } from './listener/tcp.js';
export { AmbassadorMetrics } from './metrics.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export const definition: SidecarDefinition<typeof configSchema> = {
  name: 'ambassador',
  version,
  description: 'a localhost proxy in the Pod that spreads the app’s requests over a service cluster',
  schema: configSchema,
  workers: (config) => (config.workers === 'auto' ? availableParallelism() : config.workers),
  mergeStatus: { '/clusters': mergeClusterSnapshots },
  help: 'Config reference: https://github.com/sidecar-kit/sidecar-kit/tree/main/packages/ambassador#configuration',
  create: ({ config, logger, registry, metricPrefix, readiness, addStatusRoute, setStatusPage }) => {
    const metrics = new AmbassadorMetrics(registry, metricPrefix);
    const clusters = new Map<string, Cluster>();
    const components: Component[] = [];
    const statusClusters: AmbassadorStatusSources['clusters'][number][] = [];
    const statusListeners: AmbassadorStatusSources['listeners'][number][] = [];
    // Sharding clusters (redis/memcached listeners) have shards, not a balanced endpoint set.
    const pools = new Map<
      string,
      | { protocol: 'redis'; pool: ShardPool<RespReply> }
      | { protocol: 'memcached'; pool: ShardPool<MemcachedReply> }
    >();
    for (const clusterConfig of config.clusters) {
      const sharding = clusterConfig.sharding;
      if (sharding === undefined) continue;
      const protocol = config.listeners.find((l) => l.cluster === clusterConfig.name)?.protocol;
      const entry =
        protocol === 'memcached'
          ? { protocol, pool: createMemcachedPool(clusterConfig.name, sharding, logger) }
          : { protocol: 'redis' as const, pool: createRedisPool(clusterConfig.name, sharding, logger) };
      const pool: ShardPool<unknown> = entry.pool;
      pools.set(clusterConfig.name, entry);
      metrics.trackShards(pool);
      components.push(
        component(
          `cluster ${clusterConfig.name}`,
          async () => {},
          async () => pool.close(),
        ),
      );
    }
    for (const clusterConfig of config.clusters) {
      if (clusterConfig.sharding !== undefined) continue;
      const cluster = new Cluster(clusterConfig, logger);
      clusters.set(cluster.name, cluster);
      metrics.track(cluster);
      const tcpOnly = config.listeners.some((l) => l.cluster === cluster.name && l.protocol === 'tcp');
      const checker = new HealthChecker(cluster, tcpOnly);
      const discovery = clusterConfig.discovery?.dns
        ? new DnsDiscovery(cluster, clusterConfig.discovery.dns, logger)
        : clusterConfig.discovery?.file
          ? new FileDiscovery(cluster, clusterConfig.discovery.file, logger)
          : undefined;
      statusClusters.push({ cluster, checker, discovery });
      readiness.register(`cluster ${cluster.name}`, () =>
        cluster.discovered && cluster.endpoints.length > 0 ? true : 'no endpoints discovered yet',
      );
      components.push(
        component(
          `cluster ${cluster.name}`,
          async () => {
            // A DNS or file problem at start must not keep the listener down: discovery retries.
            await discovery?.start().catch((error: Error) => {
              logger.warn({ cluster: cluster.name, error: error.message }, 'discovery failed at start');
            });
            checker.start();
          },
          async (deadline) => {
            discovery?.stop();
            await checker.stop();
            await cluster.close(deadline);
          },
        ),
      );
    }
    for (const listenerConfig of config.listeners) {
      const sharded = pools.get(listenerConfig.cluster);
      if (sharded !== undefined) {
        const listener =
          sharded.protocol === 'memcached'
            ? new MemcachedListener(listenerConfig, sharded.pool, metrics, logger)
            : new RedisListener(listenerConfig, sharded.pool, metrics, logger);
        readiness.register(listener.name, () => (listener.address() ? true : 'not listening'));
        components.push(listener);
        continue;
      }
      const cluster = clusters.get(listenerConfig.cluster) as Cluster;
      const listener =
        listenerConfig.protocol === 'tcp'
          ? new TcpListener(listenerConfig, cluster, metrics, logger)
          : new HttpListener(listenerConfig, cluster, metrics, logger);
      readiness.register(listener.name, () => (listener.address() ? true : 'not listening'));
      statusListeners.push({ config: listenerConfig, address: () => listener.address() });
      components.push(listener);
    }
    addStatusRoute('/clusters', () => ({
      clusters: [
        ...[...clusters.values()].map((cluster) => cluster.snapshot()),
        ...[...pools.values()].map((sharded) => sharded.pool.snapshot()),
      ],
    }));
    setStatusPage(() => ambassadorStatus({ listeners: statusListeners, clusters: statusClusters, metrics }));
    return components;
  },
};
// Foundation of the Redis/memcached sharding listeners (twemproxy-compatible): see docs/sharding.md.
export * from './protocol/index.js';
export * from './sharding/index.js';
