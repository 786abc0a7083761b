#!/usr/bin/env node
// Bundles the app and its dependencies into one ES module for the image:
//   node build.mjs OUTDIR   writes OUTDIR/dist/grpc-demo.mjs (+ .map) and OUTDIR/proto/*.proto
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? 'out');
mkdirSync(join(out, 'dist'), { recursive: true });
await build({
  absWorkingDir: here,
  entryPoints: [join(here, 'src/main.ts')],
  outfile: join(out, 'dist/grpc-demo.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.18',
  // Dependencies written as CommonJS call require() for node builtins: an ES module needs a real one.
  banner: {
    js: "import { createRequire as __grpcDemoCreateRequire } from 'node:module';\nconst require = __grpcDemoCreateRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  sourcesContent: false,
  keepNames: true,
  minifyWhitespace: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
cpSync(join(here, 'proto'), join(out, 'proto'), { recursive: true });
