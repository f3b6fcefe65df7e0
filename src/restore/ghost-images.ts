// What a dump's images say about files the task held open after they were unlinked (remap-fpath.img,
// ghost-file-N.img) and preflight's checks of it; ./ghost-files.ts makes them again.
import path from 'node:path';
import type { MessageValue } from '../images/value.js';
import { imageFileName } from '../images/names.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { lookupNoSymlinks } from '../sys/safe-path.js';
import { checkFreePath, S_IFLNK, S_IFMT, S_IFREG, S_ISXID, typeName } from '../shared/image-paths.js';
import { kernelDev } from '../shared/dev-numbers.js';

export const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
/** The kinds of deleted file restore makes again. */
export const GHOST_KINDS = new Set([S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK]);
export const isDevice = (mode: number) => (mode & S_IFMT) === S_IFCHR || (mode & S_IFMT) === S_IFBLK;
export const NOT_GHOST_KIND = 'cryo recreates deleted regular files, directories, device nodes, FIFOs and symbolic links only';

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

const REMAP_GHOST_BIT = 0x80000000; // images older than remap_type kept the kind in remap_id
const num = (v: unknown): number => Number(v ?? 0);

export interface Ghost {
  /** The file id in files.img that names the deleted file. */
  origId: number;
  ghostId: number;
  /** ghost-file-N.img, decoded. */
  image: string;
}

/**
 * The remap-fpath.img entries: ghosts, linked remaps (orig_id -> the file id of its link_remap
 * name), PIDs of dead processes whose /proc files the tree holds (PROCFS: restore/dead-pids.ts),
 * or a kind cryo cannot restore (as a message).
 */
export function ghostFiles(img: RestoreImages): { ghosts: Map<number, Ghost>; linked: Map<number, number>; deadPids: Set<number>; unsupported: string | undefined } {
  const ghosts = new Map<number, Ghost>();
  const linked = new Map<number, number>();
  const deadPids = new Set<number>();
  let unsupported: string | undefined;
  for (const { value: e } of img.all.get('remap-fpath.img')?.entries ?? []) {
    const type = e.remap_type;
    const id = num(e.remap_id);
    if (type === 'PROCFS' || type === 2) {
      deadPids.add(id);
      continue;
    }
    const ghost = type === 'GHOST' || type === 1 || (type === undefined && (id & REMAP_GHOST_BIT) !== 0);
    if (type === 'LINKED' || type === 0 || (type === undefined && !ghost)) {
      linked.set(num(e.orig_id), id);
      continue;
    }
    if (!ghost) {
      unsupported ??= `file id ${e.orig_id} is a ${String(type)} remap`;
      continue;
    }
    const ghostId = id & ~REMAP_GHOST_BIT;
    ghosts.set(num(e.orig_id), { origId: num(e.orig_id), ghostId, image: imageFileName('ghostFile', ghostId) });
  }
  return { ghosts, linked, deadPids, unsupported };
}

const LINK_REMAP = /^link_remap\.\d+(\.\d+)?$/;

/** The name of the link_remap file behind a linked remap, from its files.img entry. */
export function linkRemapName(img: RestoreImages, origId: number, remapId: number): string {
  const reg = img.files.get(remapId)?.reg as MessageValue | undefined;
  if (reg?.name === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `remap-fpath.img links file id ${origId} to file id ${remapId}, which is no regular file of files.img`);
  // Restore removes it afterwards: only a name a dump makes (a damaged or crafted image names another file).
  const name = String(reg.name);
  if (!LINK_REMAP.test(path.basename(name))) throw new RestoreError('IMAGE_INCONSISTENT', `remap-fpath.img links file id ${origId} to ${name}, which is no link_remap.N name a dump makes (a damaged or crafted image)`);
  return name;
}

/** What restore adds to the name of a deleted file whose old path another file holds now. */
const BESIDE = '.cryo-deleted';

/**
 * Where restore makes a deleted file again: at its old path, or beside it when another file is
 * there now (the task had that one open too, say). The task opens it there, so its descriptor
 * then names that path "(deleted)", as with CRIU, which adds ".cr_link".
 */
export function ghostPath(name: string, ghost: MessageValue): string {
  if (lookupNoSymlinks(name).kind !== 'found') return name;
  // Only on the file system it was deleted from: shared memory named /dev/zero was never in /dev.
  const dir = lookupNoSymlinks(name.slice(0, name.lastIndexOf('/')) || '/');
  return dir.kind === 'found' && ghost.dev !== undefined && kernelDev(BigInt(dir.st.dev)) === num(ghost.dev) ? `${name}${BESIDE}` : name;
}

