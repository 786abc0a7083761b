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
// The source map carries no sources text (only file names and positions) and covers our own code,
// not the dependencies (see ownCodeOnly below): it is for stack traces, at little memory.
//
// Runtime files the code reads next to itself:
// - `createRequire(import.meta.url)('../package.json')` (the --version of every sidecar) resolves
//   from OUTDIR/dist/ to OUTDIR/package.json, so this script writes that file (name, version).
// - node:cluster forks process.argv[1], which is the bundle itself: the workers run the same file.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

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
  absWorkingDir: root,
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
  // Whitespace minified: V8 keeps a module's source text, and the spaces cost ~6 MB of RSS.
  minifyWhitespace: true,
  minifySyntax: true,
  // Licences go to OUTDIR/THIRD-PARTY-LICENSES.txt, whole, one per bundled package (below).
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

// The source map keeps our own code only (packages/*/src, through tsc's maps), not the
// dependencies: node --enable-source-maps decodes the whole map at start and keeps it, and the
// full map (720 sources, most of them dependencies) cost log-shipper ~29 MB of idle RSS.
// Source paths are made relative to the repository root (/packages/log-shipper/src/...).
const mapFile = `${outfile}.map`;
writeFileSync(mapFile, JSON.stringify(ownCodeOnly(JSON.parse(readFileSync(mapFile, 'utf8')))));

function ownCodeOnly(map) {
  const absolute = map.sources.map((source) => resolve(dirname(outfile), source));
  const keep = absolute.map((file) => relative(root, file).startsWith('packages/'));
  const newIndex = [];
  const sources = [];
  absolute.forEach((file, i) => {
    if (keep[i]) {
      newIndex[i] = sources.length;
      sources.push(`/${relative(root, file)}`);
    }
  });
  const names = [];
  const nameIndex = new Map();
  // Decode every segment (absolute values), keep those in our sources, encode again.
  let [src, line, col, name] = [0, 0, 0, 0];
  let [outSrc, outLine, outCol, outName] = [0, 0, 0, 0];
  const lines = map.mappings.split(';').map((text) => {
    let genCol = 0;
    let outGenCol = 0;
    const segments = [];
    for (const segment of text ? text.split(',') : []) {
      const fields = decodeVlq(segment);
      genCol += fields[0];
      if (fields.length < 4) continue;
      src += fields[1];
      line += fields[2];
      col += fields[3];
      if (fields.length > 4) name += fields[4];
      if (!keep[src]) continue;
      const out = [genCol - outGenCol, newIndex[src] - outSrc, line - outLine, col - outCol];
      outGenCol = genCol;
      outSrc = newIndex[src];
      outLine = line;
      outCol = col;
      if (fields.length > 4) {
        const text = map.names[name];
        if (!nameIndex.has(text)) nameIndex.set(text, names.push(text) - 1);
        out.push(nameIndex.get(text) - outName);
        outName = nameIndex.get(text);
      }
      segments.push(out.map(encodeVlq).join(''));
    }
    return segments.join(',');
  });
  return { version: 3, file: map.file, sources, names, mappings: lines.join(';') };
}

function decodeVlq(text) {
  const values = [];
  let value = 0;
  let shift = 0;
  for (const char of text) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

function encodeVlq(number) {
  let value = number < 0 ? (-number << 1) | 1 : number << 1;
  let text = '';
  do {
    let digit = value & 31;
    value >>>= 5;
    if (value) digit |= 32;
    text += BASE64[digit];
  } while (value);
  return text;
}

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
  const text = licenseFile
    ? readFileSync(join(root, dir, licenseFile), 'utf8').trim()
    : '(no licence file in the package)';
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
