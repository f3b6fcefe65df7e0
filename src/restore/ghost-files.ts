// Files the task held open after they were unlinked ("ghost files", remap-fpath.img +
// ghost-file-N.img): regular files, device nodes, FIFOs, and removed directories it held open or worked in. Restore puts each one
// back at its old path for as long as the task needs to open (or map) it, then unlinks it
// again: the task ends up with the same name "(deleted)" and the same content, and nothing
// stays in the file system.

import { chmodSync, chownSync, closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, ftruncateSync, openSync, utimesSync, writeSync, constants as fsc } from 'node:fs';
import path from 'node:path';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import { O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_PATH } from '../shared/constants.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { cstr, rawSyscall } from '../sys/index.js';
import { lookupNoSymlinks, mkdirAt, openNoSymlinks, statAt, unlinkIfSame } from '../sys/safe-path.js';
import { guardFileAt, type Taken } from '../sys/guardian.js';
import { checkCleanPath, S_IFLNK, S_IFMT, S_ISXID, typeName } from '../shared/image-paths.js';
import { GHOST_KINDS, NOT_GHOST_KIND, S_IFDIR, S_IFIFO, ghostFiles, ghostPath, isDevice, linkRemapName, type Ghost } from './ghost-images.js';

const RESOLVE_BENEATH = 0x08;
const num = (v: unknown): number => Number(v ?? 0);

interface Made { dirfd: number; base: string; dev: number; ino: number; dir: boolean; after?: () => void; link?: boolean; taken?: Taken }

/** Seconds of an image timeval (atim, mtim). */
const seconds = (v: unknown) => { const tv = v as MessageValue | undefined; return num(tv?.tv_sec) + num(tv?.tv_usec) / 1e6; };

/** The directory `name` goes in, opened without a symbolic link on the way, and its last component. */
function openParent(name: string, what: string): { dirfd: number; base: string } {
  const dir = name.slice(0, name.lastIndexOf('/')) || '/';
  const dirfd = openNoSymlinks(dir);
  if (!fstatSync(dirfd).isDirectory()) {
    closeSync(dirfd);
    throw new RestoreError('FAILED', `${dir}, the directory of the ${what} ${name}, is no longer a directory`);
  }
  return { dirfd, base: name.slice(name.lastIndexOf('/') + 1) };
}

/** The ghosts, created at their old paths (call `remove` once the task has them open). */
export class GhostFiles {
  private readonly made: Made[] = [];
  /** The link_remap files of linked remaps, by file id: removed once the restore succeeded. */
  private readonly remapFiles = new Map<number, Made>();

  constructor(private readonly img: RestoreImages) {}

  /**
   * Makes every ghost once, and gives it each other name the task opened it by (one inode held
   * through two links, both removed: the same file again). A file whose path is taken now goes
   * beside it, and the task's file entry is pointed there (in memory only).
   */
  createAll(): void {
    const { ghosts } = ghostFiles(this.img);
    const made = new Map<number, Made>();
    const placed = new Map<string, string>();
    for (const g of ghosts.values()) {
      const reg = this.img.files.get(g.origId)?.reg as MessageValue | undefined;
      if (!reg) throw new RestoreError('IMAGE_INCONSISTENT', `remap-fpath.img names file id ${g.origId}, which files.img does not have`);
      const name = String(reg.name);
      const key = `${g.ghostId}\0${name}`;
      const known = placed.get(key);
      if (known !== undefined) {
        reg.name = known;
        continue;
      }
      const first = made.get(g.ghostId);
      const at = first?.dir ? name : ghostPath(name, this.img.all.get(g.image)!.entries[0]!.value);
      if (first === undefined) made.set(g.ghostId, this.create(at, g));
      else if (!first.dir) this.link(first, at);
      placed.set(key, at);
      reg.name = at;
    }
    this.linkBack(placed);
  }

