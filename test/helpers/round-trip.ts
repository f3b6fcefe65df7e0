// A test program's round trip through cryo: start it, dump it (the dump kills it), wait for its
// PID to vanish, restore from the images (or from an edited copy), SIGTERM, and read its verdict
// (PASS or FAIL: reason). Restoring the same dump several times is allowed: every restore
// gets its own copy of the images and the program's output file is cut back to its READY line.
// Dump and restore go through cryo-ops.ts: the library, or the real command line with CRYO_TEST_CLI=1.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import path from 'node:path';
import type { DumpOptions } from '../../src/dump/index.js';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { restore, type RestoreOptions } from '../../src/restore/index.js';
import assert from 'node:assert/strict';
import { dumpTask, restoreTask } from './cryo-ops.js';
import { __WALL, kill, sleepSync, waitpid } from '../../src/sys/index.js';
import { killTree, startTarget, type Target } from './dump-target.js';
import { becomeSubreaper, nothingLeftBehind, resealImages, waitGone } from './restore-env.js';
import { waitInSyscall } from './dump-in-syscall.js';
import { startLazyPages } from './lazy-pages.js';

export interface Dumped {
  target: Target;
  pid: number;
  /** The images cryo dump wrote (never restored from directly: see restoreCopy). */
  images: string;
  readyLine: string;
}

/** Starts test/programs/bin/NAME and dumps it (with `opts`); resolves once every dumped PID is gone. */
export async function startAndDump(name: string, args: string[] = [], opts: Partial<DumpOptions> = {}): Promise<Dumped> {
  becomeSubreaper();
  const target = startTarget(name, args);
  const images = path.join(target.dir, 'images');
  try {
    await dumpTask({ ...opts, pid: target.pid, dir: images });
    // The whole tree: a child the dump killed may outlive the root for a moment (and a restore finds its PID taken).
    for (const { pid } of dumpedTree(images)) {
      if (!waitGone(pid)) throw new Error(`dumped task ${pid} is still there`);
    }
  } catch (e) {
    target.cleanup();
    throw e;
  }
  return { target, pid: target.pid, images, readyLine: readFileSync(target.outFile, 'utf8').split('\n')[0]! };
}

