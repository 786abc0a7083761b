import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter, Logger } from '@sidecar-kit/core';
import type { Dispatcher } from 'undici';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { ListenerConfig } from '../config.js';
import {
  type AnsweredFailure,
  CircuitOpenError,
  ClientClosedError,
  ClientRequestError,
  clientRequestError,
  type LocalReason,
  NoHealthyUpstreamError,
  RequestBodyTimeoutError,
  sendLocalError,
  upstreamFailure,
} from '../errors.js';
import { hasBody, responseHeaders } from './headers.js';
import type { AttemptHandler } from './retry.js';

const FORWARD_HANDLER = Symbol('forward handler');
type ForwardedResponse = ServerResponse & { [FORWARD_HANDLER]?: ForwardHandler };

function onClientResponseClose(this: ServerResponse): void {
  (this as ForwardedResponse)[FORWARD_HANDLER]?.responseClosed();
}

/** What every forwarded request of one listener shares. */
export interface ForwardContext {
  readonly cluster: Cluster;
  readonly listener: ListenerConfig;
  readonly logger: Logger;
  readonly localErrors: Counter<'listener' | 'reason'>;
  /** Called once the client response is closed (the listener drains on it). */
  closed(): void;
}

/**
 * The thin end of the HTTP path: passes an upstream response on to the client as it streams, with
 * backpressure, or answers a failure itself; then the request's latency and access log line. It
 * knows nothing of retries or endpoints' counters (the retry layer and the leases do).
 */
export class ForwardHandler implements AttemptHandler {
  readonly #context: ForwardContext;
  readonly #request: IncomingMessage;
  readonly #response: ServerResponse;
  readonly #path: string;
  readonly #requestId: string;
  readonly #started = performance.now();
  #controller: Dispatcher.DispatchController | undefined;
  #endpoint: Endpoint | undefined;
  #attempt = 0;
  #status = 0;
  #done = false;
  #bodyWatch: NodeJS.Timeout | undefined;

  constructor(
    context: ForwardContext,
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    requestId: string,
  ) {
    this.#context = context;
    this.#request = request;
    this.#response = response;
    this.#path = path;
    this.#requestId = requestId;
    // One shared listener (the handler rides on the response) rather than a closure per request;
    // 'close' fires once, and on() spares the wrapper once() would allocate.
    (response as ForwardedResponse)[FORWARD_HANDLER] = this;
    response.on('close', onClientResponseClose);
  }

