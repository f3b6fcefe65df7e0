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

for (const file of readdirSync(srcDir).filter((f) => f.endsWith('.c'))) {
  const src = path.join(srcDir, file);
  const out = path.join(binDir, file.slice(0, -2));
  if (existsSync(out) && statSync(out).mtimeMs > Math.max(statSync(src).mtimeMs, newestHeader)) continue;
  execFileSync('cc', ['-O2', '-g', '-Wall', '-pthread', '-o', out, src], { stdio: 'inherit' });
}
