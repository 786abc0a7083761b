import { byteSize, listenAddress, parseListenAddress, runtimeSections, z } from '@sidecar-kit/core';
import { DISTRIBUTION_NAMES, KeyDistributor, ShardingConfigError } from './sharding/distribution.js';
import { HASH_NAMES } from './sharding/hash.js';

/** An upstream address "host:port"; hosts may be names, IPv4 or [IPv6]. */
export const endpointAddress = z.string().superRefine((value, ctx) => {
  const parsed = parseListenAddress(value);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  else if (parsed.port === 0)
    ctx.addIssue({ code: 'custom', message: `port 0 is not an upstream port in "${value}"` });
});

const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', '502', '503', '504', '5xx'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

/** gRPC status codes by the names `retries.grpcOn` takes (the code's name, lower case, `-` for `_`). */
export const GRPC_CODES = {
  cancelled: 1,
  unknown: 2,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  aborted: 10,
  internal: 13,
  unavailable: 14,
} as const;
export type GrpcRetryCondition = keyof typeof GRPC_CODES;

const listener = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9_.-]+$/, 'expected letters, digits, ".", "_" or "-"'),
  listen: listenAddress,
  protocol: z.enum(['http', 'tcp', 'redis', 'memcached']).default('http'),
  cluster: z.string(),
  /** Slowloris guard: a client must send its whole request head within this time. */
  headersTimeoutMs: z.number().int().positive().default(10_000),
  maxHeaderBytes: byteSize.default(16 * 1024),
  /** More request headers get 431 (node itself keeps about 1000 and drops the rest silently). */
  maxRequestHeaders: z.number().int().min(1).max(1000).default(100),
  /** Longer request targets get 414 (the target also counts into maxHeaderBytes). */
  maxUrlBytes: byteSize.default(8 * 1024),
  /** Longest silence of a client while it sends a request body; then 408. */
  requestBodyIdleTimeoutMs: z.number().int().positive().default(60_000),
  /** Request bodies up to this size (with a Content-Length) are held so a retry can replay them. */
  requestBufferBytes: byteSize.default(1024 * 1024),
  /** All bodies held for retries in this listener together; beyond it bodies stream, not retried. */
  requestBufferTotalBytes: byteSize.default(64 * 1024 * 1024),
  /** Keep-alive idle time of client connections (http) or idle time of a tcp connection. */
  idleTimeoutMs: z.number().int().positive().default(60_000),
  accessLog: z.boolean().default(false),
  /** Cleartext HTTP/2 (prior knowledge) next to HTTP/1.1 on the same port; with tls: h2 by ALPN. */
  http2: z.boolean().default(true),
  /** Streams one client HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: z.number().int().min(1).max(65_535).default(1000),
  /** Serve TLS: certificate and key files (PEM); ALPN picks h2 or http/1.1. */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** redis listeners: the password clients must send with AUTH before any other command. */
  password: z.string().min(1).optional(),
  /** redis and memcached listeners: bounds per client connection (see docs/sharding.md). */
  limits: z
    .strictObject({
      /** Largest value (bulk string / data block) a client may send. */
      maxValueBytes: byteSize.default(16 * 1024 * 1024),
      /** Largest whole command (an MSET with all its values). */
      maxRequestBytes: byteSize.default(64 * 1024 * 1024),
      /** Commands in flight per client; at this number the listener stops reading the client. */
      maxPendingReplies: z.number().int().positive().default(4096),
      /** Replies the client has not read yet: at half, reading stops; beyond, an error and the client is closed. */
      maxReplyBufferBytes: byteSize.default(64 * 1024 * 1024),
    })
    .prefault({}),
});

/** TLS to the shards of a sharding cluster, or to one of them. */
const shardTls = z.strictObject({
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  serverName: z.string().optional(),
  rejectUnauthorized: z.boolean().default(true),
});

/** A `servers:` entry: twemproxy's "host:port:weight [name]", or that with its own TLS (`false`: none). */
const shardServer = z.union(
  [z.string(), z.strictObject({ server: z.string(), tls: z.union([shardTls, z.literal(false)]).optional() })],
  {
    error: 'expected "host:port:weight [name]" or { server: "host:port:weight [name]", tls: {...} | false }',
  },
);

export type ShardServerEntry = z.infer<typeof shardServer>;

/** The "host:port:weight [name]" of a `servers:` entry. */
export function shardServerSpec(entry: ShardServerEntry): string {
  return typeof entry === 'string' ? entry : entry.server;
}

