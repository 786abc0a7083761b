import type { FailureKind, UpstreamFailure } from '../errors.js';
import type { Endpoint } from './endpoint.js';

/** What a cluster has in flight. Written by leases only; the cluster reads it for its limits. */
export interface ClusterLoad {
  /** Attempts in flight: requests, tcp connections and upgraded tunnels. */
  requests: number;
  /** Those of them that are retries. */
  retries: number;
}

/** The cluster's side of a lease: the load it counts into and the outlier detection it reports to. */
export interface LeaseOwner {
  readonly load: ClusterLoad;
  recordSuccess(endpoint: Endpoint): void;
  recordFailure(endpoint: Endpoint, kind: FailureKind): void;
}

/**
 * One attempt's hold on an endpoint, handed out by `Cluster.acquire`: while held, the attempt
 * counts in the circuit breaker, the retry budget, the endpoint's requests in flight (which
 * least_request balances on) and its request counter. Every listener goes through leases, so no
 * listener writes a cluster or endpoint counter.
 */
export class Lease {
  readonly endpoint: Endpoint;
  readonly isRetry: boolean;
  readonly #owner: LeaseOwner;
  #held = true;

  /** @internal only the cluster creates leases */
  constructor(owner: LeaseOwner, endpoint: Endpoint, isRetry: boolean) {
    this.#owner = owner;
    this.endpoint = endpoint;
    this.isRetry = isRetry;
    endpoint.active++;
    endpoint.requests++;
    owner.load.requests++;
    if (isRetry) owner.load.retries++;
  }

  get held(): boolean {
    return this.#held;
  }

  /** The endpoint answered with this response head: counted by status class, 5xx as a failure. */
  answered(status: number): void {
    this.endpoint.stats.countStatus(status);
    if (status < 500) this.#owner.recordSuccess(this.endpoint);
    else this.#owner.recordFailure(this.endpoint, '5xx');
  }

  /**
   * A gRPC call ended with this grpc-status (from the trailers, or a trailers-only answer): counted
   * by HTTP status class and grpc-status; UNAVAILABLE (14) counts as the endpoint's failure.
   */
  answeredGrpc(status: number, grpcStatus: number): void {
    this.endpoint.stats.countStatus(status);
    this.endpoint.stats.countGrpc(grpcStatus);
    if (status < 500 && grpcStatus !== 14) this.#owner.recordSuccess(this.endpoint);
    else this.#owner.recordFailure(this.endpoint, '5xx');
  }

  /** The connection (tcp, upgrade) is up: the endpoint works. */
  connected(): void {
    this.#owner.recordSuccess(this.endpoint);
  }

  /**
   * Ends the attempt and gives its counts back. `failure` is how it failed, for outlier detection;
   * leave it out when nothing more is to be said (the head or connect was reported, or the client
   * went away). Calling it again does nothing.
   */
  release(failure?: UpstreamFailure): void {
    if (!this.#held) return;
    this.#held = false;
    const load = this.#owner.load;
    this.endpoint.active--;
    load.requests--;
    if (this.isRetry) load.retries--;
    if (failure) this.#owner.recordFailure(this.endpoint, failure.kind);
  }

  /**
   * Reports how the attempt failed (for outlier detection) while it still holds its counts: a
   * retry's lease taken next sees an ejection this causes, and the budget still counts the request.
   * Release it afterwards without the failure.
   */
  failed(failure: UpstreamFailure): void {
    if (this.#held) this.#owner.recordFailure(this.endpoint, failure.kind);
  }
}
