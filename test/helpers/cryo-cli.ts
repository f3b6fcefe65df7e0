// Runs the compiled cryo command line (dist*/src/cli/main.js beside the compiled tests).

import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withoutNodeNoise } from './node-noise.js';

export const cryoCli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');

/** Runs `cryo ARGS`; its stderr is cryo's own (without Node's notes, see node-noise.ts). */
export function runCryo(args: string[], input?: Buffer | string): SpawnSyncReturns<Buffer> {
  const r = spawnSync(process.execPath, [cryoCli, ...args], { input, maxBuffer: 1 << 28 });
  return r.stderr ? { ...r, stderr: Buffer.from(withoutNodeNoise(r.stderr)) } : r;
}

/** Runs `cryo ARGS` without blocking this process's event loop; its exit code, stdout and stderr (cryo's own, trimmed). */
export function cryoAsync(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cryoCli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (code) => resolve({ code: code ?? -1, out, err: withoutNodeNoise(err).trim() }));
  });
}
