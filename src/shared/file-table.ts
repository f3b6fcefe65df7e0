/**
 * The images a dump collects about files: files.img entries, fdinfo entries, pipe and FIFO data
 * (peeked with tee() so the task keeps it), ghost files (unlinked while open) with
 * remap-fpath.img, memfd inodes with their pages, and cryo-files.img facts (mtimes).
 * Descriptor kinds (src/files/) add to it; src/dump/index.ts writes it out.
 */
import { OpenedFiles } from './opened-files.js';
import { closeSync, existsSync, openSync, statSync, statfsSync, type BigIntStats, type Stats } from 'node:fs';
import { rawSyscall } from '../sys/index.js';
import type { MessageValue } from '../images/index.js';
import type { CryoFileStat } from '../images/cryo-image.js';
import type { IoUringImage } from '../images/cryo-io-uring.js';
import type { ExtraValue, ImageFileKey } from '../images/index.js';
import type { FdOptions } from './fd-options.js';
import { LockTable } from './lock-table.js';
import { leadsElsewhere, linkedElsewhere, makeLinkRemap } from './link-remap.js';
import { O_ACCMODE, O_PATH, O_WRONLY } from './constants.js';
import { DumpError } from './dump-error.js';
import { showSize, sizeAtLeast } from './size.js';
import { kernelDev } from './dev-numbers.js';
import { elfBuildId } from './elf-build-id.js';
import { dataRuns, peekPipe, readAt } from './file-data.js';

const O_APPEND = 0o2000;
const F_GET_SEALS = 1034;
/** statfs f_type of procfs. */
const PROC_SUPER_MAGIC = 0x9fa0;
/** readlinkat(fd, ""): the target of the symbolic link an O_PATH descriptor holds (named or not). */
function linkTarget(fd: number): string {
  const buf = Buffer.alloc(4096);
  const n = Number(rawSyscall('readlinkat', fd, Buffer.from('\0'), buf, buf.length));
  return buf.toString('utf8', 0, n);
}

/** CRIU's --ghost-limit by default: 1 MiB of a deleted file's data (its blocks). */
export const DEFAULT_GHOST_LIMIT = 1n << 20n;

/** CRIU writes ghost files of this size or more as chunks (holes left out). */
const GHOST_CHUNKS_THRESH = 12288n;

export const ZERO_FOWN: MessageValue = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };

export interface GhostFile {
  id: number;
  head: MessageValue;
  /** Raw content (no chunks) or chunks with their data. */
  data?: Buffer;
  chunks?: { off: bigint; data: Buffer }[];
}

export interface MemfdInode {
  entry: MessageValue;
  shmid: bigint;
  /** Runs of file content: offset and bytes (page multiples). */
  runs: { off: bigint; data: Buffer }[];
}



/** An open file of the dumped tree: one descriptor of it (pid, fd), its inode and its file id. */
export type { OpenedFile } from './opened-files.js';

/** A mapped file's way in (openPath), first name and identity, and whether it took map_files. */
export interface MappedFileWay { openPath: string; name: string; st: Stats; viaMapFiles: boolean }

export class FileTable {
  private nextId = 1;
  private nextGhostId = 1;
  private nextMemfdInode = 1;
  readonly files: MessageValue[] = [];
  readonly fdinfos: MessageValue[] = [];
  readonly pipesData: { value: MessageValue; extra: Buffer }[] = [];
  readonly fifoData: { value: MessageValue; extra: Buffer }[] = [];
  readonly remaps: MessageValue[] = [];
  /** PIDs of dead processes whose /proc files the tree holds (one PROCFS remap each). */
  private readonly deadPids = new Set<number>();
  /** The link_remap names this dump made (removed again if it fails). */
  readonly linkRemaps: string[] = [];
  /** The file id of each link_remap made, by 'DEV:INO'. */
  private readonly linkRemapByInode = new Map<string, number>();
  readonly ghosts: GhostFile[] = [];
  readonly memfds: MemfdInode[] = [];
  readonly stats: CryoFileStat[] = [];
  /** Symbolic links met on the way to names recorded as given (cryo-links.img): link -> target. */
  readonly links = new Map<string, string>();
  /** Packets queued on sockets (sk-queues.img: entry and payload), in queue order per socket. */
  readonly skQueues: { value: MessageValue; extra: Buffer }[] = [];
  /** io_uring rings (cryo-io-uring.img), and their mappings as the memory dump finds them (src/files/io-uring.ts). */
  readonly ioUrings: IoUringImage[] = [];
  readonly ringVmas: { pid: number; ino: bigint; start: bigint; entry: MessageValue; data: Buffer }[] = [];
  /** File locks held through the descriptors (filelocks.img). */
  readonly locks = new LockTable();
  private readonly special = new Map<string, number>();
  private readonly ghostByInode = new Map<string, number>();
  /** Names of the ghost files, by kernel device number and inode ('DEV:INO'). */
  private readonly ghostNames = new Map<string, string>();
  private readonly pipesDumped = new Set<bigint>();
  private readonly fifosDumped = new Set<bigint>();
  private readonly memfdInodes = new Map<string, number>();

