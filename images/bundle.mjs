#!/usr/bin/env node
// Bundles one sidecar-kit package's production code and dependencies into one ESM file for its
// container image:
//   node images/bundle.mjs PACKAGE OUTDIR
// writes OUTDIR/dist/PACKAGE.mjs, OUTDIR/dist/PACKAGE.mjs.map, OUTDIR/package.json and
// OUTDIR/THIRD-PARTY-LICENSES.txt (the licence of every npm package inside the bundle).
//
// The entry point is the package's own bin (packages/PACKAGE/bin/PACKAGE.js), after `tsc -b`: the
// bundle starts from the same compiled JavaScript that `npm start` would run, and esbuild chains
// tsc's source maps, so with `node --enable-source-maps` stack traces name packages/*/src/*.ts.
// The source map carries no sources text (only file names and positions): it is for stack traces.
//
// Runtime files the code reads next to itself:
// - `createRequire(import.meta.url)('../package.json')` (the --version of every sidecar) resolves
//   from OUTDIR/dist/ to OUTDIR/package.json, so this script writes that file (name, version).
// - node:cluster forks process.argv[1], which is the bundle itself: the workers run the same file.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [name, outArg] = process.argv.slice(2);
if (!name || !outArg) {
  console.error('usage: node images/bundle.mjs PACKAGE OUTDIR');
  process.exit(2);
}
const out = resolve(outArg);
const pkgDir = join(root, 'packages', name);
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const entry = join(pkgDir, 'bin', `${name}.js`);
const outfile = join(out, 'dist', `${name}.mjs`);

mkdirSync(dirname(outfile), { recursive: true });
const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.18',
  // Dependencies written as CommonJS call require() for node builtins; in an ES module that needs
  // a real require, and some read __filename / __dirname.
  banner: {
    js: [
      "import { createRequire as __sidecarKitCreateRequire } from 'node:module';",
      "import { fileURLToPath as __sidecarKitFileURLToPath } from 'node:url';",
      'const require = __sidecarKitCreateRequire(import.meta.url);',
      'const __filename = __sidecarKitFileURLToPath(import.meta.url);',
      "const __dirname = __sidecarKitFileURLToPath(new URL('.', import.meta.url));",
    ].join('\n'),
  },
  sourcemap: 'linked',
  sourcesContent: false,
  sourceRoot: undefined,
  // Keep function and class names: they are in stack traces, logs and error messages.
  keepNames: true,
  minifyWhitespace: true,
  minifySyntax: true,
  // Licences go to OUTDIR/THIRD-PARTY-LICENSES.txt, whole, one per bundled package (below).
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

// The bundle is read from OUTDIR/dist: make source paths relative to the repository, so a stack
// trace says packages/log-shipper/src/tail/tailer.ts instead of ../../../src/packages/...
const mapFile = `${outfile}.map`;
const map = JSON.parse(readFileSync(mapFile, 'utf8'));
map.sources = map.sources.map((source) => {
  const absolute = resolve(dirname(outfile), source);
  return relative(root, absolute).startsWith('..') ? source : `/${relative(root, absolute)}`;
});
writeFileSync(mapFile, JSON.stringify(map));

writeFileSync(
  join(out, 'package.json'),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`,
);

// The licence text of every npm package that has code in the bundle.
const packageDirs = new Set();
for (const file of Object.keys(result.metafile.inputs)) {
  const match = file.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
  if (match) packageDirs.add(match[1]);
}
const notices = [];
for (const dir of [...packageDirs].sort()) {
  const meta = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
  const licenseFile = readdirSync(join(root, dir)).find((f) => /^(licen[cs]e|copying|notice)/i.test(f));
  const text = licenseFile ? readFileSync(join(root, dir, licenseFile), 'utf8').trim() : '(no licence file in the package)';
  notices.push(`${meta.name}@${meta.version} (${meta.license ?? 'unknown licence'})\n\n${text}\n`);
}
writeFileSync(join(out, 'THIRD-PARTY-LICENSES.txt'), notices.join(`\n${'-'.repeat(78)}\n\n`));
if (!existsSync(outfile)) throw new Error(`esbuild wrote no ${outfile}`);

// A short report: the bundle's size and the ten biggest inputs (by bytes in the output).
const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint);
const byPackage = new Map();
for (const [file, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
  const match = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  const key = match ? match[1] : file.startsWith('packages/') ? file.split('/').slice(0, 2).join('/') : file;
  byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
}
const top = [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 10);
console.log(`bundle ${relative(process.cwd(), outfile)}: ${(output.bytes / 1024).toFixed(0)} KiB`);
for (const [key, bytes] of top) console.log(`  ${(bytes / 1024).toFixed(0).padStart(6)} KiB  ${key}`);
