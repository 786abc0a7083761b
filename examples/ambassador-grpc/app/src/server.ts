import * as grpc from '@grpc/grpc-js';
import { Greeter, Health, type HelloReply, type HelloRequest, type ServingStatus } from './greeter.js';
import { log } from './log.js';

export interface GreeterServerOptions {
  host: string;
  port: number;
  /** Named in every reply, so callers can tell the replicas apart. */
  instance: string;
}

export interface RunningServer {
  address: string;
  /** Calls answered so far. */
  served(): number;
  stop(): Promise<void>;
}

/** A Greeter replica: answers SayHello with its own name, and grpc.health.v1.Health/Check with SERVING. */
export async function startGreeterServer(options: GreeterServerOptions): Promise<RunningServer> {
  const server = new grpc.Server();
  let served = 0;
  server.addService(Greeter.service, {
    sayHello: (
      call: grpc.ServerUnaryCall<HelloRequest, HelloReply>,
      callback: grpc.sendUnaryData<HelloReply>,
    ) => {
      served += 1;
      callback(null, { message: `hello ${call.request.name || 'stranger'}`, replica: options.instance });
    },
  });
  server.addService(Health.service, {
    check: (
      _call: grpc.ServerUnaryCall<{ service: string }, { status: ServingStatus }>,
      callback: grpc.sendUnaryData<{ status: ServingStatus }>,
    ) => callback(null, { status: 'SERVING' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${options.host}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  const address = `${options.host}:${port}`;
  log('info', 'greeter listening', { instance: options.instance, address });
  return {
    address,
    served: () => served,
    stop: () =>
      new Promise<void>((resolve) => {
        // Finish calls in flight; a stuck one is cut after 5 s.
        const force = setTimeout(() => server.forceShutdown(), 5_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
