import { readFileSync } from 'node:fs';
import { Client, type ClientOptions } from '@elastic/elasticsearch';
import type { Logger } from '@sidecar-kit/core';
import type { ElasticsearchConfig } from '../../config.js';
import type { DeadLetterWriter } from '../../dead-letter/writer.js';
import type { LogEvent } from '../../event.js';
import type { ShipperMetrics } from '../../metrics.js';
import { type Batch, backoffMs, type Output, sleep } from '../output.js';
import { indexNamer } from './index-name.js';

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}
interface BulkResponse {
  errors: boolean;
  items: Array<Record<string, BulkItem>>;
}

function clientOptions(config: ElasticsearchConfig): ClientOptions {
  const options: ClientOptions = {
    nodes: config.nodes ?? [config.node as string],
    maxRetries: 0, // retries are ours: per item, with backoff, while reading pauses
    requestTimeout: config.requestTimeoutMs,
    compression: config.bulk.gzip,
  };
  const auth = config.auth;
  if (auth?.apiKeyFile) options.auth = { apiKey: readFileSync(auth.apiKeyFile, 'utf8').trim() };
  else if (auth?.apiKey) options.auth = { apiKey: auth.apiKey };
  else if (auth?.bearerTokenFile)
    options.auth = { bearer: readFileSync(auth.bearerTokenFile, 'utf8').trim() };
  else if (auth?.username) options.auth = { username: auth.username, password: auth.password ?? '' };
  if (config.tls) {
    options.tls = { rejectUnauthorized: config.tls.rejectUnauthorized };
    if (config.tls.ca) options.tls.ca = readFileSync(config.tls.ca);
  }
  return options;
}

/**
 * Bulk indexing with idempotent ids: every document is a `create` with an _id derived from its
 * file and offset, so a resend after a retry or a crash is answered 409, which counts as delivered.
 * Per item: 429 and 5xx are resent (only those), other errors go to the dead-letter file.
 * Request failures (refused, timeout, 429, 5xx) are retried with backoff, forever: the shipper
 * stops reading meanwhile, so the log files are the buffer.
 */
export class ElasticsearchOutput implements Output {
  readonly name = 'elasticsearch';
  readonly client: Client;
  readonly #indexFor: (iso: string) => string;
  #lastError: string | undefined = 'no request yet';
  #probe: { at: number; result: true | string } | undefined;

  constructor(
    private readonly config: ElasticsearchConfig,
    private readonly metrics: ShipperMetrics,
    private readonly deadLetters: DeadLetterWriter,
    private readonly logger: Logger,
  ) {
    this.client = new Client(clientOptions(config));
    this.#indexFor = indexNamer(config.dataStream ?? (config.index as string));
  }

