import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

// A real Elasticsearch server for tests (scripts/elasticsearch.sh: Elastic's integ-test zip from
// Maven Central, run as an unprivileged user on 127.0.0.1). Note: this distribution answers
// `GET /` with 405; use `GET /_cluster/health` to see whether it is up.
const script = join(import.meta.dirname, '../../scripts/elasticsearch.sh');

export interface EsServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Stops the server (connections are refused) but keeps its data... */
  pause(): Promise<void>;
  /** ...and starts it again on the same port with the same data. */
  resume(): Promise<void>;
}

function sh(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [script, ...args],
      { env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`elasticsearch.sh ${args.join(' ')} failed: ${stderr.slice(-4000)}`));
        else resolve(stdout.trim().split('\n').pop() ?? '');
      },
    );
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a fresh (empty) Elasticsearch on 127.0.0.1. Takes ~10 s. */
export async function startElasticsearch(
  options: { port?: number; netnsPid?: number } = {},
): Promise<EsServer> {
  const port = options.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = options.netnsPid ? { START_NETNS_PID: String(options.netnsPid) } : {};
  const url = await sh(['start', '--port', String(port)], env);
  return {
    url,
    port,
    stop: async () => {
      await sh(['stop', '--port', String(port)]);
    },
    pause: async () => {
      await sh(['stop', '--port', String(port)]);
    },
    resume: async () => {
      await sh(['start', '--port', String(port), '--keep-data'], env);
    },
  };
}

/**
 * ES_URL when it is set (an external server the caller manages), else a fresh local server.
 * Tests that must stop the server (outages) need a local one: they call startElasticsearch().
 */
export async function elasticsearchUrl(): Promise<{ url: string; stop: () => Promise<void> }> {
  const external = process.env.ES_URL;
  if (external) return { url: external.replace(/\/$/, ''), stop: async () => {} };
  const server = await startElasticsearch();
  return { url: server.url, stop: server.stop };
}
