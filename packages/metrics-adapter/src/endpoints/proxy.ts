import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { sendJson } from '@sidecar-kit/core';
import { request } from 'undici';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/**
 * Serves one fixed URL of the app under another path, streamed, never buffered.
 * Only the configured URL is ever fetched: the request's path and query are not forwarded.
 */
export class ProxyEndpoint {
  constructor(
    readonly target: string,
    readonly timeoutMs: number,
  ) {}

  async handle(_request: IncomingMessage, response: ServerResponse): Promise<number> {
    try {
      const upstream = await request(this.target, {
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upstream.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      }
      response.writeHead(upstream.statusCode, headers);
      await pipeline(upstream.body, response);
      return upstream.statusCode;
    } catch (error) {
      if (!response.headersSent) {
        sendJson(response, 502, {
          status: 'fail',
          output: `upstream ${this.target} failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        });
        return 502;
      }
      response.destroy();
      return 502;
    }
  }
}
