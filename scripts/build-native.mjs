// Builds cryo's N-API addon (native/cryo_sys.c -> build/cryo_sys.node) with the system C compiler
// against Node's own headers: no node-gyp, no downloads. Runs as the package's "install" script.
//   CRYO_NODE_INCLUDE  directory holding node_api.h (default: <node prefix>/include/node, then /usr/include/node)
//   CRYO_BLAKE3_DIR    BLAKE3's C sources (default: the newest /usr/share/cargo/registry/blake3-*/c, from
//                      Debian's librust-blake3-dev)
//   CC                 the C compiler (default: cc)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { readdirSync } from 'node:fs'; // example programs
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'native', 'cryo_sys.c');
const outDir = path.join(root, 'build');
const out = path.join(outDir, 'cryo_sys.node');

function nodeIncludeDir() {
  const override = process.env.CRYO_NODE_INCLUDE;
  if (override) {
    if (existsSync(path.join(override, 'node_api.h'))) return override;
    console.error(`cryo: CRYO_NODE_INCLUDE=${override} holds no node_api.h: point it at Node's include/node directory.`);
    process.exit(1);
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const candidates = [
    path.join(prefix, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'node_api.h')));
  if (!found) {
    console.error(`cryo: cannot find Node's headers (node_api.h) in ${candidates.join(', ')}.`);
    console.error('Install them (Debian: apt-get install libnode-dev, or nodejs from nodejs.org which ships include/node), or set CRYO_NODE_INCLUDE.');
    process.exit(1);
  }
  return found;
}

// ---- example programs (owned by src/demo): examples/*.c -> build/examples/NAME, run by `cryo demo`.
{
  const exSrcDir = path.join(root, 'examples');
  const exOutDir = path.join(outDir, 'examples');
  const exCc = process.env.CC || 'cc';
  for (const file of existsSync(exSrcDir) ? readdirSync(exSrcDir).filter((f) => f.endsWith('.c')) : []) {
    const exSrc = path.join(exSrcDir, file);
    const exOut = path.join(exOutDir, file.slice(0, -2));
    if (existsSync(exOut) && statSync(exOut).mtimeMs > statSync(exSrc).mtimeMs && !process.argv.includes('--force')) continue;
    mkdirSync(exOutDir, { recursive: true });
    const exTmp = `${exOut}.tmp-${process.pid}`;
    const exArgs = ['-O2', '-g', '-Wall', '-o', exTmp, exSrc];
    try {
      execFileSync(exCc, exArgs, { stdio: 'inherit' });
    } catch {
      console.error(`cryo: building the example program failed: ${exCc} ${exArgs.join(' ')}`);
      process.exit(1);
    }
    renameSync(exTmp, exOut);
    console.log(`cryo: built ${path.relative(root, exOut)}`);
  }
}
// ---- end of example programs

