/** A readiness check returns true, or a short reason why the sidecar is not ready. */
export type ReadinessCheck = () => true | string | Promise<true | string>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; reason?: string }>;
}

export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();
  #draining = false;

  register(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  unregister(name: string): void {
    this.#checks.delete(name);
  }

  /** Once shutdown begins the sidecar reports not ready, so no new work is routed to it. */
  setDraining(): void {
    this.#draining = true;
  }

  async report(): Promise<ReadinessReport> {
    const checks: ReadinessReport['checks'] = {};
    let ready = !this.#draining;
    if (this.#draining) checks['shutdown'] = { ok: false, reason: 'shutting down' };
    for (const [name, check] of this.#checks) {
      let outcome: true | string;
      try {
        outcome = await check();
      } catch (error) {
        outcome = error instanceof Error ? error.message : String(error);
      }
      if (outcome === true) checks[name] = { ok: true };
      else {
        ready = false;
        checks[name] = { ok: false, reason: outcome };
      }
    }
    return { ready, checks };
  }
}
