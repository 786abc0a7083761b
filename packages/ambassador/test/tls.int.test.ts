import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getJson, type RunningAmbassador, startAmbassador } from './helpers.js';

let dir = '';
let ambassador: RunningAmbassador | undefined;
let server: Server | undefined;
afterEach(async () => {
  await ambassador?.stop();
  server?.closeAllConnections();
  server?.close();
  ambassador = undefined;
});

/** A test CA, a server certificate for upstream.test / 127.0.0.1 and a client certificate, made with openssl. */
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ambassador-tls-'));
  const script = `set -e
cd "${dir}"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=sidecar-kit-test-ca 2>/dev/null
for name in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout $name.key -out $name.csr -subj /CN=$name 2>/dev/null
done
printf 'subjectAltName=DNS:upstream.test,IP:127.0.0.1\\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile server.ext 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1 2>/dev/null`;
  execFileSync('bash', ['-c', script]);
});

async function httpsUpstream(requireClientCert: boolean): Promise<number> {
  server = createServer(
    {
      key: readFileSync(join(dir, 'server.key')),
      cert: readFileSync(join(dir, 'server.crt')),
      ca: readFileSync(join(dir, 'ca.crt')),
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
    },
    (request, response) => {
      const peer = (request.socket as TLSSocket).getPeerCertificate();
      response.end(JSON.stringify({ upstream: 'tls', client: peer?.subject?.CN ?? null }));
    },
  );
  const current = server;
  await new Promise<void>((resolve) => current.listen(0, '127.0.0.1', resolve));
  return (current.address() as AddressInfo).port;
}

describe('TLS origination', () => {
  it('reaches an https upstream verified against a test CA', async () => {
    const port = await httpsUpstream(false);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: secure }]
clusters: [{ name: secure, endpoints: ["127.0.0.1:${port}"], tls: { ca: ${join(dir, 'ca.crt')}, serverName: upstream.test } }]`);
    expect(await getJson(`${ambassador.urls[0]}/`)).toMatchObject({ status: 200, body: { upstream: 'tls' } });
  });

  it('presents a client certificate for mTLS', async () => {
    const port = await httpsUpstream(true);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: secure }]
clusters:
  - name: secure
    endpoints: ["127.0.0.1:${port}"]
    tls: { ca: ${join(dir, 'ca.crt')}, cert: ${join(dir, 'client.crt')}, key: ${join(dir, 'client.key')} }`);
    expect(await getJson(`${ambassador.urls[0]}/`)).toMatchObject({
      status: 200,
      body: { client: 'client' },
    });
  });

  it('refuses an upstream whose certificate the CA did not sign: 502, nothing sent', async () => {
    const port = await httpsUpstream(false);
    ambassador = await startAmbassador(`listeners: [{ name: web, listen: 127.0.0.1:0, cluster: secure }]
clusters: [{ name: secure, endpoints: ["127.0.0.1:${port}"], tls: { serverName: upstream.test }, retries: { attempts: 0 } }]`);
    const { status, body } = await getJson(`${ambassador.urls[0]}/`);
    expect(status).toBe(502);
    expect(body['error']).toBe('upstream_connect_failure');
  });
});
