// Compiles every test/programs/*.c into test/programs/bin/ (skipping ones that are up to date).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'test', 'programs');
const binDir = path.join(srcDir, 'bin');
mkdirSync(binDir, { recursive: true });

const headers = readdirSync(srcDir).filter((f) => f.endsWith('.h')).map((f) => path.join(srcDir, f));
const newestHeader = Math.max(0, ...headers.map((h) => statSync(h).mtimeMs));

// Programs for one architecture only live in test/programs/<process.arch>/ (e.g. ppc64/).
const archDir = path.join(srcDir, process.arch);
const sources = [
  ...readdirSync(srcDir).filter((f) => f.endsWith('.c')).map((f) => path.join(srcDir, f)),
  ...(existsSync(archDir) ? readdirSync(archDir).filter((f) => f.endsWith('.c')).map((f) => path.join(archDir, f)) : []),
];

for (const src of sources) {
  const file = path.basename(src);
  const out = path.join(binDir, file.slice(0, -2));
  if (existsSync(out) && statSync(out).mtimeMs > Math.max(statSync(src).mtimeMs, newestHeader)) continue;
  execFileSync('cc', ['-O2', '-g', '-Wall', '-pthread', '-o', out, src], { stdio: 'inherit' });
}
