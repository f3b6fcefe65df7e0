// Builds cryo's N-API addon (native/cryo_sys.c -> build/cryo_sys.node) with the system C compiler
// against Node's own headers: no node-gyp, no downloads. Runs as the package's "install" script.
//   CRYO_NODE_INCLUDE  directory holding node_api.h (default: <node prefix>/include/node, then /usr/include/node)
//   CC                 the C compiler (default: cc)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
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

// ---- restore stub (owned by src/restore): native/stub.c -> build/cryo-stub, a static program without libc.
{
  const stubSrc = path.join(root, 'native', 'stub.c');
  const stubOut = path.join(outDir, 'cryo-stub');
  if (!existsSync(stubOut) || statSync(stubOut).mtimeMs <= statSync(stubSrc).mtimeMs || process.argv.includes('--force')) {
    mkdirSync(outDir, { recursive: true });
    const stubTmp = `${stubOut}.tmp-${process.pid}`;
    const stubArgs = ['-static', '-nostdlib', '-nostartfiles', '-O2', '-Wl,--build-id=none', '-o', stubTmp, stubSrc];
    try {
      execFileSync(process.env.CC || 'cc', stubArgs, { stdio: 'inherit' });
    } catch {
      console.error(`cryo: building the restore stub failed: ${process.env.CC || 'cc'} ${stubArgs.join(' ')}`);
      process.exit(1);
    }
    renameSync(stubTmp, stubOut);
    console.log(`cryo: built ${path.relative(root, stubOut)}`);
  }
}
// ---- end of restore stub

// ---- leftovers guard (owned by src/sys/guardian.ts): native/guard.c -> build/cryo-guard.
{
  const guardSrc = path.join(root, 'native', 'guard.c');
  const guardOut = path.join(outDir, 'cryo-guard');
  if (!existsSync(guardOut) || statSync(guardOut).mtimeMs <= statSync(guardSrc).mtimeMs || process.argv.includes('--force')) {
    mkdirSync(outDir, { recursive: true });
    const guardTmp = `${guardOut}.tmp-${process.pid}`;
    const guardArgs = ['-O2', '-Wall', '-o', guardTmp, guardSrc];
    try {
      execFileSync(process.env.CC || 'cc', guardArgs, { stdio: 'inherit' });
    } catch {
      console.error(`cryo: building the leftovers guard failed: ${process.env.CC || 'cc'} ${guardArgs.join(' ')}`);
      process.exit(1);
    }
    renameSync(guardTmp, guardOut);
    console.log(`cryo: built ${path.relative(root, guardOut)}`);
  }
}
// ---- end of leftovers guard

// cryo_sys.c includes cryo_sha.c, which includes cryo_hasher.c: any changed means a rebuild.
const newestSrc = Math.max(...['cryo_sys.c', 'cryo_sha.c', 'cryo_hasher.c'].map((f) => statSync(path.join(root, 'native', f)).mtimeMs));
if (existsSync(out) && statSync(out).mtimeMs > newestSrc && !process.argv.includes('--force')) {
  process.exit(0); // up to date
}

const include = nodeIncludeDir();
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
const args = ['-O2', '-g', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fPIC', '-shared', '-fvisibility=hidden',
  `-I${include}`, '-o', tmp, src];
try {
  execFileSync(cc, args, { stdio: 'inherit' });
} catch {
  console.error(`cryo: building the native addon failed: ${cc} ${args.join(' ')}`);
  console.error('cryo needs a C compiler and the C library headers (Debian: apt-get install gcc libc6-dev).');
  process.exit(1);
}
renameSync(tmp, out); // atomic: a concurrent loader never sees a half-written file
console.log(`cryo: built ${path.relative(root, out)} (headers from ${include})`);