  /**
   * Linked remaps: the file gets its old name again (a link to its link_remap file, removed with
   * the ghosts) where that name is free in a directory that still exists; else the task opens it
   * by its link_remap name.
   */
  private linkBack(placed: Map<string, string>): void {
    for (const [origId, remapId] of ghostFiles(this.img).linked) {
      const reg = this.img.files.get(origId)?.reg as MessageValue | undefined;
      if (!reg) throw new RestoreError('IMAGE_INCONSISTENT', `remap-fpath.img names file id ${origId}, which files.img does not have`);
      const name = String(reg.name);
      const key = `linked:${remapId}\0${name}`;
      let at = placed.get(key);
      if (at === undefined) {
        const remapName = linkRemapName(this.img, origId, remapId);
        const remap = this.remapFile(remapId, remapName);
        try {
          this.link(remap, name);
          at = name;
        } catch {
          at = remapName;
        }
        placed.set(key, at);
      }
      reg.name = at;
    }
  }

  private remapFile(remapId: number, name: string): Made {
    const known = this.remapFiles.get(remapId);
    if (known) return known;
    const { dirfd, base } = openParent(name, 'link_remap file');
    const st = statAt(dirfd, base);
    if (st === undefined || !st.isFile()) {
      closeSync(dirfd);
      throw new RestoreError('FILE_MISSING', `${name}, the link the dump made to a file whose path had gone, is no longer there: restore needs it`);
    }
    const m: Made = { dirfd, base, dev: st.dev, ino: st.ino, dir: false };
    this.remapFiles.set(remapId, m);
    return m;
  }

  /** The link_remap files: unlinked once the task has its files (`restored`), else kept for another try. */
  finishLinkRemaps(restored: boolean): void {
    for (const m of this.remapFiles.values()) {
      try {
        if (restored) unlinkIfSame(m.dirfd, m.base, m);
      } finally {
        closeSync(m.dirfd);
      }
    }
    this.remapFiles.clear();
  }

  /**
   * The directory `name` goes in, opened, and its last component; directories removed on the way
   * are made first (0700, removed again after the file, in reverse order), as CRIU does.
   */
  private parentOf(name: string, what: string): { dirfd: number; base: string } {
    const missing: string[] = [];
    for (let dir = path.dirname(name); dir !== '/' && lookupNoSymlinks(dir).kind === 'missing'; dir = path.dirname(dir)) missing.unshift(dir);
    for (const dir of missing) {
      const { dirfd, base } = openParent(dir, `removed directory above the ${what}`);
      try {
        mkdirAt(dirfd, base, 0o700);
        const st = statAt(dirfd, base)!;
        this.keep({ dirfd, base, dev: st.dev, ino: st.ino, dir: true });
      } catch (e) {
        closeSync(dirfd);
        throw e;
      }
    }
    return openParent(name, what);
  }

  /** Another name for a file restore made (a hard link), removed with it. */
  private link(file: Made, name: string): void {
    checkCleanPath(name, 'a deleted file');
    const { dirfd, base } = this.parentOf(name, 'deleted file');
    try {
      rawSyscall('linkat', file.dirfd, cstr(file.base), dirfd, cstr(base), 0);
    } catch (e) {
      closeSync(dirfd);
      throw e;
    }
    this.keep({ dirfd, base, dev: file.dev, ino: file.ino, dir: false, link: file.link });
  }

