import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface HelloRequest {
  name: string;
}
export interface HelloReply {
  message: string;
  replica: string;
}
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** The client's view of sidecarkit.demo.v1.Greeter. */
export interface GreeterClient extends grpc.Client {
  sayHello(
    request: HelloRequest,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, reply?: HelloReply) => void,
  ): grpc.ClientUnaryCall;
}

// The .proto files sit next to the code: proto/ beside src/ when run from the sources, beside
// dist/ in the image (/app/proto, /app/dist/grpc-demo.mjs).
function protoFile(name: string): string {
  for (const candidate of [`../proto/${name}`, `../../proto/${name}`]) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`proto file ${name} not found next to ${fileURLToPath(import.meta.url)}`);
}

const definition = protoLoader.loadSync([protoFile('greeter.proto'), protoFile('health.proto')], {
  keepCase: false,
  enums: String,
  defaults: true,
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  sidecarkit: { demo: { v1: { Greeter: grpc.ServiceClientConstructor } } };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};
export const Greeter = loaded.sidecarkit.demo.v1.Greeter;
export const Health = loaded.grpc.health.v1.Health;
