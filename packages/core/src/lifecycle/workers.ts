import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';
import type { ReadinessReport } from '../admin/readiness.js';
import { backoffMs } from '../retry/backoff.js';
import type { Component } from './component.js';

/**
 * Serving with several processes (node:cluster), the way HAProxy uses threads and nginx worker
 * processes: one Node event loop tops out at one core. The primary owns the admin port and the
 * signals; every worker runs all the sidecar's components, and the listening sockets are shared.
 * The admin endpoints of the primary ask every worker over IPC and merge the answers.
 */

export type WorkerQuery = { kind: 'readiness' } | { kind: 'metrics' } | { kind: 'status'; path: string };

type ToWorker = { sidecarKit: 'query'; id: number; query: WorkerQuery } | { sidecarKit: 'stop' };
type ToPrimary =
  | { sidecarKit: 'started' }
  | { sidecarKit: 'answer'; id: number; value?: unknown; error?: string };

const WORKER_ENV = 'SIDECAR_KIT_WORKER';
/** The error code of a start that failed because a worker could not start. */
export const WORKER_START_FAILED = 'ERR_WORKER_START_FAILED';
/** A worker that does not answer within this time is reported not ready (a blocked event loop). */
const QUERY_TIMEOUT_MS = 2_000;
const RESTART_BACKOFF = { initialMs: 250, maxMs: 30_000, jitter: 'none' } as const;
type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** A worker that ran this long before it died starts its restart backoff from the beginning. */
const STABLE_AFTER_MS = 60_000;

function isSidecarMessage(message: unknown): message is { sidecarKit: string } {
  return typeof message === 'object' && message !== null && 'sidecarKit' in message;
}

/** The number of this worker (1..n), or undefined in a process that is not a sidecar-kit worker. */
export function workerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(process.env[WORKER_ENV]);
  return Number.isInteger(index) && index > 0 ? index : undefined;
}

export interface WorkerHandlers {
  readiness(): Promise<ReadinessReport>;
  metrics(): Promise<MetricsJson>;
  status(path: string): Promise<unknown> | unknown;
  /** The primary asked this worker to drain and exit. */
  stop(): void;
}

/** In a worker: answers the primary's queries and stops when the primary asks it to drain. */
export function serveWorker(handlers: WorkerHandlers): { started(): void } {
  const send = (message: ToPrimary) => {
    if (process.connected) process.send?.(message);
  };
  process.on('message', (message: unknown) => {
    if (!isSidecarMessage(message)) return;
    const request = message as ToWorker;
    if (request.sidecarKit === 'stop') return handlers.stop();
    if (request.sidecarKit !== 'query') return;
    const { id, query } = request;
    Promise.resolve()
      .then(() => {
        switch (query.kind) {
          case 'readiness':
            return handlers.readiness();
          case 'metrics':
            return handlers.metrics();
          case 'status':
            return handlers.status(query.path);
        }
      })
      .then(
        (value) => send({ sidecarKit: 'answer', id, value }),
        (error: unknown) => send({ sidecarKit: 'answer', id, error: String(error) }),
      );
  });
  // No handler for the primary's death: Node's cluster exits a worker at once when its IPC channel
  // closes unexpectedly (even after a SIGKILL of the primary), so no worker outlives it.
  return { started: () => send({ sidecarKit: 'started' }) };
}

type Answer = { value?: unknown; error?: string; gone?: true };