  /** Images of one file each (tcp-stream-INODE.img), written as they are. */
  readonly images: { key: ImageFileKey; id: number | bigint; magic: string; entries: { value: MessageValue; extra?: ExtraValue }[] }[] = [];
  /** Every open file given an id, by the first descriptor found (kcmp finds a file's other descriptors and holders). */
  readonly opened = new OpenedFiles();
  /** Work that needs every process's descriptors dumped first (an epoll's targets held by another process). */
  private readonly afterTree: (() => void)[] = [];
  /** What kinds left to do when the dump ends (a TCP connection held in repair mode): see `finish`. */
  readonly finishers: ((taskRunsOn: boolean) => void)[] = [];

  /** Every PID and TID of the dumped tree (zombies too), set once the tree is frozen: a pidfd may name any. */
  treeTids: ReadonlySet<number> = new Set();
  /** How each mapped file is reached, by what maps says of its VMA (dump/vmas.ts): looked up once per dump. */
  readonly mappedFiles = new Map<string, MappedFileWay>();

  constructor(readonly pid: number, readonly options: FdOptions = {}) {}

  /**
   * Ends what the kinds started, once: `taskRunsOn` when the dump failed or --leave-running (the
   * task gets its descriptors back as they were), false when it is killed. Returns the failures.
   */
  finish(taskRunsOn: boolean): string[] {
    const failures: string[] = [];
    for (const f of this.finishers.splice(0)) {
      try { f(taskRunsOn); } catch (e) { failures.push((e as Error).message); }
    }
    return failures;
  }

  /** The name of a deleted file the tree holds open, by kernel device number and inode (restore makes it again). */
  ghostName(kdev: number, ino: bigint): string | undefined {
    return this.ghostNames.get(`${kdev}:${ino}`);
  }

  /** Queues `fn` until every process of the tree has had its descriptors dumped. */
  whenTreeDumped(fn: () => void): void {
    this.afterTree.push(fn);
  }

  /** Runs what `whenTreeDumped` queued (the dump calls it once, with every task still frozen). */
  treeDumped(): void {
    // In order, including work queued meanwhile (a file in flight that is an epoll).
    while (this.afterTree.length > 0) this.afterTree.shift()!();
  }

  newId(): number {
    return this.nextId++;
  }

  /**
   * A REG entry for a file opened at `openPath` (a /proc magic link that opens the very file, even
   * deleted) named `name` in the task. Unlinked files become ghost files holding their content.
   */
  addReg(id: number, openPath: string, name: string, flags: number, pos: bigint, fown: MessageValue = ZERO_FOWN): void {
    this.files.push({ type: 'REG', id, reg: this.regEntry(id, openPath, name, flags, pos, fown) });
  }

