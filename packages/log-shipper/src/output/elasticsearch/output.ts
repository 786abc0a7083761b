import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, inflateSync } from 'node:zlib';
import { Client, type ClientOptions, HttpConnection, UndiciConnection } from '@elastic/elasticsearch';
import { backoffMs, type Logger } from '@sidecar-kit/core';
import type { ElasticsearchConfig } from '../../config.js';
import type { DeadLetterWriter } from '../../dead-letter/writer.js';
import type { ShipperMetrics } from '../../metrics.js';
import {
  type Batch,
  type ItemInfo,
  itemBytes,
  itemDocument,
  itemOrigin,
  type Output,
  type OutputStatus,
} from '../output.js';
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
    // The client's default ("replace") walks a failed request's metadata key by key to redact
    // secrets, request body included: a Buffer body of a few MiB became millions of entries (an
    // out-of-memory kill at the first refused connection). "remove" drops headers and options,
    // so secrets still stay out of errors, without walking the body.
    redaction: { type: 'remove' },
    // node:http with a keep-alive agent by default: measured against the client's undici
    // connection on the same load, it peaks ~20 MiB lower at the same CPU (BENCHMARKS.md), and
    // undici's compiled HTTP parser is not loaded at all.
    Connection: config.connection === 'undici' ? UndiciConnection : HttpConnection,
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
  /** Deliveries failing since, and why (the status page reads it). */
  #retrying: { since: number; reason: string } | undefined;
  #lastDeliveryAt: number | undefined;
  #lastIndex = '';
  #actionHead = '';

  constructor(
    private readonly config: ElasticsearchConfig,
    private readonly metrics: ShipperMetrics,
    private readonly deadLetters: DeadLetterWriter,
    private readonly logger: Logger,
  ) {
    this.client = new Client(clientOptions(config));
    this.#indexFor = indexNamer(config.dataStream ?? (config.index as string));
  }

  indexFor(timestamp: string): string {
    return this.#indexFor(timestamp);
  }

  actionLine(index: string, item: ItemInfo): string {
    if (index !== this.#lastIndex) {
      this.#lastIndex = index;
      this.#actionHead = `{"create":{"_index":${JSON.stringify(index)},"_id":"`;
    }
    return `${this.#actionHead}${documentId(item.idBase, item.offset)}"}}\n`;
  }

  async send(batch: Batch, abort: AbortSignal): Promise<boolean> {
    // The items still to deliver (undefined: all of them) and the body that carries them.
    let pending: number[] | undefined;
    let body = batch.body;
    let attempt = 0;
    for (;;) {
      if (abort.aborted) return false;
      const started = performance.now();
      let response: BulkResponse | undefined;
      const graceful = abortAfterGrace(abort);
      try {
        // As a stream: the client would decode and parse every response; ours are only parsed when
        // an item failed (a parsed response per request is thousands of objects for the collector).
        const result = (await this.client.transport.request(
          // Only what is acted on: a full bulk response is ~200 bytes per item.
          { method: 'POST', path: '/_bulk', bulkBody: body, querystring: { filter_path: BULK_FILTER } },
          { signal: graceful.signal, maxRetries: 0, asStream: true, meta: true },
        )) as unknown as StreamedResult;
        response = await readBulkResponse(result);
        this.metrics.bulkSeconds.observe((performance.now() - started) / 1000);
        this.#lastError = undefined;
      } catch (error) {
        const reason = describe(error);
        const count = pending?.length ?? batch.count;
        if (this.#lastError !== reason)
          this.logger.warn({ reason, pending: count, attempt }, 'bulk request failed: retrying');
        this.#lastError = reason;
        this.#retrying = { since: this.#retrying?.since ?? Date.now(), reason };
        this.metrics.retried.inc(count);
        await this.#backoff(attempt, abort);
        attempt += 1;
        continue;
      } finally {
        graceful.dispose();
      }
      if (response === undefined) {
        this.metrics.shipped.inc(pending?.length ?? batch.count);
        this.#delivered();
        return true;
      }
      const retry: number[] = [];
      let shipped = 0;
      response.items.forEach((item, k) => {
        const i = pending ? (pending[k] as number) : k;
        const result = Object.values(item)[0] as BulkItem;
        if (result.status < 300 || result.status === 409) shipped++;
        else if (result.status === 429 || result.status >= 500) retry.push(i);
        else this.#deadLetter(batch, i, result);
      });
      this.metrics.shipped.inc(shipped);
      if (retry.length === 0) {
        this.#delivered();
        return true;
      }
      this.#retrying = {
        since: this.#retrying?.since ?? Date.now(),
        reason: `${retry.length} of ${response.items.length} items answered 429 or 5xx`,
      };
      pending = retry;
      body = Buffer.concat(retry.map((i) => itemBytes(batch, i)));
      this.metrics.retried.inc(retry.length);
      await this.#backoff(attempt, abort);
      attempt += 1;
    }
  }

  /** Waits before retry `attempt`; resolves early when `abort` fires (the loop then returns). */
  async #backoff(attempt: number, abort: AbortSignal): Promise<void> {
    const { initialMs, maxMs } = this.config.retry;
    const wait = backoffMs(attempt, { initialMs, maxMs, jitter: 'full' });
    await sleep(wait, undefined, { signal: abort }).catch(() => {});
  }

  #delivered(): void {
    this.#lastDeliveryAt = Date.now();
    this.#retrying = undefined;
  }

  status(): OutputStatus {
    const config = this.config;
    const nodes = (config.nodes ?? [config.node as string]).map(redactUrl).join(', ');
    const target = config.dataStream ? `data stream ${config.dataStream}` : `index ${config.index}`;
    return {
      destination: `${nodes} (${target})`,
      state: this.#retrying ? 'retrying' : 'ok',
      ...(this.#retrying ? { since: this.#retrying.since, reason: this.#retrying.reason } : {}),
      ...(this.#lastDeliveryAt ? { lastDeliveryAt: this.#lastDeliveryAt } : {}),
    };
  }

  #deadLetter(batch: Batch, i: number, result: BulkItem): void {
    const { index, idBase, offset } = itemOrigin(batch, i);
    this.deadLetters.write({
      time: new Date().toISOString(),
      status: result.status,
      reason: `${result.error?.type ?? 'error'}: ${result.error?.reason ?? 'unknown'}`,
      index,
      id: documentId(idBase, offset),
      document: JSON.parse(itemDocument(batch, i)),
    });
    this.metrics.deadLettered.inc();
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

/** A node URL without the credentials it may carry. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = '';
      parsed.password = '';
    }
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** `<idBase>-<offset in base 36>`: the same line of the same file always gets the same id. */
function documentId(idBase: string, offset: number): string {
  return `${idBase}-${offset.toString(36)}`;
}

function describe(error: unknown): string {
  const err = error as { name?: string; message?: string; meta?: { statusCode?: number } };
  if (err.meta?.statusCode) return `HTTP ${err.meta.statusCode}`;
  return `${err.name ?? 'Error'}: ${err.message ?? String(error)}`.slice(0, 300);
}

const BULK_FILTER = 'errors,items.*.status,items.*.error.type,items.*.error.reason';

interface StreamedResult {
  statusCode: number | null;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer>;
}

/**
 * The bulk response, or undefined when it says `"errors":false` (every item succeeded), which
 * is read from its first bytes without parsing the rest. A status other than 2xx is thrown, as
 * the client would have, so that it is retried.
 */
async function readBulkResponse(result: StreamedResult): Promise<BulkResponse | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of result.body) chunks.push(chunk);
  let raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  const status = result.statusCode ?? 0;
  if (status < 200 || status >= 300)
    throw Object.assign(new Error(`HTTP ${status}`), { meta: { statusCode: status } });
  const encoding = String(result.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding.includes('gzip')) raw = gunzipSync(raw);
  else if (encoding.includes('deflate')) raw = inflateSync(raw);
  const head = raw.toString('latin1', 0, Math.min(raw.length, 256));
  const errorsFalse = head.search(/"errors"\s*:\s*false/);
  const items = head.indexOf('"items"');
  if (errorsFalse >= 0 && (items < 0 || errorsFalse < items)) return undefined;
  return JSON.parse(raw.toString('utf8')) as BulkResponse;
}

/** A request in flight is not cut at the grace deadline itself but shortly after, so an ack can still land. */
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