interface Slot {
  index: number;
  /** Queries sent to the current worker and not answered yet. */
  waiting: Map<number, (answer: Answer) => void>;
  worker: Worker | undefined;
  ready: boolean;
  forkedAt: number;
  failures: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface WorkerPoolOptions {
  count: number;
  logger: Logger;
  registry: Registry;
  metricPrefix: string;
}

/** In the primary: forks the workers, restarts the ones that die, asks them, drains them. */
export class WorkerPool implements Component {
  readonly name = 'workers';
  readonly #options: WorkerPoolOptions;
  readonly #slots: Slot[];
  readonly #restarts: Counter<'worker'>;
  #nextQuery = 1;
  #stopping = false;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#slots = Array.from({ length: options.count }, (_, i) => ({
      index: i + 1,
      waiting: new Map(),
      worker: undefined,
      ready: false,
      forkedAt: 0,
      failures: 0,
      restartTimer: undefined,
    }));
    const slots = this.#slots;
    const registers = [options.registry];
    this.#restarts = new Counter({
      name: `${options.metricPrefix}worker_restarts_total`,
      help: 'Worker processes started again after they died',
      labelNames: ['worker'],
      registers,
    });
    new Gauge({
      name: `${options.metricPrefix}workers`,
      help: 'Worker processes serving (configured: the workers setting)',
      registers,
      aggregator: 'first',
      collect() {
        this.set(slots.filter((slot) => slot.ready).length);
      },
    });
  }

  async start(): Promise<void> {
    // Each worker accepts on the shared socket itself (the kernel spreads connections) rather than
    // the primary accepting and handing every connection over IPC: measured faster (BENCHMARKS.md).
    // NODE_CLUSTER_SCHED_POLICY=rr (Node's own variable) still chooses the other way.
    if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE;
    await Promise.all(this.#slots.map((slot) => this.#fork(slot)));
  }

  #fork(slot: Slot): Promise<void> {
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.index) });
    slot.worker = worker;
    slot.ready = false;
    slot.forkedAt = Date.now();
    return new Promise((resolve, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isSidecarMessage(message)) return;
        const reply = message as ToPrimary;
        if (reply.sidecarKit === 'started') {
          slot.ready = true;
          resolve();
        } else if (reply.sidecarKit === 'answer') {
          slot.waiting.get(reply.id)?.(reply);
        }
      });
      worker.on('exit', (code, signal) => {
        if (slot.worker === worker) {
          slot.worker = undefined;
          slot.ready = false;
          // A dead worker answers nothing: its pending queries end now, not at their timeout.
          for (const finish of [...slot.waiting.values()]) finish({ gone: true });
        }
        const how = signal ? `signal ${signal}` : `code ${code}`;
        if (this.#stopping) return;
        const stable = Date.now() - slot.forkedAt >= STABLE_AFTER_MS;
        slot.failures = stable ? 1 : slot.failures + 1;
        // A worker that cannot start at all (a port taken, a bad certificate) fails the start.
        // Its own log line says why; the primary's message points there, without a stack trace.
        reject(
          Object.assign(
            new Error(`worker ${slot.index} exited with ${how} before it started (see its log)`),
            {
              code: WORKER_START_FAILED,
            },
          ),
        );
        const delay = backoffMs(slot.failures - 1, RESTART_BACKOFF);
        this.#options.logger.error({ worker: slot.index, exit: how, restartInMs: delay }, 'worker died');
        slot.restartTimer = setTimeout(() => {
          slot.restartTimer = undefined;
          if (this.#stopping) return;
          this.#restarts.labels(String(slot.index)).inc();
          this.#fork(slot).then(
            () => this.#options.logger.info({ worker: slot.index }, 'worker restarted'),
            () => {}, // its exit handler schedules the next try
          );
        }, delay);
        slot.restartTimer.unref();
      });
    });
  }

  /**
   * Asks every worker that has started. A worker that does not answer in time is reported with an
   * error; one that died meanwhile is left out.
   */
  async ask(query: WorkerQuery): Promise<Array<{ worker: number; value?: unknown; error?: string }>> {
    const live = this.#slots.filter((slot) => slot.ready && slot.worker?.isConnected());
    const answers = await Promise.all(
      live.map(
        (slot) =>
          new Promise<{ worker: number } & Answer>((resolve) => {
            const worker = slot.worker as Worker;
            const id = this.#nextQuery++;
            const timer = setTimeout(() => finish({ error: 'no answer in time' }), QUERY_TIMEOUT_MS);
            const finish = (answer: Answer) => {
              clearTimeout(timer);
              slot.waiting.delete(id);
              resolve({ worker: slot.index, ...answer });
            };
            slot.waiting.set(id, finish);
            const request: ToWorker = { sidecarKit: 'query', id, query };
            worker.send(request, (error: Error | null) => {
              if (error) finish({ gone: true });
            });
          }),
      ),
    );
    return answers.filter((answer) => !answer.gone);
  }

  /**
   * Ready while at least one worker serves and every running worker reports ready: the workers
   * share the listening sockets, so a worker being restarted costs capacity, not availability.
   * Before the first start completes, the sidecar's own startup check keeps it unready.
   */
  async readiness(): Promise<true | string> {
    const answers = await this.ask({ kind: 'readiness' });
    if (answers.length === 0) return 'no worker running';
    for (const answer of answers) {
      const report = answer.value as ReadinessReport | undefined;
      if (!report) return `worker ${answer.worker}: ${answer.error ?? 'no answer'}`;
      if (!report.ready) {
        const reasons = Object.entries(report.checks)
          .filter(([, check]) => !check.ok)
          .map(([name, check]) => `${name}: ${check.reason}`);
        return `worker ${answer.worker}: ${reasons.join('; ')}`;
      }
    }
    return true;
  }

  /** The primary's own metrics and every worker's, merged by each metric's aggregator (sum by default). */
  async metrics(): Promise<string> {
    const parts: MetricsJson[] = [await this.#options.registry.getMetricsAsJSON()];
    for (const answer of await this.ask({ kind: 'metrics' }))
      if (Array.isArray(answer.value)) parts.push(answer.value as MetricsJson);
    return AggregatorRegistry.aggregate(parts).metrics();
  }

  /** Drains every worker (each finishes its in-flight work), killing what is left at the deadline. */
  async stop(deadline: AbortSignal): Promise<void> {
    this.#stopping = true;
    const exits: Promise<number | null>[] = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.restartTimer);
      const worker = slot.worker;
      if (!worker) continue;
      exits.push(
        new Promise((resolve) => {
          worker.once('exit', (code) => resolve(code));
          if (worker.isConnected()) worker.send({ sidecarKit: 'stop' } satisfies ToWorker);
          else worker.process.kill('SIGTERM');
        }),
      );
    }
    const killAll = () => {
      for (const slot of this.#slots) slot.worker?.process.kill('SIGKILL');
    };
    deadline.addEventListener('abort', killAll, { once: true });
    try {
      const codes = await Promise.all(exits);
      const failed = codes.filter((code) => code !== 0).length;
      if (failed > 0 && !deadline.aborted)
        throw new Error(`${failed} of ${exits.length} workers did not stop cleanly`);
    } finally {
      deadline.removeEventListener('abort', killAll);
    }
  }
}
