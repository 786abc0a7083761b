import * as grpc from '@grpc/grpc-js';
import { Greeter, type GreeterClient, type HelloReply } from './greeter.js';
import { log } from './log.js';

export interface CallerOptions {
  /** Where the calls go: the ambassador's listener in the Pod. */
  target: string;
  /** Pause between two calls. */
  intervalMs: number;
  /** A "calls" log line (the counts so far) this often. */
  reportMs: number;
  /** Deadline of every call (grpc-timeout). */
  deadlineMs: number;
}

/** Counts so far: answers per replica name, failures per gRPC status name. */
export interface CallCounts {
  total: number;
  ok: number;
  byReplica: Record<string, number>;
  failed: Record<string, number>;
}

// Replica names come from the servers: at most this many are counted by name, the rest as "other",
// so a misbehaving server cannot grow the counts without bound.
const MAX_REPLICA_NAMES = 64;

/**
 * Calls SayHello one call after another over one channel (one HTTP/2 connection to the
 * ambassador) and logs how the answers were spread over the replicas, as JSON:
 * {"msg":"calls","total":120,"ok":120,"byReplica":{"greeter-0":40,...},"failed":{}}.
 */
export function startCaller(options: CallerOptions): { counts(): CallCounts; stop(): Promise<void> } {
  const client = new Greeter(options.target, grpc.credentials.createInsecure()) as unknown as GreeterClient;
  const counts: CallCounts = { total: 0, ok: 0, byReplica: {}, failed: {} };
  let stopped = false;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const callOnce = () =>
    new Promise<void>((resolve) => {
      client.sayHello(
        { name: 'ambassador-grpc' },
        { deadline: Date.now() + options.deadlineMs },
        (error: grpc.ServiceError | null, reply?: HelloReply) => {
          counts.total += 1;
          if (error || !reply) {
            const status = error ? (grpc.status[error.code] ?? String(error.code)) : 'NO_REPLY';
            counts.failed[status] = (counts.failed[status] ?? 0) + 1;
          } else {
            counts.ok += 1;
            const known = reply.replica in counts.byReplica;
            const name =
              known || Object.keys(counts.byReplica).length < MAX_REPLICA_NAMES ? reply.replica : 'other';
            counts.byReplica[name] = (counts.byReplica[name] ?? 0) + 1;
          }
          resolve();
        },
      );
    });

  const report = () => log('info', 'calls', { target: options.target, ...counts });
  const reporter = setInterval(report, options.reportMs);
  const loop = (async () => {
    while (!stopped) {
      await callOnce();
      if (!stopped) await pause(options.intervalMs);
    }
  })();
  log('info', 'caller started', { target: options.target, intervalMs: options.intervalMs });

  return {
    counts: () => structuredClone(counts),
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      clearInterval(reporter);
      report();
      client.close();
    },
  };
}