/** A Redis or memcached pool sharded like twemproxy; option names follow nutcracker's (camelCase). */
const sharding = z
  .strictObject({
    distribution: z.enum(DISTRIBUTION_NAMES).default('ketama'),
    hash: z.enum(HASH_NAMES).default('fnv1a_64'),
    hashTag: z.string().length(2, 'expected two characters, like "{}"').optional(),
    /** twemproxy's `servers:` entries, "host:port:weight [name]", or `{ server, tls }`. */
    servers: z.array(shardServer).min(1),
    autoEjectHosts: z.boolean().default(false),
    serverFailureLimit: z.number().int().positive().default(2),
    serverRetryTimeoutMs: z.number().int().positive().default(30_000),
    /** A shard that has not answered (or connected) within this time fails the commands in flight. */
    timeoutMs: z.number().int().positive().default(1000),
    /** Connections per shard (twemproxy's server_connections); each client sticks to one. */
    serverConnections: z.number().int().min(1).max(64).default(1),
    /** Redis only: AUTH sent on every new shard connection. */
    password: z.string().min(1).optional(),
    /** TLS to every shard, unless a `servers:` entry has its own `tls`. */
    tls: shardTls.optional(),
  })
  .superRefine((value, ctx) => {
    try {
      new KeyDistributor({
        servers: value.servers.map(shardServerSpec),
        distribution: value.distribution,
        hash: value.hash,
        ...(value.hashTag === undefined ? {} : { hashTag: value.hashTag }),
      });
    } catch (error) {
      if (!(error instanceof ShardingConfigError)) throw error;
      ctx.addIssue({ code: 'custom', path: ['servers'], message: error.message });
    }
    if (value.tls && !value.tls.cert !== !value.tls.key)
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'cert and key go together (mTLS)' });
    value.servers.forEach((entry, index) => {
      if (typeof entry !== 'string' && entry.tls && !entry.tls.cert !== !entry.tls.key)
        ctx.addIssue({
          code: 'custom',
          path: ['servers', index, 'tls'],
          message: 'cert and key go together (mTLS)',
        });
    });
  });

const dnsDiscovery = z.strictObject({
  name: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  refreshMs: z.number().int().positive().default(5000),
  /** A DNS server "ip:port" to ask instead of the system resolver (tests, special setups). */
  server: z.string().optional(),
});

const fileDiscovery = z.strictObject({
  path: z.string().min(1),
  /** The file is watched; this poll is the fallback for filesystems without events. */
  pollMs: z.number().int().positive().default(2000),
});

const cluster = z
  .strictObject({
    name: z.string().regex(/^[a-zA-Z0-9_.-]+$/, 'expected letters, digits, ".", "_" or "-"'),
    endpoints: z.array(endpointAddress).min(1).optional(),
    discovery: z
      .strictObject({ dns: dnsDiscovery.optional(), file: fileDiscovery.optional() })
      .refine(
        (value) => (value.dns ? 1 : 0) + (value.file ? 1 : 0) === 1,
        'expected exactly one of dns or file',
      )
      .optional(),
    /** How endpoints are spoken to: HTTP/1.1 (undici), cleartext HTTP/2 (prior knowledge) or HTTP/2 over TLS. */
    protocol: z.enum(['http1', 'h2c', 'h2']).default('http1'),
    http2: z
      .strictObject({
        /** HTTP/2 connections per endpoint; another opens only when the open ones are at their stream limit. */
        maxSessions: z.number().int().min(1).max(64).default(4),
      })
      .prefault({}),
    lb: z.enum(['round_robin', 'least_request', 'random', 'ring_hash']).default('round_robin'),
    hash: z
      .strictObject({
        header: z.string().toLowerCase().optional(),
        cookie: z.string().optional(),
        path: z.boolean().optional(),
        sourceAddress: z.boolean().optional(),
      })
      .refine(
        (value) => [value.header, value.cookie, value.path, value.sourceAddress].filter(Boolean).length === 1,
        'expected exactly one of header, cookie, path: true or sourceAddress: true',
      )
      .optional(),
    healthCheck: z
      .strictObject({
        /** HTTP path to GET; without it (and always for tcp listeners) the check is a TCP connect. */
        path: z.string().startsWith('/').optional(),
        /** grpc.health.v1.Health/Check for this service name ("" is the whole server); h2c and h2 clusters. */
        grpc: z.strictObject({ service: z.string().default('') }).optional(),
        intervalMs: z.number().int().positive().default(2000),
        timeoutMs: z.number().int().positive().default(1000),
        unhealthyThreshold: z.number().int().positive().default(2),
        healthyThreshold: z.number().int().positive().default(2),
      })
      .optional(),
    outlierDetection: z
      .strictObject({
        consecutiveFailures: z.number().int().positive().default(5),
        /** Connect failures in a row (retried ones too) that eject at once (Envoy's local-origin failures). */
        consecutiveConnectFailures: z.number().int().positive().default(3),
        baseEjectionMs: z.number().int().positive().default(30_000),
        maxEjectionPercent: z.number().int().min(0).max(100).default(50),
      })
      .optional(),
    timeouts: z
      .strictObject({
        connectMs: z.number().int().positive().default(1000),
        requestMs: z.number().int().positive().default(15_000),
        idleMs: z.number().int().positive().default(60_000),
      })
      .prefault({}),
    retries: z
      .strictObject({
        attempts: z.number().int().min(0).max(10).default(2),
        on: z
          .array(
            z.preprocess(
              (value) => (typeof value === 'number' ? String(value) : value),
              z.enum(RETRY_CONDITIONS),
            ),
          )
          .default(['connect-failure', 'reset', '503']),
        /** gRPC statuses (trailers-only answers) retried on another endpoint, when the call is still replayable. */
        grpcOn: z
          .array(
            z.preprocess(
              (value) => (typeof value === 'string' ? value.toLowerCase().replaceAll('_', '-') : value),
              z.enum(Object.keys(GRPC_CODES) as [GrpcRetryCondition, ...GrpcRetryCondition[]]),
            ),
          )
          .default(['unavailable']),
        /** Request body bytes kept for a replay (HTTP/2 path); a longer body makes the request not retriable. */
        bufferBytes: byteSize.default(64 * 1024),
        budgetPercent: z.number().min(0).max(100).default(20),
      })
      .prefault({}),
    circuitBreaker: z
      .strictObject({
        maxConnections: z.number().int().positive().default(1024),
        maxPendingRequests: z.number().int().min(0).default(1024),
      })
      .prefault({}),
    tls: z
      .strictObject({
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: z.string().optional(),
        serverName: z.string().optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .optional(),
    /** For redis and memcached listeners, instead of endpoints or discovery. */
    sharding: sharding.optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.endpoints ? 1 : 0) + (value.discovery ? 1 : 0) + (value.sharding ? 1 : 0) !== 1)
      ctx.addIssue({
        code: 'custom',
        message:
          'expected exactly one of endpoints or discovery (or sharding, for redis and memcached listeners)',
      });
    if (value.lb === 'ring_hash' && !value.hash)
      ctx.addIssue({ code: 'custom', path: ['hash'], message: 'required when lb is ring_hash' });
    if (value.tls && !value.tls.cert !== !value.tls.key)
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'cert and key go together (mTLS)' });
    if (value.healthCheck?.grpc && value.protocol === 'http1')
      ctx.addIssue({
        code: 'custom',
        path: ['healthCheck', 'grpc'],
        message: 'gRPC health checks need protocol h2c or h2',
      });
    if (value.healthCheck?.grpc && value.healthCheck.path)
      ctx.addIssue({ code: 'custom', path: ['healthCheck'], message: 'expected one of path or grpc' });
  });

