// npm run fuzz: each target under Jazzer.js (coverage-guided, libFuzzer) for FUZZ_SECONDS
// (default 20), starting from fuzz/seeds/<target>/ and the inputs earlier runs on this machine found
// (fuzz/.cache/corpus/<target>/). A crash, a per-input timeout (FUZZ_TIMEOUT_MS, default 2000)
// or running out of memory (FUZZ_RSS_MB, default 2048) writes the input to
// fuzz/regressions/<target>/, which test/fuzz-regressions.test.ts replays; the run then exits 1.
// Usage: node fuzz/run.mjs [target...]   (default: every target)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareJazzer } from './jazzer-compat/prepare.mjs';
import { TARGETS } from './targets/list.mjs';

const fuzzDir = dirname(fileURLToPath(import.meta.url));
const root = join(fuzzDir, '..');

const positive = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`${name} must be a positive integer, got "${raw}"`);
    process.exit(2);
  }
  return value;
};
const seconds = positive('FUZZ_SECONDS', 20);
const timeoutMs = positive('FUZZ_TIMEOUT_MS', 2000);
const rssMb = positive('FUZZ_RSS_MB', 2048);

const chosen = process.argv.slice(2);
for (const name of chosen) {
  if (!TARGETS.includes(name)) {
    console.error(`unknown fuzz target "${name}" (targets: ${TARGETS.join(', ')})`);
    process.exit(2);
  }
}
const env = { ...process.env, ...prepareJazzer() };
const jazzer = join(root, 'node_modules', '@jazzer.js', 'core', 'dist', 'cli.js');
const findings = [];
for (const target of chosen.length > 0 ? chosen : TARGETS) {
  const corpus = join(fuzzDir, '.cache', 'corpus', target);
  const regressions = join(fuzzDir, 'regressions', target);
  mkdirSync(corpus, { recursive: true });
  mkdirSync(regressions, { recursive: true });
  const before = new Set(readdirSync(regressions));
  console.log(`\n--- fuzz ${target}: ${seconds} s`);
  const result = spawnSync(
    process.execPath,
    [
      `--max-old-space-size=${Math.max(256, rssMb - 512)}`,
      jazzer,
      join(fuzzDir, 'targets', `${target}.mjs`),
      corpus,
      join(fuzzDir, 'seeds', target),
      '--sync',
      `--timeout=${timeoutMs}`,
      // Coverage of our own code only: the packages' built output (and the targets).
      '--includes=packages/',
      '--includes=fuzz/targets/',
      '--disable_bug_detectors=.*',
      '--',
      `-max_total_time=${seconds}`,
      `-rss_limit_mb=${rssMb}`,
      '-max_len=8192',
      `-artifact_prefix=${regressions}/`,
      '-print_final_stats=1',
    ],
    { cwd: root, env, stdio: 'inherit' },
  );
  const found = readdirSync(regressions).filter((name) => !before.has(name));
  if (result.status !== 0 || found.length > 0) {
    findings.push(
      `${target}: exit ${result.status ?? result.signal}, saved ${found.map((f) => relative(root, join(regressions, f))).join(', ') || 'nothing'}`,
    );
  }
}
if (findings.length > 0) {
  console.error(
    `\nfuzzing found problems (fix the parser, keep the input as a regression case):\n  ${findings.join('\n  ')}`,
  );
  process.exit(1);
}
console.log('\nfuzzing found nothing');
