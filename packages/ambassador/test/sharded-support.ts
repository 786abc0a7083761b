/** Shared pieces of the redis/memcached listener integration tests: real servers, an ambassador, raw clients. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig, Sidecar } from '@sidecar-kit/core';
import { request } from 'undici';
import { freePort } from '../../../test/support/elasticsearch.js';
import { configSchema, definition, MemcachedListener, RedisListener } from '../src/index.js';

export const HOST = '127.0.0.1';

const usedPorts = new Set<number>();
/** A free port not handed out before in this process. */
export async function uniquePort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!usedPorts.has(port)) {
      usedPorts.add(port);
      return port;
    }
  }
}

export async function waitForPort(port: number, child?: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child && child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const listening = await new Promise<boolean>((resolve) => {
      const socket = connect(port, HOST, () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (listening) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${port}`);
}

export class ServerProcess {
  child: ChildProcess | undefined;
  readonly port: number;
  readonly #args: (port: number) => [string, string[]];

  constructor(port: number, args: (port: number) => [string, string[]]) {
    this.port = port;
    this.#args = args;
  }

  async start(): Promise<void> {
    const [program, args] = this.#args(this.port);
    const child = spawn(program, args, { stdio: 'ignore' });
    this.child = child;
    await waitForPort(this.port, child);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    this.child = undefined;
    child.kill('SIGKILL');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

export async function redisServer(): Promise<ServerProcess> {
  const server = new ServerProcess(await uniquePort(), (port) => [
    'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
  ]);
  await server.start();
  return server;
}

/** A CA and a server certificate for redis.test and 127.0.0.1 (openssl), written into `dir`. */
export function writeTestCertificates(dir: string): { ca: string; cert: string; key: string } {
  execFileSync('bash', [
    '-c',
    `set -e; cd "${dir}"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=sidecar-kit-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=redis 2>/dev/null
printf 'subjectAltName=DNS:redis.test,IP:127.0.0.1\\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile server.ext 2>/dev/null`,
  ]);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

/** A redis-server that speaks TLS only (`--port 0`: a plain connection gets nowhere), started. */
export async function tlsRedisServer(
  certificates: { ca: string; cert: string; key: string },
  extraArgs: string[] = [],
): Promise<ServerProcess> {
  const server = new ServerProcess(await uniquePort(), (port) => [
    'redis-server',
    [
      ...['--port', '0', '--tls-port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
      ...['--tls-cert-file', certificates.cert, '--tls-key-file', certificates.key],
      ...['--tls-ca-cert-file', certificates.ca, '--tls-auth-clients', 'no', ...extraArgs],
    ],
  ]);
  await server.start();
  return server;
}

export async function memcachedServer(): Promise<ServerProcess> {
  const server = new ServerProcess(await uniquePort(), (port) => [
    'memcached',
    [
      '-l',
      HOST,
      '-p',
      String(port),
      '-U',
      '0',
      '-m',
      '32',
      '-t',
      '1',
      ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []),
    ],
  ]);
  await server.start();
  return server;
}

/**
 * nutcracker (twemproxy) with one pool over `servers`, to compare routing with: `pool` are the
 * pool's other settings (`hash: md5`, ...), one YAML line each.
 */
export async function startNutcracker(servers: string[], pool: string[]): Promise<ServerProcess> {
  const work = mkdtempSync(join(tmpdir(), 'nutcracker-'));
  const config = join(work, 'nutcracker.yml');
  const statsPort = await uniquePort();
  const server = new ServerProcess(await uniquePort(), (port) => {
    const lines = [`listen: ${HOST}:${port}`, ...pool, 'servers:', ...servers.map((spec) => `  - ${spec}`)];
    writeFileSync(config, `pool:\n${lines.map((line) => `  ${line}\n`).join('')}`);
    return ['nutcracker', ['-c', config, '-s', String(statsPort), '-a', HOST, '-o', join(work, 'log')]];
  });
  await server.start();
  return server;
}

export interface ShardedAmbassador {
  sidecar: Sidecar;
  ports: number[];
  admin: string;
  clusters(): Promise<{ clusters: Array<{ name: string; shards?: Array<Record<string, unknown>> }> }>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startSharded(yaml: string): Promise<ShardedAmbassador> {
  const config = parseConfig(`admin: { listen: 127.0.0.1:0 }\nlog: { level: silent }\n${yaml}`, configSchema);
  const listeners: Array<RedisListener | MemcachedListener> = [];
  const sidecar = await Sidecar.start(
    {
      ...definition,
      create: async (context) => {
        const components = await definition.create(context);
        for (const item of components)
          if (item instanceof RedisListener || item instanceof MemcachedListener) listeners.push(item);
        return components;
      },
    },
    config,
  );
  const admin = `http://127.0.0.1:${sidecar.adminAddress.port}`;
  return {
    sidecar,
    ports: listeners.map((listener) => listener.address()?.port ?? 0),
    admin,
    clusters: async () =>
      (await (await request(`${admin}/clusters`)).body.json()) as Awaited<
        ReturnType<ShardedAmbassador['clusters']>
      >,
    metrics: async () => (await request(`${admin}/metrics`)).body.text(),
    stop: async () => {
      await sidecar.stop(2000);
    },
  };
}

/** A reply parser of one protocol, as RawClient reads replies with it. */
export interface FrameParser<Frame> {
  push(chunk: Uint8Array): void;
  next(): Frame | undefined;
}

/** A client over a raw socket: `exchange` sends bytes and resolves once `count` replies (frames) arrived. */
export class RawClient<Frame> {
  readonly socket: Socket;
  readonly #parser: FrameParser<Frame>;
  readonly #waiting: { count: number; replies: Frame[]; resolve: (replies: Frame[]) => void }[] = [];
  /** Replies nobody waited for. */
  readonly extra: Frame[] = [];
  closed: Promise<void>;
  received = Buffer.alloc(0);

  private constructor(socket: Socket, parser: FrameParser<Frame>) {
    this.socket = socket;
    this.#parser = parser;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.#parser.push(chunk);
      for (let reply = this.#parser.next(); reply !== undefined; reply = this.#parser.next()) {
        const head = this.#waiting[0];
        if (!head) {
          this.extra.push(reply);
          continue;
        }
        head.replies.push(reply);
        if (head.replies.length === head.count) {
          this.#waiting.shift();
          head.resolve(head.replies);
        }
      }
    });
  }

  static async open<Frame>(port: number, parser: FrameParser<Frame>): Promise<RawClient<Frame>> {
    const socket = connect(port, HOST);
    await once(socket, 'connect');
    return new RawClient(socket, parser);
  }

  exchange(bytes: Buffer | string, count: number): Promise<Frame[]> {
    return new Promise((resolve) => {
      this.#waiting.push({ count, replies: [], resolve });
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The raw clients a test file opens (each with a new parser), closed together when it ends. */
export class RawClients<Frame> {
  readonly #parser: () => FrameParser<Frame>;
  readonly #opened: RawClient<Frame>[] = [];

  constructor(parser: () => FrameParser<Frame>) {
    this.#parser = parser;
  }

  async open(port: number): Promise<RawClient<Frame>> {
    const client = await RawClient.open(port, this.#parser());
    this.#opened.push(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.#opened.splice(0)) client.close();
  }
}