/** Preflight: the ghost's image is there, of a kind restore makes, its old path is free in a real directory, and set-id bits only where files.img has them too and (unless --allow-setid-files) no holder could gain by them. */
export function checkGhost(img: RestoreImages, g: Ghost, name: string, why: string, type: number | undefined, checkedBefore = false): void {
  if (!checkedBefore) checkGhostImage(img, g, name, why, type);
  const mode = num(img.all.get(g.image)!.entries[0]?.value.mode);
  const setid = mode & S_ISXID;
  if (setid === 0) return;
  const reg = img.files.get(g.origId)?.reg as MessageValue | undefined;
  const bits = `${mode & S_ISUID ? 'set-user-ID' : ''}${mode & S_ISUID && mode & S_ISGID ? ' and ' : ''}${mode & S_ISGID ? 'set-group-ID' : ''}`;
  if ((num(reg?.mode) & S_ISXID) !== setid) {
    throw new RestoreError('UNSAFE', `${g.image} gives the deleted file ${name} (${why}) mode 0${(mode & 0o7777).toString(8)}, but files.img, the file the task had open, mode 0${(num(reg?.mode) & 0o7777).toString(8)}: refusing the ${bits} bits (a damaged or crafted image)`);
  }
  const head = img.all.get(g.image)!.entries[0]!.value;
  const who = gainer(img, mode, num(head.uid), num(head.gid));
  if (who !== undefined && !img.fdOptions?.allowSetidFiles) {
    throw new RestoreError('UNSAFE', `the deleted file ${name} (${why}) is ${bits} (mode 0${(mode & 0o7777).toString(8)}, owner ${num(head.uid)}:${num(head.gid)}) and process ${img.pid}, which holds it, ${who}: it could run it with those ids; restore with --allow-setid-files if you trust this dump`);
  }
}

/** What checkGhost checks of the ghost image and its path: the same for every process of the tree. */
function checkGhostImage(img: RestoreImages, g: Ghost, name: string, why: string, type: number | undefined): void {
  if (!img.all.has(g.image)) throw new RestoreError('IMAGE_MISSING', `${path.join(img.dir, g.image)} is missing: ${img.dir} is not a complete dump`);
  const mode = num(img.all.get(g.image)!.entries[0]?.value.mode);
  const kind = mode & S_IFMT;
  if (!GHOST_KINDS.has(kind) || (type !== undefined && type !== kind)) {
    throw new RestoreError('UNSUPPORTED', `the deleted file ${name} (${why}) is ${typeName(mode)} (mode 0${mode.toString(8)}); ${NOT_GHOST_KIND}`);
  }
  if (isDevice(mode) && img.all.get(g.image)!.entries[0]!.value.rdev === undefined) {
    throw new RestoreError('IMAGE_INCONSISTENT', `${g.image}: the deleted device node ${name} (${why}) has no device number (rdev)`);
  }
  const target = img.all.get(g.image)!.entries[0]!.value.symlnk_target;
  if (kind === S_IFLNK && (typeof target !== 'string' || target === '' || target.includes('\0'))) {
    throw new RestoreError('IMAGE_INCONSISTENT', `${g.image}: the deleted symbolic link ${name} (${why}) has no target (symlnk_target)`);
  }
  if (kind === S_IFREG) checkGhostSize(img.all.get(g.image)!.entries, g.image, name, why);
  // A removed directory goes back at its own path only; another file may go beside a file now there.
  const at = kind === S_IFDIR ? name : ghostPath(name, img.all.get(g.image)!.entries[0]!.value);
  checkFreePath(at, why, at === name ? 'was deleted at dump time and exists again now' : `is in the way of the deleted file ${name}, whose own path is taken too`, true);
}

/**
 * How a thread of the holder `img` could gain by a set-id file of owner `uid`:`gid` (it runs as
 * someone else, and not as root); undefined when none could. Another process reaches the file only
 * through the holder's /proc/PID/fd, which takes the holder's ids or root.
 */
function gainer(img: RestoreImages, mode: number, uid: number, gid: number): string | undefined {
  for (const { core } of img.threads) {
    const creds = (core.thread_core as MessageValue | undefined)?.creds as MessageValue | undefined;
    if (!creds) return 'has no credentials in its images';
    const uids = ['uid', 'euid', 'suid', 'fsuid'].map((k) => num(creds[k]));
    const gids = ['gid', 'egid', 'sgid', 'fsgid'].map((k) => num(creds[k]));
    if (uids.every((u) => u === 0)) continue;
    if (mode & S_ISUID && uids.some((u) => u !== uid)) return `runs as uid ${uids.join('/')}`;
    if (mode & S_ISGID && gids.some((g) => g !== gid)) return `runs as gid ${gids.join('/')}`;
  }
  return undefined;
}

/** A deleted file's size and chunk offsets must be ones a file can have (ftruncate and pwrite take them). */
function checkGhostSize(entries: { value: MessageValue; extra?: unknown }[], image: string, name: string, why: string): void {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  const bad = (v: unknown) => v !== undefined && (BigInt(v as bigint | number) < 0n || BigInt(v as bigint | number) > max);
  const head = entries[0]!.value;
  const off = entries.slice(1).find((c) => bad(c.value.off));
  if (bad(head.size) || off !== undefined) {
    throw new RestoreError('IMAGE_INCONSISTENT', `${image}: the deleted file ${name} (${why}) has ${off === undefined ? `size ${head.size}` : `a chunk at offset ${off.value.off}`}, which no file can have (a damaged or crafted image)`);
  }
}

/** A file (or directory) restore made, to be unlinked again only if it is still that file; `after` runs once it is unlinked. */
