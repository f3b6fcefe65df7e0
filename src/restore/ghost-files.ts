// Files the task held open after they were unlinked ("ghost files", remap-fpath.img +
// ghost-file-N.img). Restore puts each one back at its old path for as long as the task needs
// to open (or map) it, then unlinks it again: the task ends up with the same name
// "(deleted)" and the same content, and nothing stays in the file system.

import { closeSync, existsSync, fchmodSync, fchownSync, futimesSync, ftruncateSync, openSync, rmSync, writeSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import type { MessageValue } from '../images/value.js';
import { imageFileName } from '../images/names.js';
import { RestoreError } from './errors.js';
import type { RestoreImages } from './images.js';

const REMAP_GHOST_BIT = 0x80000000; // images older than remap_type kept the kind in remap_id
const num = (v: unknown): number => Number(v ?? 0);

export interface Ghost {
  /** The file id in files.img that names the deleted file. */
  origId: number;
  ghostId: number;
  /** ghost-file-N.img, decoded. */
  image: string;
}

/** The remap-fpath.img entries, each either a ghost or a kind cryo cannot restore (as a message). */
export function ghostFiles(img: RestoreImages): { ghosts: Map<number, Ghost>; unsupported: string | undefined } {
  const ghosts = new Map<number, Ghost>();
  let unsupported: string | undefined;
  for (const { value: e } of img.all.get('remap-fpath.img')?.entries ?? []) {
    const type = e.remap_type;
    const id = num(e.remap_id);
    const ghost = type === 'GHOST' || type === 1 || (type === undefined && (id & REMAP_GHOST_BIT) !== 0);
    if (!ghost) {
      unsupported ??= `file id ${e.orig_id} is a ${type === undefined ? 'LINKED' : String(type)} remap`;
      continue;
    }
    const ghostId = id & ~REMAP_GHOST_BIT;
    ghosts.set(num(e.orig_id), { origId: num(e.orig_id), ghostId, image: imageFileName('ghostFile', ghostId) });
  }
  return { ghosts, unsupported };
}

/** Preflight: the ghost's image is there, its directory exists and its old path is free. */
export function checkGhost(img: RestoreImages, g: Ghost, name: string, why: string): void {
  if (!img.all.has(g.image)) throw new RestoreError('IMAGE_MISSING', `${path.join(img.dir, g.image)} is missing: ${img.dir} is not a complete dump`);
  const dir = path.dirname(name);
  if (!existsSync(dir)) {
    throw new RestoreError('FILE_MISSING', `${dir}, the directory of the deleted file ${name} (${why}), cannot be found: restore needs it to recreate the file`);
  }
  if (existsSync(name)) {
    throw new RestoreError('FILE_CHANGED', `${name} (${why}) was deleted at dump time and exists again now: move it away so the deleted file can be recreated there`);
  }
}

/** The ghosts, created at their old paths (call `remove` once the task has them open). */
export class GhostFiles {
  private readonly made: string[] = [];

  constructor(private readonly img: RestoreImages) {}

  createAll(): void {
    const { ghosts } = ghostFiles(this.img);
    const done = new Set<number>();
    for (const g of ghosts.values()) {
      if (done.has(g.ghostId)) continue;
      done.add(g.ghostId);
      const reg = this.img.files.get(g.origId)?.reg as MessageValue | undefined;
      if (!reg) throw new RestoreError('IMAGE_INCONSISTENT', `remap-fpath.img names file id ${g.origId}, which files.img does not have`);
      this.create(String(reg.name), g);
    }
  }

  private create(name: string, g: Ghost): void {
    const entries = this.img.all.get(g.image)!.entries;
    const head = entries[0]!.value;
    const mode = num(head.mode);
    if ((mode & fsc.S_IFMT) !== fsc.S_IFREG) {
      throw new RestoreError('UNSUPPORTED', `the deleted file ${name} is not a regular file (mode 0${mode.toString(8)}); cryo recreates deleted regular files only`);
    }
    const fd = openSync(name, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode & 0o7777);
    this.made.push(name);
    try {
      if (head.chunks === true) {
        for (const c of entries.slice(1)) writeAll(fd, c.extra as Buffer, num(c.value.off));
        ftruncateSync(fd, num(head.size));
      } else {
        writeAll(fd, (entries[0]!.extra as Buffer | undefined) ?? Buffer.alloc(0), 0);
      }
      fchownSync(fd, num(head.uid), num(head.gid));
      const t = (v: unknown) => { const tv = v as MessageValue | undefined; return num(tv?.tv_sec) + num(tv?.tv_usec) / 1e6; };
      futimesSync(fd, t(head.atim), t(head.mtim));
      // The umask cut the mode at creation, and fchown drops set-id bits: put the exact mode back.
      fchmodSync(fd, mode & 0o7777);
    } finally {
      closeSync(fd);
    }
  }

  /** Unlinks every recreated file (idempotent; used on success and failure). */
  remove(): void {
    for (const name of this.made.splice(0)) rmSync(name, { force: true });
  }
}

function writeAll(fd: number, data: Buffer, at: number): void {
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off, at + off);
}