  private create(name: string, g: Ghost): Made {
    const entries = this.img.all.get(g.image)!.entries;
    const head = entries[0]!.value;
    const mode = num(head.mode);
    const isDir = (mode & S_IFMT) === S_IFDIR;
    if (!GHOST_KINDS.has(mode & S_IFMT)) {
      throw new RestoreError('UNSUPPORTED', `the deleted file ${name} is ${typeName(mode)} (mode 0${mode.toString(8)}); ${NOT_GHOST_KIND}`);
    }
    if (isDevice(mode) || (mode & S_IFMT) === S_IFIFO || (mode & S_IFMT) === S_IFLNK) return this.createNode(name, head, mode);
    checkCleanPath(name, 'a deleted file');
    // In its directory, reached without a symbolic link; O_EXCL never follows one at the end.
    const { dirfd, base } = this.parentOf(name, 'deleted file');
    let fd: number;
    try {
      if (isDir) {
        mkdirAt(dirfd, base, 0o700);
        fd = openNoSymlinks(base, O_DIRECTORY | O_CLOEXEC, dirfd, RESOLVE_BENEATH);
      } else {
        fd = Number(rawSyscall('openat', dirfd, cstr(base), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | O_CLOEXEC, 0o600));
      }
    } catch (e) {
      closeSync(dirfd);
      throw e;
    }
    const st = fstatSync(fd);
    const m: Made = { dirfd, base, dev: st.dev, ino: st.ino, dir: isDir };
    this.keep(m);
    let keepDir = false;
    try {
      if (isDir) {
        // nothing to write: a removed directory is empty
      } else if (head.chunks === true) {
        for (const c of entries.slice(1)) writeAll(fd, c.extra as Buffer, num(c.value.off));
        ftruncateSync(fd, num(head.size));
      } else {
        writeAll(fd, (entries[0]!.extra as Buffer | undefined) ?? Buffer.alloc(0), 0);
      }
      fchownSync(fd, num(head.uid), num(head.gid));
      futimesSync(fd, seconds(head.atim), seconds(head.mtim));
      // Made 0600 (nobody else reads it half written), and fchown drops set-id bits: the mode goes on
      // last, without them while the file has a name; they go on through this descriptor once it has none.
      fchmodSync(fd, mode & 0o7777 & ~S_ISXID);
      if (mode & S_ISXID) {
        // Read-only: a descriptor open for writing would keep the task from taking the file as its exe (ETXTBSY).
        const held = isDir ? fd : openSync(`/proc/self/fd/${fd}`, fsc.O_RDONLY | O_CLOEXEC);
        keepDir = isDir;
        m.after = () => {
          try { fchmodSync(held, namelessMode(held, mode)); } finally { closeSync(held); }
        };
      }
    } finally {
      if (!keepDir) closeSync(fd);
    }
    return m;
  }

  /**
   * A device node, FIFO or symbolic link, made root's (and 0600) for as long as it has a name (a node
   * of someone's disk must not be open to all meanwhile); its owner, mode and times go on once it is
   * unlinked again.
   */
  private createNode(name: string, head: MessageValue, mode: number): Made {
    checkCleanPath(name, 'a deleted device node, FIFO or symbolic link');
    const link = (mode & S_IFMT) === S_IFLNK;
    const { dirfd, base } = this.parentOf(name, 'deleted node');
    let node: number;
    try {
      if (link) rawSyscall('symlinkat', cstr(String(head.symlnk_target)), dirfd, cstr(base));
      else rawSyscall('mknodat', dirfd, cstr(base), (mode & S_IFMT) | 0o600, isDevice(mode) ? num(head.rdev) : 0);
      // O_PATH | O_NOFOLLOW: the link itself (opened without following it).
      node = openNoSymlinks(base, O_PATH | O_CLOEXEC | (link ? O_NOFOLLOW : 0), dirfd, RESOLVE_BENEATH);
    } catch (e) {
      closeSync(dirfd);
      throw e;
    }
    const st = fstatSync(node);
    // Through the O_PATH descriptor's /proc link: the node itself, with no name left.
    const self = `/proc/self/fd/${node}`;
    const after = () => {
      try {
        // The /proc link leads to a symbolic link itself, not where it points; a link has no mode of its own.
        chownSync(self, num(head.uid), num(head.gid));
        if (!link) chmodSync(self, namelessMode(node, mode));
        utimesSync(self, seconds(head.atim), seconds(head.mtim));
      } finally {
        closeSync(node);
      }
    };
    const m: Made = { dirfd, base, dev: st.dev, ino: st.ino, dir: false, after, link };
    this.keep(m);
    return m;
  }

  /** A file made: removed by `remove`, or by the guard if cryo dies first. */
  private keep(m: Made): void {
    m.taken = guardFileAt(m.dirfd, m.base, m, m.dir);
    this.made.push(m);
  }

  /** Unlinks every recreated file that is still the one restore made (idempotent; used on success and failure). */
  remove(): void {
    // Last made first: a removed directory inside another goes before it.
    for (const m of this.made.splice(0).reverse()) {
      m.taken?.();
      try {
        unlinkIfSame(m.dirfd, m.base, m, m.dir, m.link ? O_PATH | O_NOFOLLOW : O_PATH);
      } finally {
        closeSync(m.dirfd);
        m.after?.();
      }
    }
  }
}

/** The mode the dump recorded, its set-id bits only for a file with no name left (no path shows a set-id file). */
function namelessMode(fd: number, mode: number): number {
  return fstatSync(fd).nlink === 0 ? mode & 0o7777 : mode & 0o7777 & ~S_ISXID;
}

function writeAll(fd: number, data: Buffer, at: number): void {
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off, at + off);
}
