import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const fixtures = join(import.meta.dirname, 'fixtures');
const definition = protoLoader.loadSync([join(fixtures, 'echo.proto'), join(fixtures, 'health.proto')], {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  sidecarkit: { test: { Echo: grpc.ServiceClientConstructor } };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};
export const EchoService = loaded.sidecarkit.test.Echo;
export const HealthService = loaded.grpc.health.v1.Health;

export interface EchoRequest {
  message?: string;
  count?: number;
  sleepMs?: number;
  size?: number;
}
export interface EchoReply {
  message: string;
  server: string;
  index: number;
  payload: Buffer;
}

/** The test client's view of the Echo service. */
export interface EchoClient extends grpc.Client {
  unary(
    request: EchoRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, reply?: EchoReply) => void,
  ): grpc.ClientUnaryCall;
  serverStream(request: EchoRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  clientStream(
    callback: (error: grpc.ServiceError | null, reply?: EchoReply) => void,
  ): grpc.ClientWritableStream<EchoRequest>;
  bidi(options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

export function echoClient(address: string, options: grpc.ChannelOptions = {}): EchoClient {
  return new EchoService(address, grpc.credentials.createInsecure(), options) as unknown as EchoClient;
}

export function unary(
  client: EchoClient,
  request: EchoRequest,
  options: grpc.CallOptions = {},
): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    client.unary(request, new grpc.Metadata(), options, (error, reply) =>
      error ? reject(error) : resolve(reply as EchoReply),
    );
  });
}

/** A real gRPC server (grpc-js) that names itself in every reply. */
export class EchoServer {
  readonly name: string;
  readonly server = new grpc.Server();
  port = 0;
  calls = 0;
  /** Server-stream messages written so far (all calls). */
  sent = 0;
  serving = true;
  /** Every unary call answers UNAVAILABLE. */
  unavailable = false;

  constructor(name: string) {
    this.name = name;
    const reply = (message: string, index = 0, size = 0): EchoReply => ({
      message,
      server: name,
      index,
      payload: Buffer.alloc(size, 120),
    });
    this.server.addService(EchoService.service, {
      unary: (
        call: grpc.ServerUnaryCall<EchoRequest, EchoReply>,
        callback: grpc.sendUnaryData<EchoReply>,
      ) => {
        this.calls++;
        const request = call.request;
        if (this.unavailable) {
          callback({ code: grpc.status.UNAVAILABLE, details: `${name} is unavailable` });
          return;
        }
        const answer = () => callback(null, reply(request.message ?? '', 0, request.size ?? 0));
        if (request.sleepMs) setTimeout(answer, request.sleepMs);
        else answer();
      },
      serverStream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
        this.calls++;
        const { count = 0, size = 0 } = call.request;
        let index = 0;
        let cancelled = false;
        call.on('cancelled', () => {
          cancelled = true;
        });
        const pump = () => {
          while (index < count && !cancelled) {
            const ok = call.write(reply(call.request.message ?? '', index++, size));
            this.sent++;
            if (!ok) {
              call.once('drain', pump);
              return;
            }
          }
          if (!cancelled) call.end();
        };
        pump();
      },
      clientStream: (
        call: grpc.ServerReadableStream<EchoRequest, EchoReply>,
        callback: grpc.sendUnaryData<EchoReply>,
      ) => {
        this.calls++;
        let count = 0;
        call.on('data', () => count++);
        call.on('end', () => callback(null, reply(String(count))));
      },
      bidi: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
        this.calls++;
        let index = 0;
        call.on('data', (request: EchoRequest) => call.write(reply(request.message ?? '', index++)));
        call.on('end', () => call.end());
      },
    });
    this.server.addService(HealthService.service, {
      check: (
        _call: grpc.ServerUnaryCall<{ service: string }, { status: string }>,
        callback: grpc.sendUnaryData<{ status: string }>,
      ) => callback(null, { status: this.serving ? 'SERVING' : 'NOT_SERVING' }),
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    return this;
  }

  /** Stops at once, cutting calls in flight, as a crashed process would. */
  kill(): void {
    this.server.forceShutdown();
  }
}
