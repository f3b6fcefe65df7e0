// Where the tests find the repository, the shared fixtures and the built test programs.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The first directory upward that holds both package.json and src/ (works from dist/ too). */
function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'src'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the cryo repository above ${start}`);
  }
}

export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
export const sharedDir = process.env.CRYO_SHARED ?? path.resolve(repoRoot, '..', 'shared');
export const fixturesDir = path.join(sharedDir, 'fixtures', 'criu-4.2');
export const programsBinDir = path.join(repoRoot, 'test', 'programs', 'bin');
