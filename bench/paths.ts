// Where the bench finds cryo and keeps its build and scratch files (build/ is gitignored).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/bench (or dist-NAME/bench) -> the repository root.
export const repoRoot = path.resolve(here, '../..');
export const programsSrcDir = path.join(repoRoot, 'bench', 'programs');
export const benchBuildDir = path.join(repoRoot, 'build', 'bench');
export const binDir = path.join(benchBuildDir, 'bin');
export const workDir = path.join(benchBuildDir, 'work');
/** cryo's CLI from the same build as this bench. */
export const cryoCli = path.resolve(here, '../src/cli/main.js');
export const bin = (name: string) => path.join(binDir, name);