/** Builds native/NAME into build/OUT when it is missing or older than its source (or --force). */
function buildProgram(name, out, flags, what) {
  const src = path.join(root, 'native', name);
  const dest = path.join(outDir, out);
  if (existsSync(dest) && statSync(dest).mtimeMs > statSync(src).mtimeMs && !process.argv.includes('--force')) return;
  mkdirSync(outDir, { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  const args = [...flags, '-o', tmp, src];
  try {
    execFileSync(process.env.CC || 'cc', args, { stdio: 'inherit' });
  } catch {
    console.error(`cryo: building ${what} failed: ${process.env.CC || 'cc'} ${args.join(' ')}`);
    process.exit(1);
  }
  renameSync(tmp, dest);
  console.log(`cryo: built ${path.relative(root, dest)}`);
}

// The restore stub (owned by src/restore): a static program without libc.
buildProgram('stub.c', 'cryo-stub', ['-static', '-nostdlib', '-nostartfiles', '-O2', '-Wl,--build-id=none'], 'the restore stub');
// The leftovers guard (owned by src/sys/guardian.ts).
buildProgram('guard.c', 'cryo-guard', ['-O2', '-Wall'], 'the leftovers guard');
// The service's client (owned by src/cli/service), the package's bin: it runs the Node that builds
// it (its path compiled in) when no service answers.
buildProgram('cryo_client.c', 'cryo', ['-O2', '-Wall', `-DCRYO_NODE=${JSON.stringify(process.execPath)}`], 'the service client');

// ---- BLAKE3 (the manifest's hash): the official C implementation, as Debian's librust-blake3-dev ships it.
/**
 * The directory of BLAKE3's C sources: CRYO_BLAKE3_DIR, else the newest
 * /usr/share/cargo/registry/blake3-VERSION/c that holds blake3.h.
 */
function blake3Dir() {
  const override = process.env.CRYO_BLAKE3_DIR;
  if (override) {
    if (existsSync(path.join(override, 'blake3.h'))) return override;
    console.error(`cryo: CRYO_BLAKE3_DIR=${override} holds no blake3.h: point it at BLAKE3's c/ directory (Debian: apt-get install librust-blake3-dev).`);
    process.exit(1);
  }
  const registry = '/usr/share/cargo/registry';
  const version = (d) => d.slice('blake3-'.length).split(/[.+~-]/).map((n) => Number.parseInt(n, 10) || 0);
  const newer = (a, b) => { const x = version(a), y = version(b); for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return y[i] - x[i]; return 0; };
  const found = (existsSync(registry) ? readdirSync(registry) : [])
    .filter((d) => /^blake3-\d/.test(d) && existsSync(path.join(registry, d, 'c', 'blake3.h')))
    .sort(newer)[0];
  if (!found) {
    console.error(`cryo: BLAKE3's C sources are missing (no ${registry}/blake3-*/c/blake3.h): apt-get install librust-blake3-dev (or set CRYO_BLAKE3_DIR).`);
    process.exit(1);
  }
  return path.join(registry, found, 'c');
}

/**
 * BLAKE3's sources and defines for the compiler's target (its -dumpmachine, so a cross compiler
 * gets its own): x86_64 every SIMD kernel (the assembly for Unix; the dispatcher picks by CPUID at
 * run time), aarch64 NEON, any other architecture the portable C alone.
 */
function blake3Build(cc, dir) {
  let target = '';
  try {
    target = execFileSync(cc, ['-dumpmachine'], { encoding: 'utf8' }).trim();
  } catch {
    console.error(`cryo: cannot ask the C compiler ${cc} for its target (${cc} -dumpmachine): is it installed? (Debian: apt-get install gcc libc6-dev)`);
    process.exit(1);
  }
  const common = ['blake3.c', 'blake3_dispatch.c', 'blake3_portable.c'];
  const simd = target.startsWith('x86_64-')
    ? { files: ['sse2', 'sse41', 'avx2', 'avx512'].map((k) => `blake3_${k}_x86-64_unix.S`), defines: [] }
    : target.startsWith('aarch64-')
      ? { files: ['blake3_neon.c'], defines: ['-DBLAKE3_USE_NEON=1'] }
      : { files: [], defines: ['-DBLAKE3_USE_NEON=0', '-DBLAKE3_NO_SSE2', '-DBLAKE3_NO_SSE41', '-DBLAKE3_NO_AVX2', '-DBLAKE3_NO_AVX512'] };
  const files = [...common, ...simd.files].map((f) => path.join(dir, f));
  const missing = files.find((f) => !existsSync(f));
  if (missing) {
    console.error(`cryo: ${missing} is missing from BLAKE3's sources: apt-get install --reinstall librust-blake3-dev (or set CRYO_BLAKE3_DIR).`);
    process.exit(1);
  }
  return { target, files, defines: simd.defines };
}
// ---- end of BLAKE3

// cryo_sys.c includes cryo_clone_vm.c, cryo_wait.c, cryo_smaps.c, cryo_fill.c and cryo_digest.c, which includes cryo_blake3.c and cryo_hasher.c: any changed means a rebuild.
const newestSrc = Math.max(...['cryo_sys.c', 'cryo_clone_vm.c', 'cryo_wait.c', 'cryo_smaps.c', 'cryo_fill.c', 'cryo_digest.c', 'cryo_blake3.c', 'cryo_hasher.c'].map((f) => statSync(path.join(root, 'native', f)).mtimeMs));
if (existsSync(out) && statSync(out).mtimeMs > newestSrc && !process.argv.includes('--force')) {
  process.exit(0); // up to date
}

const include = nodeIncludeDir();
const cc = process.env.CC || 'cc';
const b3 = blake3Build(cc, blake3Dir());
mkdirSync(outDir, { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
// BLAKE3's files first, without cryo's warnings (they are not cryo's code), into objects; then the addon with them.
const objDir = path.join(outDir, `blake3-${process.pid}`);
mkdirSync(objDir, { recursive: true });
const objects = b3.files.map((f) => path.join(objDir, `${path.basename(f)}.o`));
const b3Args = (f, o) => ['-O3', '-fPIC', '-fvisibility=hidden', ...b3.defines, '-c', '-o', o, f];
const args = ['-O2', '-g', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fPIC', '-shared', '-fvisibility=hidden',
  `-I${include}`, `-I${path.dirname(b3.files[0])}`, ...b3.defines, '-o', tmp, src, ...objects, '-lpthread'];
let step = '';
try {
  for (const [i, f] of b3.files.entries()) {
    step = `${cc} ${b3Args(f, objects[i]).join(' ')}`;
    execFileSync(cc, b3Args(f, objects[i]), { stdio: 'inherit' });
  }
  step = `${cc} ${args.join(' ')}`;
  execFileSync(cc, args, { stdio: 'inherit' });
} catch {
  console.error(`cryo: building the native addon failed: ${step}`);
  console.error('cryo needs a C compiler, the C library headers and BLAKE3\'s sources (Debian: apt-get install gcc libc6-dev librust-blake3-dev).');
  process.exit(1);
} finally {
  rmSync(objDir, { recursive: true, force: true });
}
renameSync(tmp, out); // atomic: a concurrent loader never sees a half-written file
console.log(`cryo: built ${path.relative(root, out)} (headers from ${include}; BLAKE3 from ${path.dirname(b3.files[0])} for ${b3.target})`);
