import { constants } from 'node:http2';
import type { Endpoint } from '../cluster/endpoint.js';
import { grpcStatusOf, healthCheckRequest, healthCheckStatus } from '../listener/grpc.js';

const SERVING = 1;
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/**
 * `grpc.health.v1.Health/Check` for `service` on the endpoint's HTTP/2 sessions: passes when the
 * call ends with grpc-status 0 and the status SERVING. Resolves to a failure reason, or undefined.
 */
export function grpcHealthCheck(
  endpoint: Endpoint,
  service: string,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let headers: Record<string, unknown> | undefined;
    let trailers: Record<string, unknown> | undefined;
    let settled = false;
    let cancel: () => void = () => {};
    let close: () => void = () => {};
    const done = (failure: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cancel();
      close();
      resolve(failure);
    };
    const timer = setTimeout(() => done(`timeout after ${timeoutMs}ms`), timeoutMs);
    const body = healthCheckRequest(service);
    cancel = endpoint.h2.request(
      {
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Check',
        ':scheme': endpoint.h2.origin.startsWith('https') ? 'https' : 'http',
        ':authority': endpoint.address,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${timeoutMs}m`,
        'user-agent': 'sidecar-kit-ambassador/health-check',
      },
      false,
      (error, stream) => {
        if (error || !stream) return done(error?.message ?? 'no stream');
        if (settled) return stream.close(constants.NGHTTP2_CANCEL);
        close = () => {
          if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
        };
        stream.on('error', (streamError) => done(streamError.message));
        stream.on('response', (head) => {
          headers = head;
        });
        stream.on('trailers', (tail) => {
          trailers = tail;
        });
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const status = Number(headers?.[':status']);
          const code = grpcStatusOf(trailers) ?? grpcStatusOf(headers);
          if (status !== 200) return done(`status ${status}`);
          if (code !== 0) return done(`grpc-status ${code ?? 'missing'}`);
          const serving = healthCheckStatus(Buffer.concat(chunks));
          done(serving === SERVING ? undefined : `health ${STATUS_NAMES[serving ?? 0] ?? serving}`);
        });
        stream.on('close', () => done('stream closed'));
        stream.end(body);
      },
    );
  });
}