  /**
   * The reg_file_entry of `addReg` without adding it to files.img (ghost and mtime facts are recorded).
   * `readFd`: cryo's copy of the task's open file, read through where it is readable: a new open
   * of the file would break a lease the task holds on it (and wait for the break).
   */
  regEntry(id: number, openPath: string, name: string, flags: number, pos: bigint, fown: MessageValue = ZERO_FOWN, readFd?: number): MessageValue {
    const st = statSync(openPath, { bigint: true });
    const reg: MessageValue = { id, flags, pos, fown, name };
    reg.mode = Number(st.mode);
    if (st.isFile() && !((flags & O_ACCMODE) === O_WRONLY && (flags & O_APPEND))) {
      reg.size = st.size;
      const own = readFd === undefined || (flags & O_ACCMODE) === O_WRONLY || (flags & O_PATH) !== 0;
      const fd = own ? openSync(openPath, 'r') : readFd;
      try {
        const bid = elfBuildId(fd);
        if (bid) reg.build_id = bid;
      } catch { /* not readable as ELF: size is enough */ } finally {
        if (own) closeSync(fd);
      }
    }
    if (this.addDeadProc(id, openPath, name)) return reg;
    if (st.nlink === 0n) {
      this.checkGhostLimit(name, st);
      this.addGhost(id, openPath, st, readFd);
      this.ghostNames.set(`${kernelDev(st.dev)}:${st.ino}`, name);
    }
    else if (linkedElsewhere(openPath, name, st) && this.addLinkRemap(id, openPath, name, st)) return reg;
    else if ((st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) && leadsElsewhere(openPath, name, st)) {
      // Opened by its path at restore: another file there now (an overmount, a rename) would be the wrong one.
      const what = st.isFIFO() ? 'FIFO' : 'device node';
      throw new DumpError('UNSUPPORTED', `the ${what} ${name} is no longer reachable by its path (a file system is mounted over it, or another file took the name): cryo cannot restore it; dump once it is reachable there`);
    }
    else this.stats.push({ id, mtimeSec: st.mtimeNs / 1_000_000_000n, mtimeNsec: Number(st.mtimeNs % 1_000_000_000n), size: st.size, dev: st.dev, ino: st.ino });
    return reg;
  }

  /** The file of a mapping or the exe: one entry per file (device + inode), like CRIU's special ids. */
  mappedFile(openPath: string, name: string, st: { dev: number | bigint; ino: number | bigint }): number {
    const key = `${st.dev}:${st.ino}`;
    const known = this.special.get(key);
    if (known !== undefined) return known;
    const id = this.newId();
    this.special.set(key, id);
    this.addReg(id, openPath, name, 0, 0n);
    return id;
  }

  /** A deleted file's data goes into the images: no more than --ghost-limit of it (its blocks, as CRIU counts). */
  private checkGhostLimit(name: string, st: BigIntStats): void {
    const data = st.blocks * 512n;
    const limit = this.options.ghostLimit ?? DEFAULT_GHOST_LIMIT;
    if (data <= limit) return;
    throw new DumpError('UNSUPPORTED', `the deleted file ${name} holds ${showSize(data)} of data (size ${st.size}), more than the ghost limit of ${showSize(limit)} that a dump copies: dump with --ghost-limit ${sizeAtLeast(data)} to copy it`);
  }

