// A named cgroup v1 hierarchy of a test (rt-cgroup's), mounted for a moment to look into it or clean it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { sleepSync } from '../../src/sys/index.js';
import { startAndDump, type Dumped } from './round-trip.js';

/** Mounts the hierarchy `h` (name=...) on a directory of its own for `fn`. */
export function withHierarchy<T>(h: string, fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'rt-cgroup-'));
  try {
    execFileSync('mount', ['-t', 'cgroup', '-o', `none,${h}`, 'cgroup', dir]);
    try { return fn(dir); } finally { execFileSync('umount', [dir]); }
  } finally {
    rmdirSync(dir);
  }
}

/** Removes rt-cgroup's cgroups once its processes are gone (EBUSY until they are reaped). */
export const removeCgroups = (h: string): void => withHierarchy(h, (dir) => {
  for (const c of ['p/kid', 'p/spare', 'p', 'q', 'moved/kid', 'moved/spare', 'moved/p/kid', 'moved/p/spare', 'moved/p', 'moved']) {
    for (let i = 0; i < 100 && existsSync(path.join(dir, c)); i++) {
      try { rmdirSync(path.join(dir, c)); } catch { sleepSync(20); }
    }
  }
});

/**
 * rt-cgroup dumped, its hierarchy then unmounted and its cgroups removed (a restore must mount and
 * make them again); undefined, with the test skipped, where named hierarchies cannot be mounted.
 */
export async function dumpedOutOfItsCgroups(t: TestContext): Promise<{ d: Dumped; h: string } | undefined> {
  let d: Dumped;
  try {
    d = await startAndDump('rt-cgroup');
  } catch (e) {
    if (/mount none,name=cryo-rt-\d+: /.test((e as Error).message)) {
      t.skip(`named cgroup v1 hierarchies cannot be mounted here: ${(e as Error).message}`);
      return undefined;
    }
    throw e;
  }
  const h = `name=${String(d.target.ready.hier)}`;
  execFileSync('umount', [path.join(d.target.dir, 'h')]);
  removeCgroups(h);
  return { d, h };
}
