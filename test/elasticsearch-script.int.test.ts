import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EsServer, startElasticsearch } from './support/elasticsearch.js';

const script = join(import.meta.dirname, '../scripts/elasticsearch.sh');

function runScript(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [script, ...args], { timeout: 120_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr });
    });
  });
}

let es: EsServer;
beforeAll(async () => {
  es = await startElasticsearch();
});
afterAll(async () => {
  await es?.stop();
});

describe('scripts/elasticsearch.sh start', () => {
  it('refuses a port whose server is running, and that server keeps its data', async () => {
    const put = await fetch(`${es.url}/keep-me/_doc/1?refresh=true`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kept: true }),
    });
    expect(put.status).toBe(201);

    const second = await runScript(['start', '--port', String(es.port)]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`already runs on port ${es.port}`);

    const doc = await fetch(`${es.url}/keep-me/_doc/1`);
    expect(doc.status).toBe(200);
    expect(await doc.json()).toMatchObject({ _source: { kept: true } });
    const health = (await (await fetch(`${es.url}/_cluster/health/keep-me`)).json()) as { status: string };
    expect(['green', 'yellow']).toContain(health.status);
  });
});
