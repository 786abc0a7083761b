import type { LocalReason } from '../errors.js';

/** gRPC status codes the ambassador uses itself. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** The gRPC status an ambassador-made error becomes for a gRPC client (as Envoy maps 502/503/504). */
export const GRPC_STATUS_OF: Record<LocalReason, number> = {
  no_healthy_upstream: GrpcStatus.UNAVAILABLE,
  circuit_open: GrpcStatus.UNAVAILABLE,
  upstream_connect_failure: GrpcStatus.UNAVAILABLE,
  upstream_reset: GrpcStatus.UNAVAILABLE,
  upstream_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  not_a_forward_proxy: GrpcStatus.PERMISSION_DENIED,
  // The client's own mistakes (a malformed request, a stalled body, oversized heads).
  bad_request: GrpcStatus.INVALID_ARGUMENT,
  request_body_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  request_header_fields_too_large: GrpcStatus.INVALID_ARGUMENT,
  uri_too_long: GrpcStatus.INVALID_ARGUMENT,
  request_header_timeout: GrpcStatus.DEADLINE_EXCEEDED,
};

export function isGrpc(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}

/** Per unit: [multiplier, divisor] to milliseconds (a divisor keeps 5000u exactly 5). */
const UNIT_MS: Record<string, [number, number]> = {
  H: [3_600_000, 1],
  M: [60_000, 1],
  S: [1000, 1],
  m: [1, 1],
  u: [1, 1000],
  n: [1, 1_000_000],
};

/** Milliseconds a `grpc-timeout` header gives (`1S`, `250m`, ...), or undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  const [multiplier, divisor] = UNIT_MS[match[2] as string] as [number, number];
  return (Number(match[1]) * multiplier) / divisor;
}

/** A `grpc-timeout` value for the time left (milliseconds, at least 1 ms). */
export function formatGrpcTimeout(ms: number): string {
  return `${Math.max(1, Math.ceil(ms))}m`;
}

/** Percent-encodes a grpc-message as the gRPC HTTP/2 spec asks (printable ASCII except %). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The grpc-status of a header set, or undefined when it has none. */
export function grpcStatusOf(headers: Record<string, unknown> | undefined): number | undefined {
  const value = headers?.['grpc-status'];
  if (value === undefined) return undefined;
  const code = Number(value);
  return Number.isInteger(code) ? code : GrpcStatus.UNKNOWN;
}

/** A serialized grpc.health.v1.HealthCheckRequest { service } as one length-prefixed gRPC message. */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const body = name.length
    ? Buffer.concat([Buffer.from([0x0a]), varint(name.length), name])
    : Buffer.alloc(0);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(body.length, 1);
  return Buffer.concat([frame, body]);
}

/** The `status` of a HealthCheckResponse message (1 is SERVING), or undefined when unreadable. */
export function healthCheckStatus(data: Buffer): number | undefined {
  if (data.length < 5 || data[0] !== 0) return undefined;
  const length = data.readUInt32BE(1);
  const message = data.subarray(5, 5 + length);
  let offset = 0;
  while (offset < message.length) {
    const tag = message[offset++] as number;
    const wire = tag & 7;
    if (wire === 0) {
      let value = 0;
      let shift = 0;
      let byte: number;
      do {
        byte = message[offset++] ?? 0;
        value |= (byte & 0x7f) << shift;
        shift += 7;
      } while (byte & 0x80 && offset < message.length);
      if (tag >> 3 === 1) return value;
    } else if (wire === 2) {
      const length = message[offset++] ?? 0;
      offset += length;
    } else return undefined;
  }
  return 0; // proto3: a missing field is its default, UNKNOWN
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}
