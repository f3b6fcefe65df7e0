// The paths images name, checked and opened as the images say and no further: restore runs as
// root, and an image (or someone who planted a symbolic link after the dump) must not make it
// open, create, chown or unlink anything the dump did not see. A dump records real paths (the
// kernel's d_path), so a symbolic link on the way is never the dump's: it is refused.

import { statSync, type BigIntStats, type Stats } from 'node:fs';
import { errnoName, AT_FDCWD } from '../sys/index.js';
import { lookupNoSymlinks, notCleanAbsolute, openHow, RESOLVE_NO_SYMLINKS } from '../sys/safe-path.js';
import { RestoreError } from './restore-error.js';
import type { TaskCtx } from './task-ctx.js';
import { O_NOFOLLOW, O_PATH } from './constants.js';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
/** The set-user-ID and set-group-ID bits. */
export const S_ISXID = 0o6000;

const FILE_TYPES: Record<number, string> = {
  0o100000: 'a regular file', 0o040000: 'a directory', 0o020000: 'a character device', 0o060000: 'a block device',
  0o010000: 'a FIFO', 0o140000: 'a socket', 0o120000: 'a symbolic link',
};
export const typeName = (mode: number) => FILE_TYPES[mode & S_IFMT] ?? `mode 0${(mode & S_IFMT).toString(8)}`;

/** Where openImagePath puts struct open_how in the scratch area (after a path of up to PATH_MAX). */
const HOW_AT = 4096;

/** A path an image names: absolute and normalized, or a one-line refusal. */
export function checkCleanPath(name: string, why: string): void {
  const bad = notCleanAbsolute(name);
  if (bad !== undefined) {
    throw new RestoreError('UNSAFE', `${why} names the path ${JSON.stringify(name)}, and ${bad}: cryo uses only the full paths a dump records (a damaged or crafted image)`);
  }
}

const symlinkRefusal = (name: string, why: string, link: string) => new RestoreError('UNSAFE',
  `${name} (${why}): ${link} is a symbolic link, which the dump did not see (it records real paths): restore does not follow it; put the real ${link === name ? 'file' : 'directory'} back there`);

/**
 * Preflight: `name` is a clean absolute path, nothing on the way is a symbolic link, it exists
 * and (with `type`, an S_IFMT value) is that kind of file. Its stats, as numbers and with
 * nanoseconds.
 */
export function checkImagePath(name: string, why: string, type?: number): { st: Stats; big: BigIntStats } {
  checkCleanPath(name, why);
  // A symbolic link the task held itself (O_PATH | O_NOFOLLOW): that link, none on the way.
  const got = lookupNoSymlinks(name, type === S_IFLNK ? O_PATH | O_NOFOLLOW : O_PATH);
  if (got.kind === 'symlink') throw symlinkRefusal(name, why, got.link);
  if (got.kind === 'missing') {
    throw new RestoreError('FILE_MISSING', `${name} (${why}) cannot be found (${got.code}): restore needs it where it was at dump time`);
  }
  if (type !== undefined && (got.st.mode & S_IFMT) !== type) {
    throw new RestoreError('FILE_CHANGED', `${name} (${why}) is now ${typeName(got.st.mode)}, it was ${typeName(type)} at dump time`);
  }
  return { st: got.st, big: got.big };
}

/**
 * Preflight for a file restore creates (a deleted file, a socket's name): the path is clean, its
 * directory is a directory reached without a symbolic link, and nothing is at the path itself.
 * With `makeDirs`, directories missing on the way (removed too) are fine: restore makes them
 * for as long as it needs the file, below the nearest one that exists.
 */
export function checkFreePath(name: string, why: string, taken: string, makeDirs = false): void {
  checkCleanPath(name, why);
  let dir = name.slice(0, name.lastIndexOf('/')) || '/';
  let d = lookupNoSymlinks(dir);
  while (makeDirs && d.kind === 'missing' && d.code === 'ENOENT' && dir !== '/') {
    dir = dir.slice(0, dir.lastIndexOf('/')) || '/';
    d = lookupNoSymlinks(dir);
  }
  if (d.kind === 'symlink') throw symlinkRefusal(name, why, d.link);
  if (d.kind === 'missing') {
    throw new RestoreError('FILE_MISSING', `${dir}, the directory of ${name} (${why}), cannot be found (${d.code}): restore needs it to recreate the file`);
  }
  if ((d.st.mode & S_IFMT) !== S_IFDIR) throw new RestoreError('FILE_CHANGED', `${dir}, the directory of ${name} (${why}), is now ${typeName(d.st.mode)}`);
  const f = lookupNoSymlinks(name);
  if (f.kind !== 'missing' || f.code !== 'ENOENT') {
    throw new RestoreError('FILE_CHANGED', `${name} (${why}) ${taken}: move it away so restore can recreate it there`);
  }
}

