import { isUtf8 } from 'node:buffer';
import { request } from 'undici';
import { ParseError } from '../prometheus/parser.js';

/** The byte offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const byte = bytes[i] as number;
    const length =
      byte < 0x80
        ? 1
        : byte >= 0xc2 && byte < 0xe0
          ? 2
          : byte >= 0xe0 && byte < 0xf0
            ? 3
            : byte >= 0xf0 && byte < 0xf5
              ? 4
              : 0;
    if (length === 0 || i + length > bytes.length) return i;
    if (!isUtf8(bytes.subarray(i, i + length))) return i;
    i += length;
  }
  return -1;
}

export type Fetched<T> =
  | { ok: true; value: T; fetchedAt: number }
  | { ok: false; reason: string; fetchedAt: number };

export interface UpstreamOptions<T> {
  url: string;
  timeoutMs: number;
  cacheMs: number;
  maxBytes: number;
  /** Turns the body into what callers need (parsing happens once per fetch, not per request). */
  transform: (body: string, contentType: string) => T;
  onFetch?: (outcome: { ok: boolean; seconds: number; reason?: string }) => void;
}

/** What the status page shows of an upstream: kept as fetches finish, read without fetching. */
export interface UpstreamState {
  url: string;
  /** The last fetch's outcome (undefined before the first one finished). */
  last:
    | { ok: true; at: number; seconds: number }
    | { ok: false; at: number; seconds: number; reason: string }
    | undefined;
  lastOkAt: number | undefined;
  fetches: number;
  failures: number;
}

/**
 * The app's endpoint, fetched at most once per cache window however many requests ask:
 * concurrent callers share the one fetch in flight, and failures are cached like successes,
 * so an app in trouble is not hammered by its own monitoring.
 */
export class Upstream<T> {
  readonly #options: UpstreamOptions<T>;
  #cached: Fetched<T> | undefined;
  #inFlight: Promise<Fetched<T>> | undefined;
  readonly #state: UpstreamState;

  constructor(options: UpstreamOptions<T>) {
    this.#options = options;
    this.#state = { url: options.url, last: undefined, lastOkAt: undefined, fetches: 0, failures: 0 };
  }

  /** The last fetches' outcome, for the status page (never fetches). */
  get state(): Readonly<UpstreamState> {
    return this.#state;
  }

  get(): Promise<Fetched<T>> {
    const cached = this.#cached;
    if (cached && Date.now() - cached.fetchedAt < this.#options.cacheMs) return Promise.resolve(cached);
    this.#inFlight ??= this.#fetch().then((result) => {
      this.#cached = result;
      this.#inFlight = undefined;
      return result;
    });
    return this.#inFlight;
  }

  async #fetch(): Promise<Fetched<T>> {
    const { url, timeoutMs, maxBytes } = this.#options;
    const started = performance.now();
    const finish = (result: Fetched<T>): Fetched<T> => {
      const seconds = (performance.now() - started) / 1000;
      const state = this.#state;
      state.fetches += 1;
      if (result.ok) {
        state.last = { ok: true, at: result.fetchedAt, seconds };
        state.lastOkAt = result.fetchedAt;
      } else {
        state.failures += 1;
        state.last = { ok: false, at: result.fetchedAt, seconds, reason: result.reason };
      }
      this.#options.onFetch?.({ ok: result.ok, seconds, ...(result.ok ? {} : { reason: result.reason }) });
      return result;
    };
    try {
      const response = await request(url, {
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        headers: {
          accept:
            'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.9,application/json;q=0.8,*/*;q=0.1',
        },
      });
      if (response.statusCode >= 400) {
        await response.body.dump();
        return finish({
          ok: false,
          reason: `upstream ${url} answered ${response.statusCode}`,
          fetchedAt: Date.now(),
        });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          response.body.destroy();
          return finish({
            ok: false,
            reason: `upstream ${url} sent more than ${maxBytes} bytes`,
            fetchedAt: Date.now(),
          });
        }
        chunks.push(chunk as Buffer);
      }
      const contentType = String(response.headers['content-type'] ?? '');
      const bytes = Buffer.concat(chunks);
      chunks.length = 0;
      // Both formats are UTF-8 by definition; a replacement character would hide the app's bug.
      if (!isUtf8(bytes)) {
        return finish({
          ok: false,
          reason: `upstream ${url} sent malformed content: bytes that are not UTF-8 at offset ${firstInvalidUtf8(bytes)}`,
          fetchedAt: Date.now(),
        });
      }
      try {
        const value = this.#options.transform(bytes.toString('utf8'), contentType);
        return finish({ ok: true, value, fetchedAt: Date.now() });
      } catch (error) {
        const malformed = error instanceof ParseError || error instanceof SyntaxError;
        return finish({
          ok: false,
          reason: malformed
            ? `upstream ${url} sent malformed content: ${(error as Error).message}`
            : `upstream ${url}: ${(error as Error).message}`,
          fetchedAt: Date.now(),
        });
      }
    } catch (error) {
      const name = (error as Error).name;
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
          ? `upstream ${url} did not answer within ${timeoutMs} ms`
          : code === 'ECONNREFUSED'
            ? `upstream ${url} refused the connection`
            : `upstream ${url} failed: ${code ?? (error as Error).message}`;
      return finish({ ok: false, reason, fetchedAt: Date.now() });
    }
  }
}
