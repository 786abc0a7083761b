import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import { Readiness } from '../admin/readiness.js';
import { type AdminRoute, AdminServer } from '../admin/server.js';
import {
  type StatusModel,
  StatusPage,
  type StatusProvider,
  type StatusSection,
} from '../admin/status-page.js';
import type { RuntimeSections } from '../config/schemas.js';
import { sendJson } from '../http/json-response.js';
import { createLogger } from '../telemetry/logger.js';
import { createRegistry, metricPrefix } from '../telemetry/metrics.js';
import type { Component } from './component.js';
import { serveWorker, WorkerPool, workerIndex } from './workers.js';

export interface SidecarContext<C> {
  config: C;
  logger: Logger;
  registry: Registry;
  /** e.g. "log_shipper_": every metric of the sidecar starts with it. */
  metricPrefix: string;
  readiness: Readiness;
  addAdminRoute(path: string, route: AdminRoute): void;
  /**
   * A JSON admin route whose body `produce` returns. Unlike addAdminRoute it also works with
   * several workers: the primary asks every worker and merges the answers with the definition's
   * mergeStatus function for that path.
   */
  addStatusRoute(path: string, produce: () => unknown): void;
  /**
   * The sections of the status page at `GET /` on the admin port (the header with name, version,
   * uptime and readiness is added for you). Called on every page view and every refresh: read
   * what the sidecar already keeps, do no I/O. Works with several workers too (one set per worker).
   */
  setStatusPage(provider: StatusProvider): void;
}

/** The IPC status path a worker answers with its status page's model. */
const STATUS_PAGE_PATH = '\0status-page';

function isStatusModel(value: unknown): value is StatusModel {
  return typeof value === 'object' && value !== null && Array.isArray((value as StatusModel).sections);
}

/** In the primary: every worker's sections, each titled with its worker's number. */
function mergeWorkerPages(answers: Array<{ worker: number; value?: unknown; error?: string }>): StatusModel {
  const sections: StatusSection[] = [];
  for (const answer of answers) {
    if (answer.error !== undefined) {
      sections.push({
        title: `Worker ${answer.worker}`,
        fields: [{ key: 'status', value: { value: answer.error, state: 'bad' } }],
      });
      continue;
    }
    if (!isStatusModel(answer.value)) continue;
    for (const section of answer.value.sections)
      sections.push({ ...section, title: `Worker ${answer.worker}: ${section.title}` });
  }
  return { sections };
}

/** One worker's answer to a status route, as mergeStatus receives it. */
export interface WorkerAnswer {
  worker: number;
  value: unknown;
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
  /**
   * How many processes serve (node:cluster). Above 1 the primary process keeps the admin port and
   * the signals and runs no component; each worker runs them all, on shared listening sockets.
   */
  workers?(config: z.output<S>): number;
  /** Merges the workers' answers of each status route (see addStatusRoute) when workers > 1. */
  mergeStatus?: Record<string, (answers: WorkerAnswer[]) => unknown>;
}

export interface SidecarStartOptions {
  logger?: Logger;
  /** In a worker process: called when the primary asks it to drain (the CLI stops and exits). */
  onStopRequest?: () => void;
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
  readonly #admin: AdminServer | undefined;
  #started: Component[] = [];
  #stopping: Promise<StopResult> | undefined;

  private constructor(
    config: C,
    logger: Logger,
    registry: Registry,
    readiness: Readiness,
    admin: AdminServer | undefined,
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
    const worker = workerIndex();
    const workers = definition.workers?.(config) ?? 1;
    const role = worker !== undefined ? 'worker' : workers > 1 && cluster.isPrimary ? 'primary' : 'single';
    const logger =
      options.logger ??
      createLogger({ name: definition.name, level: config.log.level }).child(worker ? { worker } : {});
    const prefix = metricPrefix(definition.name);
    const registry = createRegistry(prefix);
    const readiness = new Readiness();
    const routes: Record<string, AdminRoute> = {};
    const statusRoutes: Record<string, () => unknown> = {};
    const startedAt = Date.now();
    let statusProvider: StatusProvider | undefined;
    let starting = true;
    readiness.register('startup', () => (starting ? 'starting' : true));
    let components: Component[];
    let metrics: (() => Promise<string>) | undefined;
    if (role === 'primary') {
      const pool = new WorkerPool({ count: workers, logger, registry, metricPrefix: prefix });
      readiness.register('workers', () => pool.readiness());
      metrics = () => pool.metrics();
      statusProvider = async () =>
        mergeWorkerPages(await pool.ask({ kind: 'status', path: STATUS_PAGE_PATH }));
      for (const [path, merge] of Object.entries(definition.mergeStatus ?? {})) {
        routes[path] = async (_request, response) => {
          const answers = (await pool.ask({ kind: 'status', path })).filter(
            (answer): answer is WorkerAnswer => 'value' in answer,
          );
          sendJson(response, 200, merge(answers));
        };
      }
      components = [pool];
    } else {
      components = await definition.create({
        config,
        logger,
        registry,
        metricPrefix: prefix,
        readiness,
        addAdminRoute: (path, route) => {
          routes[path] = route;
        },
        addStatusRoute: (path, produce) => {
          statusRoutes[path] = produce;
          routes[path] = async (_request, response) => sendJson(response, 200, await produce());
        },
        setStatusPage: (provider) => {
          statusProvider = provider;
          statusRoutes[STATUS_PAGE_PATH] = provider;
        },
      });
    }
    // A worker has no admin port of its own: the primary asks it over IPC.
    const admin =
      role === 'worker'
        ? undefined
        : new AdminServer({
            listen: config.admin.listen,
            registry,
            readiness,
            routes,
            metrics,
            statusPage: new StatusPage({
              name: definition.name,
              version: definition.version,
              readiness,
              startedAt,
              provider: () => statusProvider,
            }),
          });
    const sidecar = new Sidecar(config, logger, registry, readiness, admin);
    const channel =
      role === 'worker'
        ? serveWorker({
            readiness: () => readiness.report(),
            metrics: () => registry.getMetricsAsJSON(),
            status: (path) => statusRoutes[path]?.(),
            stop: () => (options.onStopRequest ? options.onStopRequest() : void sidecar.stop()),
          })
        : undefined;
    const address = await admin?.start();
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
    channel?.started();
    logger.info(
      {
        ...(address ? { admin: `${address.address}:${address.port}` } : {}),
        ...(role === 'single' ? {} : { role }),
        components: components.map((c) => c.name),
        version: definition.version,
      },
      `${definition.name} started`,
    );
    return sidecar;
  }

  /** The admin server's address (a worker process has none: it throws there). */
  get adminAddress(): AddressInfo {
    if (!this.#admin) throw new Error('a worker process has no admin server');
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
    await this.#admin?.stop();
    const clean = unfinished.length === 0;
    this.logger.info({ clean, unfinished }, 'stopped');
    return { clean, unfinished };
  }
}