/** A restore (in this process) of a copy of `d`'s images that fails at restore point `n` (CRYO_FAULT); the copy removed after. */
export async function restoreFailingAt(d: Dumped, n: number): Promise<void> {
  const dir = imagesCopy(d);
  process.env.CRYO_FAULT = `restore:${n}`;
  try {
    await assert.rejects(restore({ dir, detach: true }), new RegExp(`fault injected at restore point ${n} `));
  } finally {
    delete process.env.CRYO_FAULT;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A scratch copy of the dump's images for one restore, edited by `edit` when given. */
export function imagesCopy(d: Dumped, edit?: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(d.target.dir, 'restore-'));
  cpSync(d.images, dir, { recursive: true });
  if (edit) {
    edit(dir);
    resealImages(dir);
  }
  return dir;
}

/** Restores a copy edited by `edit` (with `opts`), which must be refused leaving nothing behind; returns the error line. */
export async function restoreRefused(d: Dumped, edit: (dir: string) => void, opts: Partial<RestoreOptions> = {}): Promise<string> {
  const dir = imagesCopy(d, edit);
  const err = await restoreTask({ ...opts, dir }).then(() => undefined, (e: Error) => e.message);
  const left = nothingLeftBehind(d.pid);
  if (left !== undefined) throw new Error(`a refused restore left something behind: ${left}`);
  if (err === undefined) throw new Error('the edited dump was restored');
  return err;
}

/**
 * Restores the dump (from a copy edited by `edit`), sends SIGTERM and returns what the program
 * said after READY ("PASS" or "FAIL: ..."). Whatever happens, the restored task is gone after.
 */
export async function restoreAndFinish(
  d: Dumped,
  edit?: (dir: string) => void,
  opts: { inSyscall?: number; restore?: Partial<RestoreOptions>; untilFile?: string } = {},
): Promise<string> {
  const dir = imagesCopy(d, edit);
  truncateSync(d.target.outFile, Buffer.byteLength(d.readyLine) + 1);
  try {
    const r = await restoreTask({ ...opts.restore, dir });
    if (r.pid !== d.pid) throw new Error(`restored as PID ${r.pid}, dumped as ${d.pid}`);
    // A SIGTERM that lands before a restarted call is re-entered would be handled too early.
    if (opts.inSyscall !== undefined) waitInSyscall(d.pid, opts.inSyscall, `restored task ${d.pid}`);
    // Or until the program made a file saying it got there.
    if (opts.untilFile !== undefined) waitForFile(opts.untilFile, `restored task ${d.pid}`);
    return d.target.finish();
  } finally {
    try { kill(d.pid, 9); waitpid(d.pid, __WALL); } catch { /* gone, or reaped by finish() */ }
    killRestoredTree(dir);
    const left = nothingLeftBehind(d.pid);
    rmSync(dir, { recursive: true, force: true });
    if (left) throw new Error(`after the round trip: ${left}`);
  }
}

/**
 * Restores a chain of dumps copied into `root` (its newest in root/final), sends SIGTERM and returns
 * what the program said after READY; then kills what is left, removes `root` and checks nothing stays.
 */
export async function restoreChainAndFinish(t: Target, pid: number, readyLine: string, root: string, lazy = false): Promise<string> {
  truncateSync(t.outFile, Buffer.byteLength(readyLine) + 1);
  const dir = path.join(root, 'final');
  // lazy: `restore --lazy-pages`, the lazy pages (the chain's too) from `cryo lazy-pages` once the task runs.
  const server = lazy ? await startLazyPages(dir) : undefined;
  try {
    const r = await restoreTask({ dir, lazyPages: lazy });
    if (r.pid !== pid) throw new Error(`restored as PID ${r.pid}, dumped as ${pid}`);
    const s = await server?.done;
    if (s && s.status !== 0) throw new Error(`cryo lazy-pages: ${s.stderr.trim()}`);
    return t.finish();
  } finally {
    server?.kill();
    try { kill(pid, 9); waitpid(pid, __WALL); } catch { /* gone */ }
    const left = nothingLeftBehind(pid);
    rmSync(root, { recursive: true, force: true });
    if (left) throw new Error(`after the restore: ${left}`);
  }
}

/** The processes an image directory describes (pstree.img), each with its name (its core's comm). */
export function dumpedTree(dir: string): { pid: number; comm: string }[] {
  return decodeImageFile(path.join(dir, 'pstree.img')).entries.map(({ value }) => {
    const pid = Number(value.pid);
    const core = decodeImageFile(path.join(dir, `core-${pid}.img`)).entries[0]!.value;
    return { pid, comm: String((core.tc as MessageValue).comm) };
  });
}

/**
 * Kills and reaps every process of the restored tree still alive under its dumped name: a program
 * whose check failed early (an edited image) may end its parent before the parent passed SIGTERM
 * on, and the children would wait for it forever. The name check spares a process that took a PID after.
 */
function killRestoredTree(dir: string): void {
  let tree: { pid: number; comm: string }[];
  try {
    tree = dumpedTree(dir);
  } catch {
    return; // an edited image that does not decode: nothing was restored from it
  }
  for (const { pid, comm } of tree) {
    let now: string;
    try { now = readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { continue; /* gone */ }
    if (now !== comm) continue;
    try { kill(pid, 9); waitpid(pid, __WALL); } catch { /* not our child: waitGone below */ }
    waitGone(pid);
  }
}

/** Waits (generously: a loaded machine may be slow, never wrong) until `file` exists. */
export function waitForFile(file: string, who: string, timeoutMs = 60_000): void {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${who} did not make ${file} within ${timeoutMs} ms`);
    sleepSync(2);
  }
}

/** Removes the program's directory (its files and the images). */
export function cleanupDumped(d: Dumped | undefined): void {
  if (!d) return;
  killTree(d.pid);
  waitGone(d.pid);
  rmSync(d.target.dir, { recursive: true, force: true });
}