/** A path openImagePaths opens: as openImagePath's arguments (no `type`). */
export interface PathToOpen {
  file: string;
  flags: number;
  why: string;
}

/** Bytes a path and its open_how take in openImagePaths's block (8-aligned). */
const entryBytes = (file: string) => (24 + Buffer.byteLength(file) + 1 + 7) & ~7;

/**
 * openImagePath for many paths in one stop of the task: each path with its struct open_how side by
 * side in the scratch area, the openat2 calls run by `runEach` (the task's batch runner, going on
 * past a failure). As many as fit the area; returns the descriptors of the first `n` (n >= 1). A
 * failure closes every one opened and throws openImagePath's error for the first that failed.
 */
export function openImagePaths(ctx: TaskCtx, paths: readonly PathToOpen[], room: number,
  runEach: (calls: { name: string; args: (bigint | number)[] }[]) => bigint[]): number[] {
  const block: Buffer[] = [];
  const calls: { name: string; args: (bigint | number)[] }[] = [];
  let size = 0;
  for (const p of paths) {
    const n = entryBytes(p.file);
    if (calls.length > 0 && size + n > room) break;
    const entry = Buffer.alloc(n);
    openHow(p.flags, 0, RESOLVE_NO_SYMLINKS).copy(entry, 0);
    entry.write(p.file, 24);
    block.push(entry);
    calls.push({ name: 'openat2', args: [AT_FDCWD, BigInt(size + 24), BigInt(size), 24] });
    size += n;
  }
  const base = ctx.put(Buffer.concat(block), 0);
  for (const c of calls) c.args = [AT_FDCWD, base + (c.args[1] as bigint), base + (c.args[2] as bigint), 24];
  const got = runEach(calls);
  const bad = got.findIndex((r) => r < 0n);
  if (bad < 0) return got.map(Number);
  runEach(got.filter((r) => r >= 0n).map((fd) => ({ name: 'close', args: [fd] })));
  const err = errnoName(Number(-got[bad]!));
  const hint = err === 'ELOOP' ? ': a symbolic link on the way, which the dump did not see' : '';
  throw new RestoreError('FAILED', `cannot open ${paths[bad]!.file} (${paths[bad]!.why}) in the restored task: ${err}${hint}`);
}

/**
 * Opens a path from the images inside the task with openat2 and RESOLVE_NO_SYMLINKS; with
 * `type` (S_IFMT), another kind of file there is refused (and closed) before anything uses it.
 */
export function openImagePath(ctx: TaskCtx, file: string, flags: number, why: string, type?: number): number {
  const c = imagePathCall(ctx, file, flags);
  return openedImagePath(ctx, ctx.raw(c.name, ...c.args), file, why, type);
}

/** openImagePath's call, its path and struct open_how written into the scratch area (for a caller that runs it with others'). */
export function imagePathCall(ctx: TaskCtx, file: string, flags: number): { name: string; args: bigint[] } {
  const at = ctx.putString(file);
  const how = ctx.put(openHow(flags, 0, RESOLVE_NO_SYMLINKS), HOW_AT);
  return { name: 'openat2', args: [BigInt(AT_FDCWD), at, how, 24n] };
}

/** openImagePath's checks of its call's result `r`: the descriptor, or an error (the descriptor closed). */
export function openedImagePath(ctx: TaskCtx, r: bigint, file: string, why: string, type?: number): number {
  if (r < 0n) {
    const err = errnoName(Number(-r));
    const hint = err === 'ELOOP' ? ': a symbolic link on the way, which the dump did not see' : '';
    throw new RestoreError('FAILED', `cannot open ${file} (${why}) in the restored task: ${err}${hint}`);
  }
  const fd = Number(r);
  if (type !== undefined) {
    let mode = -1;
    try { mode = statSync(`/proc/${ctx.pid}/fd/${fd}`).mode; } catch { /* refused below */ }
    if ((mode & S_IFMT) !== type) {
      ctx.call('close', fd);
      throw new RestoreError('FAILED', `${file} (${why}) is now ${mode < 0 ? 'gone' : typeName(mode)}, it was ${typeName(type)} at dump time`);
    }
  }
  return fd;
}
