// What the restore tests need around a restore: the fixture's files in place,
// scratch copies of image directories, and the proof that nothing was left behind.

import { readManifest, writeManifest } from '../../src/images/cryo-manifest.js';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import { writeFileSync } from 'node:fs';
import type { MessageValue } from '../../src/images/value.js';
import { after } from 'node:test';
import { __WALL, WNOHANG, kill, prctl, sleepSync, waitpid } from '../../src/sys/index.js';
import type { Target } from './dump-target.js';
import { fixturesDir } from './paths.js';

export const FIXTURE_DIR = '/tmp/cryo-fixtures';

/** Puts /tmp/cryo-fixtures/bin/single and single.log where the `single` fixture needs them. */
export function prepareSingleFixture(): void {
  mkdirSync(path.join(FIXTURE_DIR, 'bin'), { recursive: true });
  const bin = path.join(FIXTURE_DIR, 'bin', 'single');
  const src = path.join(fixturesDir, 'bin', 'single');
  if (!existsSync(bin) || statSync(bin).size !== statSync(src).size) copyFileSync(src, bin);
  copyFileSync(path.join(fixturesDir, 'files', 'single.log'), path.join(FIXTURE_DIR, 'single.log'));
  rmSync(path.join(FIXTURE_DIR, 'single.out'), { force: true });
}

/** A scratch copy of a fixture's image directory (restore may write into it; tests edit it). */
export function copyImages(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `cryo-restore-${name}-`));
  cpSync(path.join(fixturesDir, name), dir, { recursive: true });
  return dir;
}

/** Rewrites one image file of `dir` through `edit` (decode -> change entries -> encode). */
export function editImage(dir: string, file: string, edit: (entries: MessageValue[]) => void): void {
  const img = decodeImageFile(path.join(dir, file));
  edit(img.entries.map((e) => e.value));
  writeFileSync(path.join(dir, file), encodeImage(img));
  resealImages(dir);
}

/**
 * After a test's edit of a cryo dump: the manifest again, of the edited images, so restore gets
 * past its hash check to the check the test is about (a dump without a manifest stays without).
 */
export function resealImages(dir: string): void {
  const old = readManifest(dir);
  if (old === undefined) return;
  writeManifest(dir, { elsewhere: old.filter((e) => e.elsewhere).map((e) => e.name) });
}

/** The test process adopts orphans (a detached restored task), so it can reap them. */
export function becomeSubreaper(): void {
  const PR_SET_CHILD_SUBREAPER = 36;
  prctl(PR_SET_CHILD_SUBREAPER, 1);
}

/** Child PIDs of this process and their state letters (R, S, T, t, Z, ...). */
export function childStates(): Map<number, string> {
  const out = new Map<number, string>();
  for (const tid of readdirSync('/proc/self/task')) {
    let text = '';
    try { text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8'); } catch { continue; }
    for (const p of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        out.set(p, stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
      } catch { /* gone */ }
    }
  }
  return out;
}

/**
 * Waits (up to 20 s: PID 1 here reaps orphans once a second, slower under load) for PID to vanish,
 * reaping it if it became our zombie (a subreaper inherits the orphans of a tree the dump killed);
 * returns whether it did.
 */
export function waitGone(pid: number, ms = 20_000): boolean {
  const end = Date.now() + ms;
  while (existsSync(`/proc/${pid}`)) {
    try { waitpid(pid, WNOHANG | __WALL); } catch { /* not our child */ }
    if (!existsSync(`/proc/${pid}`)) break;
    if (Date.now() > end) return false;
    sleepSync(20);
  }
  return true;
}

/**
 * The targets and cleanups a test file collects, undone after its tests: the cleanups last first,
 * then each target killed, gone and its directory removed.
 */
export function cleanedUpAfterFile(): { targets: Target[]; cleanups: (() => void)[] } {
  const targets: Target[] = [];
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups.reverse()) { try { c(); } catch { /* best effort */ } }
    for (const t of targets) {
      try { kill(t.pid, 9); } catch { /* gone */ }
      waitGone(t.pid);
      rmSync(t.dir, { recursive: true, force: true });
    }
  });
  return { targets, cleanups };
}

/** The proof that a failed restore left nothing: PID gone, no stopped or zombie child of ours. */
export function nothingLeftBehind(pid: number): string | undefined {
  if (!waitGone(pid)) return `process ${pid} still exists`;
  for (const [child, state] of childStates()) {
    if (state === 'Z' || state === 'T' || state === 't') return `child ${child} is in state ${state}`;
  }
  return undefined;
}
