import { byteSize, runtimeSections, z } from '@sidecar-kit/core';

function validRegex(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

const input = z.strictObject({
  /** Globs of files to tail; files matching later are picked up at the next scan. */
  paths: z.array(z.string().min(1)).min(1),
  exclude: z.array(z.string()).default([]),
  format: z.enum(['raw', 'json', 'cri', 'docker']).default('raw'),
  multiline: z
    .strictObject({
      start: z.string().refine(validRegex, 'expected a valid regular expression'),
      maxLines: z.number().int().min(1).default(500),
      timeoutMs: z.number().int().min(1).default(1000),
    })
    .optional(),
  /** Where to start in a file seen for the first time at startup: head or tail. Files that appear later are always read from the head. */
  readFrom: z.enum(['head', 'tail']).default('head'),
  fields: z.record(z.string(), z.unknown()).default({}),
  /** Lines longer than this are cut and flagged "truncated"; the rest of the line is skipped without being held in memory. */
  maxLineBytes: byteSize.default(256 * 1024),
  /** Bytes at the start of a file that identify it (a file shorter than this is identified by device+inode until it grows). */
  fingerprintBytes: z.number().int().min(16).max(65536).default(1024),
  /** A file gone from every glob is read to its end, then closed this long after it stopped growing. */
  closeRemovedAfterMs: z.number().int().min(0).default(5000),
});

const elasticsearch = z
  .strictObject({
    node: z.url().optional(),
    nodes: z.array(z.url()).min(1).optional(),
    index: z.string().min(1).optional(),
    dataStream: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a data stream name such as logs-app-default')
      .optional(),
    auth: z
      .strictObject({
        username: z.string().optional(),
        password: z.string().optional(),
        apiKey: z.string().optional(),
        apiKeyFile: z.string().optional(),
        bearerTokenFile: z.string().optional(),
      })
      .optional(),
    tls: z
      .strictObject({ ca: z.string().optional(), rejectUnauthorized: z.boolean().default(true) })
      .optional(),
    bulk: z
      .strictObject({
        maxDocs: z.number().int().min(1).default(1000),
        maxBytes: byteSize.default(5 * 1024 * 1024),
        flushMs: z.number().int().min(1).default(1000),
        concurrency: z.number().int().min(1).max(16).default(2),
        gzip: z.boolean().default(false),
      })
      .default({ maxDocs: 1000, maxBytes: 5 * 1024 * 1024, flushMs: 1000, concurrency: 2, gzip: false }),
    retry: z
      .strictObject({
        initialMs: z.number().int().min(1).default(500),
        maxMs: z.number().int().min(1).default(30_000),
      })
      .default({ initialMs: 500, maxMs: 30_000 }),
    requestTimeoutMs: z.number().int().min(100).default(30_000),
    connection: z.enum(['http', 'undici']).default('http'),
  })
  .superRefine((value, ctx) => {
    if (!value.node && !value.nodes) ctx.addIssue({ code: 'custom', message: 'expected node or nodes' });
    if (value.node && value.nodes)
      ctx.addIssue({ code: 'custom', path: ['nodes'], message: 'give node or nodes, not both' });
    if (!value.index === !value.dataStream)
      ctx.addIssue({ code: 'custom', message: 'expected exactly one of index or dataStream' });
  });

export const configSchema = z.strictObject({
  ...runtimeSections({ adminListen: '127.0.0.1:2020' }),
  inputs: z.array(input).min(1),
  state: z.strictObject({
    dir: z.string().min(1),
    /** How often acknowledged offsets are written to disk (and at shutdown). */
    flushMs: z.number().int().min(10).default(1000),
  }),
  /** How often globs are re-scanned for new, rotated and removed files. */
  scanIntervalMs: z.number().int().min(10).default(1000),
  output: z
    .strictObject({
      type: z.enum(['elasticsearch', 'stdout', 'file']),
      elasticsearch: elasticsearch.optional(),
      file: z.strictObject({ path: z.string().min(1) }).optional(),
      deadLetter: z
        .strictObject({ path: z.string().min(1).optional(), maxBytes: byteSize.default(100 * 1024 * 1024) })
        .default({ maxBytes: 100 * 1024 * 1024 }),
      /** Events read but not yet acknowledged, at most: reading pauses above it. */
      maxBufferedBytes: byteSize.default(16 * 1024 * 1024),
    })
    .superRefine((value, ctx) => {
      if (value.type === 'elasticsearch' && !value.elasticsearch)
        ctx.addIssue({
          code: 'custom',
          path: ['elasticsearch'],
          message: 'required when type is elasticsearch',
        });
      if (value.type === 'file' && !value.file)
        ctx.addIssue({ code: 'custom', path: ['file'], message: 'required when type is file' });
    }),
});

export type LogShipperConfig = z.output<typeof configSchema>;
export type InputConfig = LogShipperConfig['inputs'][number];
export type ElasticsearchConfig = NonNullable<LogShipperConfig['output']['elasticsearch']>;
export type ConfigSchema = typeof configSchema;
