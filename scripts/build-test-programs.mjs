// Compiles every test/programs/*.c into test/programs/bin/ (skipping ones that are up to date).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'test', 'programs');
const binDir = path.join(srcDir, 'bin');
mkdirSync(binDir, { recursive: true });

const headers = readdirSync(srcDir).filter((f) => f.endsWith('.h')).map((f) => path.join(srcDir, f));
const newestHeader = Math.max(0, ...headers.map((h) => statSync(h).mtimeMs));

function build(cc, src, out, extra, libs = []) {
  if (existsSync(out) && statSync(out).mtimeMs > Math.max(statSync(src).mtimeMs, newestHeader)) return;
  execFileSync(cc, ['-O2', '-g', '-Wall', '-pthread', ...extra, '-o', out, src, ...libs], { stdio: 'inherit' });
}

// Programs for one architecture only live in test/programs/<process.arch>/ (e.g. ppc64/);
// *-ia32.c programs are 32-bit x86 only (built below).
const archDir = path.join(srcDir, process.arch);
const sources = [
  ...readdirSync(srcDir).filter((f) => f.endsWith('.c') && !f.endsWith('-ia32.c')).map((f) => path.join(srcDir, f)),
  ...(existsSync(archDir) ? readdirSync(archDir).filter((f) => f.endsWith('.c')).map((f) => path.join(archDir, f)) : []),
];
// Programs that include liburing link it (Debian: liburing-dev).
const libs = (src) => (readFileSync(src, 'utf8').includes('#include <liburing.h>') ? ['-luring'] : []);
for (const src of sources) build('cc', src, path.join(binDir, path.basename(src).slice(0, -2)), [], libs(src));

// 32-bit x86 builds (NAME.ia32, static: no 32-bit loader needed) of the programs the ia32 round
// trips run, where the i686 cross compiler is installed (CI installs it on x86_64).
const IA32 = ['rt-mem', 'rt-sig', 'rt-thread', 'rt-threads', 'rt-task-timers', 'rt-files-pipe', 'rt-files-reg', 'rt-restart', 'rt-tree', 'rt-mixed', 'rt-iouring-raw'];
const ia32cc = 'i686-linux-gnu-gcc';
let haveIa32 = false;
try {
  execFileSync(ia32cc, ['--version'], { stdio: 'ignore' });
  haveIa32 = process.arch === 'x64';
} catch { /* not installed */ }
if (haveIa32) {
  const files = [...IA32.map((n) => `${n}.c`), ...readdirSync(srcDir).filter((f) => f.endsWith('-ia32.c'))];
  for (const file of files) {
    build(ia32cc, path.join(srcDir, file), path.join(binDir, `${file.slice(0, -2).replace(/-ia32$/, '')}.ia32`), ['-static', '-msse2']);
  }
}