export const configSchema = z
  .strictObject({
    listeners: z.array(listener).min(1),
    clusters: z.array(cluster).min(1),
    workers: z
      .union([z.literal('auto'), z.number().int().min(1).max(64)], {
        message: 'expected a number of processes (1-64) or "auto"',
      })
      .default(1),
    ...runtimeSections({ adminListen: '127.0.0.1:9901' }),
  })
  .superRefine((value, ctx) => {
    const names = new Set<string>();
    value.clusters.forEach((item, index) => {
      if (names.has(item.name))
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', index, 'name'],
          message: `duplicate cluster "${item.name}"`,
        });
      names.add(item.name);
    });
    const listenerNames = new Set<string>();
    value.listeners.forEach((item, index) => {
      if (!names.has(item.cluster))
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', index, 'cluster'],
          message: `no cluster named "${item.cluster}" (known: ${[...names].join(', ')})`,
        });
      if (listenerNames.has(item.name))
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', index, 'name'],
          message: `duplicate listener "${item.name}"`,
        });
      listenerNames.add(item.name);
      const target = value.clusters.find((c) => c.name === item.cluster);
      if (item.protocol === 'tcp' && item.tls)
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', index, 'tls'],
          message: 'tls is for http listeners (a tcp listener passes TLS through as bytes)',
        });
      const sharded = item.protocol === 'redis' || item.protocol === 'memcached';
      if (target && sharded !== (target.sharding !== undefined))
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', index, 'cluster'],
          message: sharded
            ? `${item.protocol} listeners need a cluster with sharding; cluster "${item.cluster}" has none`
            : `${item.protocol} listeners cannot use cluster "${item.cluster}": it is a sharding cluster (redis or memcached listeners only)`,
        });
      if (item.password !== undefined && item.protocol !== 'redis')
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', index, 'password'],
          message: 'only redis listeners take a client password',
        });
      if (item.protocol === 'memcached' && target?.sharding?.password !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', value.clusters.indexOf(target), 'sharding', 'password'],
          message: 'memcached shards have no password (the ASCII protocol has no AUTH)',
        });
      const protocols = new Set(
        value.listeners.filter((other) => other.cluster === item.cluster).map((other) => other.protocol),
      );
      if (sharded && protocols.size > 1)
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', index, 'cluster'],
          message: `cluster "${item.cluster}" is used by listeners of different protocols (${[...protocols].join(', ')})`,
        });
      if (
        item.protocol === 'tcp' &&
        target?.hash &&
        (target.hash.header || target.hash.cookie || target.hash.path)
      )
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', index, 'cluster'],
          message: `tcp listeners can only hash by sourceAddress; cluster "${item.cluster}" hashes by a request attribute`,
        });
    });
  });

export type AmbassadorConfig = z.output<typeof configSchema>;
export type ListenerConfig = AmbassadorConfig['listeners'][number];
export type ClusterConfig = AmbassadorConfig['clusters'][number];
export type ShardingConfig = NonNullable<ClusterConfig['sharding']>;
