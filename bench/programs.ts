// Compiles bench/programs/*.c (cc -O2) into build/bench/bin when the source is newer.
import { execFileSync, spawnSync } from 'node:child_process';
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

/** Room for the tool itself on top of twice the task's bytes when preconditioning. */
const PRECONDITION_EXTRA = 64 * 1024 * 1024;
export const PRECONDITION_NOTE = `touch and free twice the task's anonymous bytes + ${PRECONDITION_EXTRA >> 20} MiB`;

/**
 * Touches and frees twice the task's bytes (+ room for the tool): a dump needs the task's bytes
 * again as page cache, and the floor also needs its warm buffer; a restore needs the task's memory.
 */
export function precondition(bytes: number): void {
  const p = spawnSync(bin('precondition'), [String(2 * bytes + PRECONDITION_EXTRA)], { stdio: 'ignore' });
  if (p.status !== 0) throw new Error(`precondition ${bytes} failed`);
}