  private addGhost(origId: number, openPath: string, st: BigIntStats, readFd?: number): void {
    const key = `${st.dev}:${st.ino}`;
    let gid = this.ghostByInode.get(key);
    if (gid === undefined) {
      gid = this.nextGhostId++;
      this.ghostByInode.set(key, gid);
      const head: MessageValue = {
        uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode), dev: kernelDev(st.dev), ino: st.ino,
        atim: { tv_sec: st.atimeNs / 1_000_000_000n, tv_usec: (st.atimeNs % 1_000_000_000n) / 1000n },
        mtim: { tv_sec: st.mtimeNs / 1_000_000_000n, tv_usec: (st.mtimeNs % 1_000_000_000n) / 1000n },
      };
      if (st.isCharacterDevice() || st.isBlockDevice()) head.rdev = Number(st.rdev);
      // A symbolic link held by an O_PATH descriptor: its target, read through that descriptor.
      if (st.isSymbolicLink() && readFd !== undefined) head.symlnk_target = linkTarget(readFd);
      const g: GhostFile = { id: gid, head };
      if (st.isFile()) {
        const fd = openSync(openPath, 'r');
        try {
          if (st.size >= GHOST_CHUNKS_THRESH) {
            head.chunks = true;
            head.size = st.size;
            g.chunks = dataRuns(fd, st.size, 1n);
          } else {
            g.data = readAt(fd, 0n, Number(st.size));
          }
        } finally {
          closeSync(fd);
        }
      }
      this.ghosts.push(g);
    }
    this.remaps.push({ orig_id: origId, remap_id: gid, remap_type: 'GHOST' });
  }

  /**
   * A /proc/PID file (or the directory) of a process that has died: restore makes a short-lived
   * process with that PID while the task opens it. remap-fpath.img has one PROCFS entry per PID,
   * as CRIU writes it. No size or mtime is kept: the new process's files have their own.
   */
  private addDeadProc(origId: number, openPath: string, name: string): boolean {
    const m = /^\/proc\/(\d+)(\/|$)/.exec(name);
    if (!m || statfsSync(openPath).type !== PROC_SUPER_MAGIC || existsSync(`/proc/${m[1]}`)) return false;
    const pid = Number(m[1]);
    if (!this.deadPids.has(pid)) {
      this.deadPids.add(pid);
      this.remaps.push({ orig_id: origId, remap_id: pid, remap_type: 'PROCFS' });
    }
    return true;
  }

  /**
   * A file whose old path leads elsewhere now but which another link keeps: a link_remap name is
   * made for it (once per inode) and remap-fpath.img points the task's file there. False when no
   * directory took the link: the file stays a plain one, as before.
   */
  private addLinkRemap(origId: number, openPath: string, name: string, st: BigIntStats): boolean {
    const key = `${st.dev}:${st.ino}`;
    let rid = this.linkRemapByInode.get(key);
    if (rid === undefined) {
      const id = this.newId();
      const at = makeLinkRemap(openPath, name, id, st.dev);
      if (at === undefined) return false;
      this.linkRemaps.push(at);
      this.files.push({ type: 'REG', id, reg: { id, flags: 0, pos: 0n, fown: ZERO_FOWN, name: at, mode: Number(st.mode), size: st.size } });
      this.linkRemapByInode.set(key, rid = id);
    }
    this.remaps.push({ orig_id: origId, remap_id: rid, remap_type: 'LINKED' });
    return true;
  }

  /** Pipe buffer bytes, once per pipe (inode), into pipes-data or fifo-data. */
  addPipeData(fifo: boolean, inode: bigint, readFd: number): void {
    const seen = fifo ? this.fifosDumped : this.pipesDumped;
    if (seen.has(inode)) return;
    seen.add(inode);
    const { data, size, defaultSize } = peekPipe(readFd);
    // An empty pipe needs an entry only for a buffer size of its own (F_SETPIPE_SZ).
    if (data.length === 0 && size === defaultSize) return;
    (fifo ? this.fifoData : this.pipesData).push({ value: { pipe_id: Number(inode & 0xffffffffn), bytes: data.length, size }, extra: data });
  }

  /**
   * The memfd inode id for a memfd (or other internal shmem) file, opened at `openPath`: its
   * content, seals and mode are read once per inode, through cryo's own descriptor.
   */
  memfdInode(openPath: string, name: string): number {
    const st = statSync(openPath, { bigint: true });
    const key = `${st.dev}:${st.ino}`;
    const known = this.memfdInodes.get(key);
    if (known !== undefined) return known;
    const inodeId = this.nextMemfdInode++;
    this.memfdInodes.set(key, inodeId);
    const fd = openSync(openPath, 'r');
    let runs;
    let seals;
    try {
      // Seals belong to the inode: any descriptor of it reads them.
      seals = Number(rawSyscall('fcntl', fd, F_GET_SEALS, 0));
      runs = dataRuns(fd, st.size, 4096n);
    } finally {
      closeSync(fd);
    }
    this.memfds.push({
      shmid: st.ino,
      runs,
      entry: { name, uid: Number(st.uid), gid: Number(st.gid), size: st.size, shmid: Number(st.ino & 0xffffffffn), seals, inode_id: inodeId, mode: Number(st.mode) },
    });
    return inodeId;
  }

  /**
   * The file id a memfd mapping (or shared anonymous memory, which CRIU 4.2 dumps the same way)
   * refers to: one MEMFD entry per inode, not tied to any descriptor (CRIU's special file ids).
   */
  mappedMemfd(openPath: string, name: string): number {
    const st = statSync(openPath, { bigint: true });
    const key = `memfd:${st.dev}:${st.ino}`;
    const known = this.special.get(key);
    if (known !== undefined) return known;
    const id = this.newId();
    this.special.set(key, id);
    const inodeId = this.memfdInode(openPath, name);
    this.files.push({ type: 'MEMFD', id, memfd: { id, flags: 0, pos: 0n, fown: ZERO_FOWN, inode_id: inodeId } });
    return id;
  }
}