  /** The client response closed: finished, or the client went away. */
  responseClosed(): void {
    if (this.#bodyWatch) clearTimeout(this.#bodyWatch);
    this.#context.closed();
    if (!this.#response.writableFinished) this.#controller?.abort(new ClientClosedError());
  }

  /**
   * The client went away (its request body broke off too: a reset, or a body node's parser
   * refused), or was answered already (a client error): no attempt can help.
   */
  get clientGone(): boolean {
    const request = this.#request;
    return this.#response.destroyed || this.#done || (request.destroyed && !request.complete);
  }

  /**
   * Answers 408 when the client stops sending its body: no byte read for `idleMs` while the body is
   * incomplete and nothing read waits unconsumed (unread bytes mean the upstream side is slow, not
   * the client). One timer per request with a body, checked every quarter of `idleMs` (at most 1 s).
   */
  watchBody(idleMs: number): void {
    const request = this.#request;
    const socket = request.socket;
    const step = Math.max(10, Math.min(1000, Math.floor(idleMs / 4)));
    let seen = socket.bytesRead;
    let silent = 0;
    const check = () => {
      if (request.complete || this.#done) return;
      if (socket.bytesRead !== seen || request.readableLength > 0) {
        seen = socket.bytesRead;
        silent = 0;
      } else {
        silent += step;
        if (silent >= idleMs) {
          this.#bodyStalled(idleMs);
          return;
        }
      }
      this.#bodyWatch?.refresh();
    };
    this.#bodyWatch = setTimeout(check, step).unref();
  }

  #bodyStalled(idleMs: number): void {
    const error = new RequestBodyTimeoutError(`no request body byte for ${idleMs} ms`);
    const controller = this.#controller;
    // Answered first: aborting the attempt may destroy the request (and its socket) at once.
    this.fail(error);
    controller?.abort(error);
  }

  onAttempt(endpoint: Endpoint, attempt: number): void {
    this.#endpoint = endpoint;
    this.#attempt = attempt;
    this.#controller = undefined;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.clientGone) controller.abort(new ClientClosedError());
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    this.#status = statusCode;
    if (this.#response.destroyed) return;
    this.#closeIfBodyUnread();
    this.#response.writeHead(statusCode, statusMessage, responseHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#response.destroyed) return;
    if (!this.#response.write(chunk)) {
      controller.pause();
      this.#response.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#response.end();
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#done) return;
    if (this.#response.destroyed) {
      this.#finish();
      return;
    }
    const clientError = clientRequestError(error);
    if (clientError) {
      this.fail(clientError);
      return;
    }
    if (!this.#response.headersSent) {
      const failure = upstreamFailure(error);
      const cause = failure.cause as (Error & { code?: string }) | undefined;
      this.#context.logger.warn(
        {
          endpoint: this.#endpoint?.address,
          error: failure.message,
          code: cause?.code,
          requestId: this.#requestId,
        },
        'upstream request failed',
      );
      this.fail(failure);
      return;
    }
    // Headers were already passed on: the only honest signal left is to cut the connection.
    this.#response.destroy(error);
    this.#finish();
  }

  fail(failure: AnsweredFailure): void {
    if (this.#done) return;
    const { cluster, listener, localErrors } = this.#context;
    const reason: LocalReason = failure.reason;
    localErrors.labels(listener.name, reason).inc();
    const response = this.#response;
    if (failure instanceof ClientRequestError) {
      // The rest of a bad request is not read for another: the connection closes after the answer.
      response.shouldKeepAlive = false;
      if (response.headersSent && !response.writableFinished) response.destroy(failure);
    }
    if (!response.destroyed && !response.headersSent) {
      this.#closeIfBodyUnread();
      const refused = failure instanceof CircuitOpenError || failure instanceof NoHealthyUpstreamError;
      const detail = refused
        ? { cluster: cluster.name, requestId: this.#requestId }
        : failure instanceof ClientRequestError
          ? { message: failure.message, requestId: this.#requestId }
          : {
              cluster: cluster.name,
              endpoint: this.#endpoint?.address,
              message: failure.message,
              requestId: this.#requestId,
            };
      this.#status = sendLocalError(this.#response, reason, detail);
    }
    this.#finish();
  }

  /**
   * An answer that starts before the client's request body was read to its end closes the
   * connection after it (`Connection: close`), as Envoy does: the rest of the body is never read,
   * so the next request on the connection would never be parsed. node:http would drain an unread
   * body itself, but not one undici destroyed: undici's `util.destroy` nulls an IncomingMessage's
   * `socket` before destroying it (nodejs/undici#834, #1115), so the socket lives on with the
   * destroyed request still attached to its parser, which then stops reading for good.
   */
  #closeIfBodyUnread(): void {
    if (!this.#request.complete && hasBody(this.#request)) this.#response.shouldKeepAlive = false;
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    const { cluster, listener, logger } = this.#context;
    const seconds = (performance.now() - this.#started) / 1000;
    cluster.recordLatency(this.#endpoint, seconds);
    if (listener.accessLog)
      logger.info(
        {
          access: true,
          method: this.#request.method,
          path: this.#path,
          status: this.#response.destroyed && !this.#response.writableFinished ? 0 : this.#status,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          endpoint: this.#endpoint?.address,
          attempts: this.#attempt + 1,
          requestId: this.#requestId,
          client: this.#request.socket.remoteAddress,
        },
        'request',
      );
  }
}
