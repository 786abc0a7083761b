// Makes the prebuilt @jazzer.js/fuzzer addon load on this machine, and says how to run it.
//
// @jazzer.js/fuzzer 4.0.0 ships fuzzer-linux-x64.node built against glibc 2.38 and GCC 13's
// libstdc++ (GLIBCXX_3.4.32); Debian 12 has glibc 2.36 and GCC 12, so loading it fails with
// "version `GLIBC_2.38' not found". Older Jazzer.js releases download their binary from GitHub at
// install time and building it needs an LLVM download, neither of which this machine can reach.
// The addon uses only three symbols of those versions (see compat.cc). So when the addon does not
// load as it is, this:
//   1. marks the addon's two version needs (GLIBC_2.38, GLIBCXX_3.4.32) weak in its
//      .gnu.version_r, so the loader no longer refuses the file (VER_FLG_WEAK, as the ELF gABI
//      defines it), after checking the file is the one of the pinned release;
//   2. compiles compat.cc into fuzz/.cache/jazzer-compat.so, to be loaded with LD_PRELOAD.
// On a machine with a new enough runtime nothing is changed and no preload is needed.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(join(root, 'package.json'));

const PINNED_VERSION = '4.0.0';
/** sha256 of prebuilds/fuzzer-linux-x64.node of @jazzer.js/fuzzer 4.0.0, as published and as patched here. */
const ORIGINAL_SHA256 = '59ffc0d22ea37c5edcf3d8b9b76b1d964940461a9337d0b14068e378e7703ac9';
const PATCHED_SHA256 = '63265f4a7137ecb881e3fb34a16dd7f9b91a3d5cedabc14eafa47dee65da2fc6';
const WEAK_VERSIONS = ['GLIBC_2.38', 'GLIBCXX_3.4.32'];
const SHT_GNU_VERNEED = 0x6ffffffe;
const VER_FLG_WEAK = 0x2;

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * Whether `require('@jazzer.js/fuzzer')` works in a fresh node with this environment, every symbol
 * bound at load (LD_BIND_NOW): with lazy binding a weakened file loads and fails at its first call.
 */
function addonLoads(env) {
  const result = spawnSync(process.execPath, ['-e', "require('@jazzer.js/fuzzer')"], {
    cwd: root,
    env: { ...process.env, LD_BIND_NOW: '1', ...env },
    encoding: 'utf8',
  });
  return {
    ok: result.status === 0,
    error: (result.stderr ?? '').split('\n').find((l) => l.includes('Error')),
  };
}

/** Sets VER_FLG_WEAK on the named version needs of an ELF64 little-endian file; returns the names changed. */
export function weakenVersionNeeds(bytes, names) {
  const sectionHeaders = Number(bytes.readBigUInt64LE(0x28));
  const headerSize = bytes.readUInt16LE(0x3a);
  const count = bytes.readUInt16LE(0x3c);
  const section = (index) => {
    const at = sectionHeaders + index * headerSize;
    return {
      type: bytes.readUInt32LE(at + 4),
      offset: Number(bytes.readBigUInt64LE(at + 0x18)),
      link: bytes.readUInt32LE(at + 0x28),
    };
  };
  const changed = [];
  for (let index = 0; index < count; index += 1) {
    const needs = section(index);
    if (needs.type !== SHT_GNU_VERNEED) continue;
    const strings = section(needs.link).offset;
    const name = (offset) => {
      const start = strings + offset;
      return bytes.toString('latin1', start, bytes.indexOf(0, start));
    };
    // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
    // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
    for (let need = needs.offset; ; ) {
      let aux = need + bytes.readUInt32LE(need + 8);
      for (let k = bytes.readUInt16LE(need + 2); k > 0; k -= 1) {
        if (names.includes(name(bytes.readUInt32LE(aux + 8)))) {
          bytes.writeUInt16LE(bytes.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
          changed.push(name(bytes.readUInt32LE(aux + 8)));
        }
        const next = bytes.readUInt32LE(aux + 12);
        if (next === 0) break;
        aux += next;
      }
      const next = bytes.readUInt32LE(need + 12);
      if (next === 0) break;
      need += next;
    }
  }
  return changed;
}

/** Returns the environment the fuzzer must run with ({} or an LD_PRELOAD). Throws with a reason when it cannot. */
export function prepareJazzer() {
  const version = require('@jazzer.js/fuzzer/package.json').version;
  if (addonLoads({}).ok) return {};
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(
      `@jazzer.js/fuzzer does not load on ${process.platform}-${process.arch}: ${addonLoads({}).error}`,
    );
  if (version !== PINNED_VERSION)
    throw new Error(
      `@jazzer.js/fuzzer ${version} does not load, and the compat layer is for ${PINNED_VERSION} only`,
    );
  const addon = join(
    dirname(require.resolve('@jazzer.js/fuzzer/package.json')),
    'prebuilds',
    'fuzzer-linux-x64.node',
  );
  const bytes = readFileSync(addon);
  const digest = sha256(bytes);
  if (digest === ORIGINAL_SHA256) {
    weakenVersionNeeds(bytes, WEAK_VERSIONS);
    writeFileSync(addon, bytes);
  } else if (digest !== PATCHED_SHA256) {
    throw new Error(`${addon} is not the published ${PINNED_VERSION} binary (sha256 ${digest})`);
  }
  const source = join(here, 'compat.cc');
  const library = join(root, 'fuzz', '.cache', 'jazzer-compat.so');
  if (!existsSync(library) || statSync(library).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(dirname(library), { recursive: true });
    try {
      execFileSync('g++', ['-shared', '-fPIC', '-O2', '-o', library, source], { stdio: 'inherit' });
    } catch (error) {
      throw new Error(`cannot compile ${source} (g++ is needed here): ${error.message}`);
    }
  }
  const env = { LD_PRELOAD: library };
  const check = addonLoads(env);
  if (!check.ok) throw new Error(`@jazzer.js/fuzzer still does not load with ${library}: ${check.error}`);
  return env;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const env = prepareJazzer();
  console.log(
    env.LD_PRELOAD ? `jazzer.js loads with LD_PRELOAD=${env.LD_PRELOAD}` : 'jazzer.js loads as it is',
  );
}
