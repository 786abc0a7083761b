import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import { Readiness } from '../admin/readiness.js';
import { type AdminRoute, AdminServer } from '../admin/server.js';
import type { RuntimeSections } from '../config/schemas.js';
import { createLogger } from '../telemetry/logger.js';
import { createRegistry, metricPrefix } from '../telemetry/metrics.js';
import type { Component } from './component.js';

export interface SidecarContext<C> {
  config: C;
  logger: Logger;
  registry: Registry;
  /** e.g. "log_shipper_": every metric of the sidecar starts with it. */
  metricPrefix: string;
  readiness: Readiness;
  addAdminRoute(path: string, route: AdminRoute): void;
}

export interface SidecarDefinition<S extends z.ZodType<RuntimeSections, unknown>> {
  /** Lowercase with dashes; names the logger, the metric prefix and the CLI. */
  name: string;
  version: string;
  description: string;
  schema: S;
  /** An example or documentation pointer printed by --help. */
  help?: string;
  create(context: SidecarContext<z.output<S>>): Promise<Component[]> | Component[];
}

export interface SidecarStartOptions {
  logger?: Logger;
}

export interface StopResult {
  /** false when the grace period ran out before every component finished. */
  clean: boolean;
  unfinished: string[];
}

/** A running sidecar: the library API the CLI and the tests share. */
export class Sidecar<C extends RuntimeSections = RuntimeSections> {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
  readonly config: C;
  readonly #admin: AdminServer;
  #started: Component[] = [];
  #stopping: Promise<StopResult> | undefined;

  private constructor(
    config: C,
    logger: Logger,
    registry: Registry,
    readiness: Readiness,
    admin: AdminServer,
  ) {
    this.config = config;
    this.logger = logger;
    this.registry = registry;
    this.readiness = readiness;
    this.#admin = admin;
  }

  static async start<S extends z.ZodType<RuntimeSections, unknown>>(
    definition: SidecarDefinition<S>,
    config: z.output<S>,
    options: SidecarStartOptions = {},
  ): Promise<Sidecar<z.output<S>>> {
    const logger = options.logger ?? createLogger({ name: definition.name, level: config.log.level });
    const prefix = metricPrefix(definition.name);
    const registry = createRegistry(prefix);
    const readiness = new Readiness();
    const routes: Record<string, AdminRoute> = {};
    let starting = true;
    readiness.register('startup', () => (starting ? 'starting' : true));
    const components = await definition.create({
      config,
      logger,
      registry,
      metricPrefix: prefix,
      readiness,
      addAdminRoute: (path, route) => {
        routes[path] = route;
      },
    });
    const admin = new AdminServer({ listen: config.admin.listen, registry, readiness, routes });
    const sidecar = new Sidecar(config, logger, registry, readiness, admin);
    const address = await admin.start();
    try {
      for (const part of components) {
        await part.start();
        sidecar.#started.push(part);
      }
    } catch (error) {
      await sidecar.stop();
      throw error;
    }
    starting = false;
    logger.info(
      {
        admin: `${address.address}:${address.port}`,
        components: components.map((c) => c.name),
        version: definition.version,
      },
      `${definition.name} started`,
    );
    return sidecar;
  }

  get adminAddress(): AddressInfo {
    return this.#admin.address();
  }

  /**
   * Stops intake, lets in-flight work finish for up to graceMs (the config's shutdown.graceMs by
   * default), then cuts off whatever is still running. Calling it twice returns the same result.
   */
  stop(graceMs: number = this.config.shutdown.graceMs): Promise<StopResult> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<StopResult> {
    this.readiness.setDraining();
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`grace period of ${graceMs} ms is over`)),
      graceMs,
    );
    const unfinished: string[] = [];
    const cutOff = new Promise<'cut-off'>((resolve) => {
      deadline.signal.addEventListener('abort', () => resolve('cut-off'), { once: true });
    });
    for (const part of [...this.#started].reverse()) {
      if (deadline.signal.aborted) {
        unfinished.push(part.name);
        continue;
      }
      const stopping = Promise.resolve()
        .then(() => part.stop(deadline.signal))
        .then(
          () => 'done' as const,
          (error: unknown) => {
            this.logger.error({ err: error, component: part.name }, 'component failed while stopping');
            return 'done' as const;
          },
        );
      if ((await Promise.race([stopping, cutOff])) === 'cut-off') {
        unfinished.push(part.name);
        this.logger.warn({ component: part.name, graceMs }, 'grace period over: component cut off');
      }
    }
    clearTimeout(timer);
    await this.#admin.stop();
    const clean = unfinished.length === 0;
    this.logger.info({ clean, unfinished }, 'stopped');
    return { clean, unfinished };
  }
}
