// Where the bench finds cryo and keeps its build and scratch files (build/ is gitignored).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/bench (or dist-NAME/bench) -> the repository root.
export const repoRoot = path.resolve(here, '../..');
export const programsSrcDir = path.join(repoRoot, 'bench', 'programs');
export const benchBuildDir = path.join(repoRoot, 'build', 'bench');
export const binDir = path.join(benchBuildDir, 'bin');
export const workDir = path.join(benchBuildDir, 'work');
/**
 * cryo's CLI from the same build as this bench: the package's bin (node scripts/bundle.mjs
 * writes dist/cryo-cli.cjs) when there is one, else the modules; CRYO_BENCH_CLI names another.
 */
export const cryoCli = process.env.CRYO_BENCH_CLI
  || (existsSync(path.resolve(here, '../cryo-cli.cjs')) ? path.resolve(here, '../cryo-cli.cjs') : path.resolve(here, '../src/cli/main.js'));
export const bin = (name: string) => path.join(binDir, name);
