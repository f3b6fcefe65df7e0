// Runs the compiled cryo command line (dist*/src/cli/main.js beside the compiled tests).

import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const cryoCli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');

export function runCryo(args: string[], input?: Buffer | string): SpawnSyncReturns<Buffer> {
  return spawnSync(process.execPath, [cryoCli, ...args], { input, maxBuffer: 1 << 28 });
}