  async send(batch: Batch, abort: AbortSignal): Promise<boolean> {
    let lastIndex = '';
    let actionHead = '';
    // One action line per event (no object per event: this runs for every line shipped).
    const actions = batch.events.map((event) => {
      const index = this.#indexFor(event.timestamp as string);
      if (index !== lastIndex) {
        lastIndex = index;
        actionHead = `{"create":{"_index":${JSON.stringify(index)},"_id":"`;
      }
      return `${actionHead}${documentId(event)}"}}\n`;
    });
    let pending = batch.events.map((_, i) => i);
    let attempt = 0;
    let body: Buffer | undefined;
    let bodyFor: number[] | undefined;
    while (pending.length > 0) {
      if (abort.aborted) return false;
      // Built again only when the items to send changed (not for each retry of a failed request).
      if (bodyFor !== pending) {
        body = bulkBody(actions, batch.docs, pending);
        bodyFor = pending;
      }
      const started = performance.now();
      let response: BulkResponse;
      const graceful = abortAfterGrace(abort);
      try {
        response = await this.client.transport.request<BulkResponse>(
          // Only what is acted on: a full bulk response is ~200 bytes per item to parse.
          { method: 'POST', path: '/_bulk', bulkBody: body, querystring: { filter_path: BULK_FILTER } },
          { signal: graceful.signal, maxRetries: 0 },
        );
        this.metrics.bulkSeconds.observe((performance.now() - started) / 1000);
        this.#lastError = undefined;
      } catch (error) {
        const reason = describe(error);
        if (this.#lastError !== reason)
          this.logger.warn({ reason, pending: pending.length, attempt }, 'bulk request failed: retrying');
        this.#lastError = reason;
        this.metrics.retried.inc(pending.length);
        await sleep(backoffMs(attempt, this.config.retry.initialMs, this.config.retry.maxMs), abort);
        attempt += 1;
        continue;
      } finally {
        graceful.dispose();
      }
      const retry: number[] = [];
      let shipped = 0;
      response.items.forEach((item, k) => {
        const i = pending[k] as number;
        const result = Object.values(item)[0] as BulkItem;
        if (result.status < 300 || result.status === 409) shipped++;
        else if (result.status === 429 || result.status >= 500) retry.push(i);
        else {
          const event = batch.events[i] as LogEvent;
          this.deadLetters.write({
            time: new Date().toISOString(),
            status: result.status,
            reason: `${result.error?.type ?? 'error'}: ${result.error?.reason ?? 'unknown'}`,
            index: this.#indexFor(event.timestamp as string),
            id: documentId(event),
            document: JSON.parse(batch.docs[i] as string),
          });
          this.metrics.deadLettered.inc();
        }
      });
      this.metrics.shipped.inc(shipped);
      pending = retry;
      if (retry.length > 0) {
        this.metrics.retried.inc(retry.length);
        await sleep(backoffMs(attempt, this.config.retry.initialMs, this.config.retry.maxMs), abort);
        attempt += 1;
      }
    }
    return true;
  }

  async ready(): Promise<true | string> {
    if (this.#lastError === undefined) return true;
    const now = Date.now();
    if (this.#probe && now - this.#probe.at < 2_000) return this.#probe.result;
    let result: true | string;
    try {
      await this.client.transport.request(
        { method: 'GET', path: '/_cluster/health' },
        { requestTimeout: 2_000, maxRetries: 0 },
      );
      result = this.#lastError === 'no request yet' ? true : `last bulk request failed: ${this.#lastError}`;
      if (this.#lastError === 'no request yet') this.#lastError = undefined;
    } catch (error) {
      result = `Elasticsearch unreachable: ${describe(error)}`;
    }
    this.#probe = { at: now, result };
    return result;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The NDJSON body as one buffer, encoded once: a string of that size would be built from pieces,
 * flattened into V8's large-object space and then encoded again by the HTTP client.
 */
function bulkBody(actions: string[], docs: string[], items: number[]): Buffer {
  let size = 0;
  for (const i of items)
    size += Buffer.byteLength(actions[i] as string) + Buffer.byteLength(docs[i] as string) + 1;
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (const i of items) {
    at += body.write(actions[i] as string, at);
    at += body.write(docs[i] as string, at);
    body[at++] = 0x0a;
  }
  return body;
}

/** `<idBase>-<offset in base 36>`: the same line of the same file always gets the same id. */
function documentId(event: LogEvent): string {
  return `${event.idBase}-${event.offset.toString(36)}`;
}

function describe(error: unknown): string {
  const err = error as { name?: string; message?: string; meta?: { statusCode?: number } };
  if (err.meta?.statusCode) return `HTTP ${err.meta.statusCode}`;
  return `${err.name ?? 'Error'}: ${err.message ?? String(error)}`.slice(0, 300);
}

/** A request in flight is not cut at the grace deadline itself but shortly after, so an ack can still land. */
const BULK_FILTER = 'items.*.status,items.*.error.type,items.*.error.reason';

function abortAfterGrace(abort: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  if (abort.aborted) {
    controller.abort();
    return { signal: controller.signal, dispose: () => {} };
  }
  const onAbort = () => setTimeout(() => controller.abort(), 500).unref();
  abort.addEventListener('abort', onAbort, { once: true });
  // Removed after each request: the shutdown signal lives as long as the process.
  return { signal: controller.signal, dispose: () => abort.removeEventListener('abort', onAbort) };
}
