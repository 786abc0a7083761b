import { type IncomingHttpHeaders, type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Lease } from '../cluster/lease.js';
import { upstreamFailure } from '../errors.js';
import { responseHeaders } from './headers.js';

/** An upgrade the upstream accepted (101): its response headers and the upgraded connection. */
export interface UpgradedConnection {
  headers: IncomingHttpHeaders;
  socket: Duplex;
}

export interface UpgradeRequest {
  path: string;
  method: string;
  headers: string[];
  protocol: string;
}

/**
 * Asks the lease's endpoint to upgrade. Resolves with the upgraded connection on a 101; when the
 * upstream declines (any other answer, such as a plain 200 to `Upgrade: h2c`), its response is an
 * ordinary one: it is relayed to the client through node's own ServerResponse on the client's
 * socket, which then closes, and the promise resolves to undefined with the lease released.
 * Rejects only before any response head, so the caller may still answer the client itself.
 */
export function upgradeOrRelay(
  lease: Lease,
  request: UpgradeRequest,
  client: IncomingMessage,
  socket: Duplex,
): Promise<UpgradedConnection | undefined> {
  return new Promise((resolve, reject) => {
    lease.endpoint.pool.dispatch(
      { path: request.path, method: request.method, headers: request.headers, upgrade: request.protocol },
      new DeclinableUpgrade(lease, client, socket as Socket, resolve, reject),
    );
  });
}

class DeclinableUpgrade implements Dispatcher.DispatchHandler {
  readonly #lease: Lease;
  readonly #client: IncomingMessage;
  readonly #socket: Socket;
  readonly #resolve: (upgraded: UpgradedConnection | undefined) => void;
  readonly #reject: (error: Error) => void;
  #response: ServerResponse | undefined;

  constructor(
    lease: Lease,
    client: IncomingMessage,
    socket: Socket,
    resolve: (upgraded: UpgradedConnection | undefined) => void,
    reject: (error: Error) => void,
  ) {
    this.#lease = lease;
    this.#client = client;
    this.#socket = socket;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#socket.destroyed) controller.abort(new Error('client closed the connection'));
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    _statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    this.#resolve({ headers, socket });
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    this.#lease.answered(statusCode);
    const response = new ServerResponse(this.#client);
    response.shouldKeepAlive = false;
    response.assignSocket(this.#socket);
    response.on('finish', () => {
      response.detachSocket(this.#socket);
      this.#socket.end();
    });
    this.#socket.once('close', () => controller.abort(new Error('client closed the connection')));
    this.#response = response;
    response.writeHead(statusCode, statusMessage, responseHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const response = this.#response as ServerResponse;
    if (!response.write(chunk)) {
      controller.pause();
      response.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#response?.end();
    this.#lease.release();
    this.#resolve(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.#response) {
      this.#reject(error);
      return;
    }
    // The head was relayed: a truncated body must not look complete.
    this.#lease.release(this.#socket.destroyed ? undefined : upstreamFailure(error));
    this.#socket.destroy();
    this.#resolve(undefined);
  }
}
