// Path lookups that never follow a symbolic link (openat2 with RESOLVE_NO_SYMLINKS). Restore runs
// as root on the images' word for paths: a link planted on the way would send its checks, and
// the files it creates, chowns or unlinks, somewhere else.

import { closeSync, fstatSync, lstatSync, readlinkSync, type BigIntStats, type Stats } from 'node:fs';
import path from 'node:path';
import { SysError } from './errno.js';
import { writeU64 } from './native-endian.js';
import { O_CLOEXEC, O_PATH } from './open-flags.js';
import { rawSyscall } from './raw.js';
import { cstr } from './misc.js';

export const AT_FDCWD_NUM = -100;
export const RESOLVE_NO_SYMLINKS = 0x04;
/** Every path component stays under the starting directory (no "..", no absolute link). */
export const RESOLVE_BENEATH = 0x08;
const AT_REMOVEDIR = 0x200;

/** struct open_how { u64 flags; u64 mode; u64 resolve; } */
export function openHow(flags: number, mode: number, resolve: number): Buffer {
  const b = Buffer.alloc(24);
  writeU64(b, BigInt(flags >>> 0), 0);
  writeU64(b, BigInt(mode), 8);
  writeU64(b, BigInt(resolve), 16);
  return b;
}


/** Why `p` is not an absolute, normalized path ("/a/b", no "." or ".." parts, no doubled or trailing "/"), or undefined. */
export function notCleanAbsolute(p: string): string | undefined {
  if (p.includes('\0')) return 'it holds a NUL byte';
  if (!p.startsWith('/')) return 'it is not absolute';
  if (path.posix.normalize(p) !== p || (p.length > 1 && p.endsWith('/'))) return 'it is not normalized (".", ".." or doubled "/")';
  return undefined;
}

/**
 * Opens `file` relative to `dirfd` (absolute paths from the root) with openat2 and
 * RESOLVE_NO_SYMLINKS (plus `resolve`): a symbolic link anywhere on the way fails with ELOOP.
 * Throws SysError. O_PATH by default: nothing is opened for real (a FIFO does not block).
 */
export function openNoSymlinks(file: string, flags = O_PATH, dirfd = AT_FDCWD_NUM, resolve = 0, mode = 0): number {
  return Number(rawSyscall('openat2', dirfd, cstr(file), openHow(flags | O_CLOEXEC, mode, RESOLVE_NO_SYMLINKS | resolve), 24));
}

/** The first component of `file` (absolute) that is a symbolic link now, for messages. */
export function firstSymlink(file: string): string | undefined {
  let at = '/';
  for (const part of file.split('/').filter(Boolean)) {
    at = path.posix.join(at, part);
    try {
      if (lstatSync(at).isSymbolicLink()) return at;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The kernel's limit on links followed in one lookup. */
const MAX_LINKS = 40;

/**
 * Resolves `file` (absolute) component by component as the kernel does, asking `follow(link,
 * target)` at every symbolic link met. The resolved path (components that do not exist yet are
 * kept as they are), or the first link `follow` refused.
 */
export function walkLinks(file: string, follow: (link: string, target: string) => boolean): { path: string } | { refused: string } {
  let parts = file.split('/').filter(Boolean);
  let at = '/';
  for (let hops = 0; parts.length > 0;) {
    const part = parts.shift()!;
    if (part === '.') continue;
    if (part === '..') { at = path.posix.dirname(at); continue; }
    const next = path.posix.join(at, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch {
      return { path: path.posix.join(next, ...parts) };
    }
    if (!isLink) { at = next; continue; }
    const target = readlinkSync(next);
    if (!follow(next, target) || ++hops > MAX_LINKS) return { refused: next };
    parts = [...target.split('/').filter(Boolean), ...parts];
    if (target.startsWith('/')) at = '/';
  }
  return { path: at };
}

/** What is at a path, looked up without following links. */
export type Lookup =
  | { kind: 'found'; st: Stats; big: BigIntStats }
  | { kind: 'missing'; code: string }
  | { kind: 'symlink'; link: string };

/** lstat without following any link on the way (a link at the end is reported as one too). */
export function lookupNoSymlinks(file: string, flags = O_PATH): Lookup {
  let fd: number;
  try {
    fd = openNoSymlinks(file, flags);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    if (e.code === 'ELOOP') return { kind: 'symlink', link: firstSymlink(file) ?? file };
    return { kind: 'missing', code: e.code };
  }
  try {
    return { kind: 'found', st: fstatSync(fd), big: fstatSync(fd, { bigint: true }) };
  } finally {
    closeSync(fd);
  }
}

/** mkdirat(dirfd, name, mode). Throws SysError. */
export function mkdirAt(dirfd: number, name: string, mode: number): void {
  rawSyscall('mkdirat', dirfd, cstr(name), mode);
}

/** unlinkat(dirfd, name, dir ? AT_REMOVEDIR : 0). Throws SysError. */
export function unlinkAt(dirfd: number, name: string, dir = false): void {
  rawSyscall('unlinkat', dirfd, cstr(name), dir ? AT_REMOVEDIR : 0);
}

/** renameat2(dirfd, from, toDirfd, to, RENAME_NOREPLACE): never over an existing file. Throws SysError. */
export function renameNoReplace(dirfd: number, from: string, to: string, toDirfd = dirfd): void {
  const RENAME_NOREPLACE = 1;
  rawSyscall('renameat2', dirfd, cstr(from), toDirfd, cstr(to), RENAME_NOREPLACE);
}

/** fstat of `name` in `dirfd` (never through a link; with O_NOFOLLOW in `flags`, a link itself), or undefined when it is not there. */
export function statAt(dirfd: number, name: string, flags = O_PATH): Stats | undefined {
  let fd: number;
  try {
    fd = openNoSymlinks(name, flags, dirfd, RESOLVE_BENEATH);
  } catch (e) {
    if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ELOOP')) return undefined;
    throw e;
  }
  try {
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Unlinks `name` in `dirfd` only if it is still the inode `expect` (dev and ino; the file cryo
 * made): someone else's file that took its place is left alone. Returns whether it unlinked.
 */
export function unlinkIfSame(dirfd: number, name: string, expect: { dev: number; ino: number }, dir = false, flags = O_PATH): boolean {
  const st = statAt(dirfd, name, flags);
  if (!st || st.dev !== expect.dev || st.ino !== expect.ino) return false;
  try {
    unlinkAt(dirfd, name, dir);
    return true;
  } catch (e) {
    if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ENOTEMPTY')) return false;
    throw e;
  }
}
