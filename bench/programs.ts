// Compiles bench/programs/*.c (cc -O2) into build/bench/bin when the source is newer.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { bin, binDir, programsSrcDir } from './paths.js';

export function buildPrograms(): void {
  mkdirSync(binDir, { recursive: true });
  for (const f of readdirSync(programsSrcDir).filter((n) => n.endsWith('.c'))) {
    const src = path.join(programsSrcDir, f);
    const out = bin(f.slice(0, -2));
    if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
    try {
      execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', out, src], { stdio: ['ignore', 'inherit', 'inherit'] });
    } catch (e) {
      throw new Error(`cannot compile ${src} with cc (${(e as Error).message.split('\n')[0]}): install a C compiler (Debian: build-essential)`);
    }
  }
}
