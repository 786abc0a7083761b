import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { background, run, waitFor } from './exec.js';

export type Service = Record<string, unknown> & { environment?: Record<string, string> };
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

export interface ComposeAdaptation {
  /** Services not to run here (e.g. elasticsearch: no registry; the test runs its own in the app's namespace). */
  drop?: string[];
  env?: Record<string, Record<string, string>>;
  /** Extra services, each joining the app's network namespace. */
  extraServices?: Record<string, Service>;
  /**
   * Services of the file moved into the app's network namespace (network_mode "service:app"),
   * each reshaped by its function (e.g. to bind its own 127.0.0.x): replicas that would have had a
   * network of their own.
   */
  joinApp?: Record<string, (service: Service) => Service>;
  /** Public images with no local build, replaced by the local stand-in (images/base/). */
  images?: Record<string, string>;
}

/**
 * This machine forbids container networks with private-range addresses, so the app service,
 * whose network namespace every sidecar joins with network_mode "service:app", gets
 * network_mode "none" (loopback only) and no published ports. The rest is run as written.
 */
export function adaptComposeForLoopback(text: string, adaptation: ComposeAdaptation = {}): ComposeFile {
  const compose = parse(text, { merge: true }) as ComposeFile & Record<string, unknown>;
  for (const key of Object.keys(compose)) if (key.startsWith('x-')) delete compose[key];
  for (const name of adaptation.drop ?? []) delete compose.services[name];
  for (const service of Object.values(compose.services)) {
    const dependsOn = service['depends_on'];
    if (Array.isArray(dependsOn))
      service['depends_on'] = dependsOn.filter((d) => !adaptation.drop?.includes(String(d)));
  }
  const app = compose.services['app'];
  if (!app) throw new Error('compose file has no "app" service');
  delete app['ports'];
  app['network_mode'] = 'none';
  for (const [name, service] of Object.entries(adaptation.extraServices ?? {})) {
    compose.services[name] = { network_mode: 'service:app', ...service };
  }
  for (const [name, reshape] of Object.entries(adaptation.joinApp ?? {})) {
    const service = compose.services[name];
    if (!service) throw new Error(`compose file has no "${name}" service`);
    compose.services[name] = reshape({ ...structuredClone(service), network_mode: 'service:app' });
  }
  for (const service of Object.values(compose.services)) {
    const standIn = adaptation.images?.[String(service['image'])];
    if (standIn) service['image'] = standIn;
  }
  for (const [name, env] of Object.entries(adaptation.env ?? {})) {
    const service = compose.services[name];
    if (service) service.environment = { ...(service.environment ?? {}), ...env };
  }
  return compose;
}

export interface ComposeProject {
  project: string;
  appPid(): Promise<number>;
  inApp(
    command: string,
    args: string[],
    options?: { allowFailure?: boolean; timeoutMs?: number; input?: string },
  ): ReturnType<typeof run>;
  curl(url: string): Promise<{ status: number; body: string }>;
  compose(args: string[], options?: { allowFailure?: boolean }): ReturnType<typeof run>;
  container(service: string): Promise<string>;
  down(): Promise<void>;
}

let socket: { stop: () => Promise<void> } | undefined;
const SOCKET = '/run/sidecar-kit-e2e/podman.sock';

/** docker-compose talks to podman's Docker-compatible API on a socket this test starts. */
export async function startPodmanSocket(): Promise<void> {
  mkdirSync('/run/sidecar-kit-e2e', { recursive: true });
  socket = background('podman', ['system', 'service', '--time=0', `unix://${SOCKET}`]);
  await waitFor(
    'podman API socket',
    async () =>
      (await run('curl', ['-sf', '--unix-socket', SOCKET, 'http://d/_ping'], { allowFailure: true })).code ===
      0,
  );
}

export async function stopPodmanSocket(): Promise<void> {
  await socket?.stop();
}

export async function composeUp(
  exampleDir: string,
  adaptation: ComposeAdaptation = {},
): Promise<ComposeProject> {
  const compose = adaptComposeForLoopback(readFileSync(join(exampleDir, 'compose.yaml'), 'utf8'), adaptation);
  const project = `e2e-${basename(exampleDir)}`;
  // Written next to the original so relative bind mounts (./log-shipper.yaml) resolve the same.
  const file = join(exampleDir, '.compose.e2e.yaml');
  writeFileSync(file, stringify(compose));
  const env = { ...process.env, DOCKER_HOST: `unix://${SOCKET}` };
  const dc = (args: string[], options: { allowFailure?: boolean } = {}) =>
    run('docker-compose', ['-p', project, '-f', file, ...args], { ...options, env, timeoutMs: 240_000 });
  const down = async () => {
    // Dependent containers can make the first `down` leave some behind.
    await dc(['down', '-v', '--remove-orphans', '-t', '5'], { allowFailure: true });
    await dc(['down', '-v', '--remove-orphans', '-t', '5'], { allowFailure: true });
  };
  await down();
  await dc(['up', '-d']);
  const container = async (service: string) =>
    (await dc(['ps', '-q', service])).stdout.trim().split('\n')[0] ?? '';
  const appPid = async () =>
    Number(
      (await run('podman', ['inspect', await container('app'), '--format', '{{.State.Pid}}'])).stdout.trim(),
    );
  const inApp: ComposeProject['inApp'] = async (command, args, options) =>
    run('nsenter', ['-t', String(await appPid()), '-n', command, ...args], options);
  return {
    project,
    appPid,
    inApp,
    compose: dc,
    container,
    async curl(url) {
      const result = await inApp('curl', ['-s', '-m', '10', '-o', '-', '-w', '\n%{http_code}', url], {
        allowFailure: true,
      });
      const lines = result.stdout.split('\n');
      const status = Number(lines.pop());
      return { status, body: lines.join('\n') };
    },
    down,
  };
}
