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
  /** A file read to its end that has not grown for this long is closed (its fd released); a scan that sees it grow reopens it, checked by identity. */
  closeInactiveMs: z.number().int().min(0).default(300_000),
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
      .prefault({}),
    retry: z
      .strictObject({
        initialMs: z.number().int().min(1).default(500),
        maxMs: z.number().int().min(1).default(30_000),
      })
      .prefault({}),
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

/** A section the output type needs: missing, it is reported as such rather than as a wrong type. */
function requiredFor<T extends z.ZodType>(type: string, section: T) {
  return z.custom((value) => value !== undefined, `required when type is ${type}`).pipe(section);
}

/** What every output type has. */
const outputCommon = {
  /** Where events Elasticsearch refuses for good go; the path defaults to `<state.dir>/dead-letter.ndjson`. */
  deadLetter: z
    .strictObject({ path: z.string().min(1).optional(), maxBytes: byteSize.default(100 * 1024 * 1024) })
    .prefault({}),
  /** Events read but not yet acknowledged, at most: reading pauses above it. */
  maxBufferedBytes: byteSize.default(16 * 1024 * 1024),
};

const outputTypes = ['elasticsearch', 'stdout', 'file'] as const;

const output = z
  // The type alone first, so that a wrong one is reported with the types there are.
  .looseObject({ type: z.enum(outputTypes) })
  .pipe(
    z.discriminatedUnion('type', [
      z.strictObject({
        type: z.literal('elasticsearch'),
        elasticsearch: requiredFor('elasticsearch', elasticsearch),
        ...outputCommon,
      }),
      z.strictObject({ type: z.literal('stdout'), ...outputCommon }),
      z.strictObject({
        type: z.literal('file'),
        file: requiredFor('file', z.strictObject({ path: z.string().min(1) })),
        ...outputCommon,
      }),
    ]),
  );

const state = z.strictObject({
  dir: z.string().min(1),
  /** How often acknowledged offsets are written to disk (and at shutdown). */
  flushMs: z.number().int().min(10).default(1000),
});

export const configSchema = z
  .strictObject({
    ...runtimeSections({ adminListen: '127.0.0.1:2020' }),
    inputs: z.array(input).min(1),
    state,
    /** How often globs are re-scanned for new, rotated and removed files. */
    scanIntervalMs: z.number().int().min(10).default(1000),
    /** Files held open for reading at once, at most, over every input; the others wait their turn. */
    maxOpenFiles: z.number().int().min(1).default(1024),
    output,
  })
  .transform((config) => {
    const { deadLetter } = config.output;
    const path = deadLetter.path ?? `${config.state.dir}/dead-letter.ndjson`;
    return { ...config, output: { ...config.output, deadLetter: { ...deadLetter, path } } };
  });

export type LogShipperConfig = z.output<typeof configSchema>;
export type InputConfig = LogShipperConfig['inputs'][number];
export type OutputConfig = LogShipperConfig['output'];
export type ElasticsearchConfig = Extract<OutputConfig, { type: 'elasticsearch' }>['elasticsearch'];
export type ConfigSchema = typeof configSchema;
