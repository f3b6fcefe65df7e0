// Shared memory objects of the task: memfds and shared anonymous memory (/dev/zero segments).
// Each inode is made once inside the task, filled from pagemap-shmem-SHMID.img, and kept on a
// parked descriptor; every mapping and every descriptor of it is made from that one inode, so
// they share their pages as they did. Seals go on last (F_SEAL_FUTURE_WRITE would refuse the
// writable mappings), then the parked descriptors are closed.
//
// CRIU 4.2 dumps both kinds as VMA_AREA_MEMFD mappings of MEMFD file entries (memfd.img), and
// shared anonymous memory as a memfd named "/dev/zero"; older dumps (and unprivileged ones) have
// VMA_ANON_SHARED mappings whose shmid is the segment's inode. cryo restores unsealable "/dev/zero"
// inodes as shared anonymous memory again, the rest as memfds.

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { PageReader } from '../images/pages.js';
import { imageFileName } from '../images/names.js';
import type { MessageValue } from '../images/value.js';
import { MFD_ALLOW_SEALING, MFD_CLOEXEC, processVmWritev } from '../sys/index.js';
import { injectMmap } from '../inject/index.js';
import { RestoreError } from './restore-error.js';
import type { RestoreImages } from './restore-images.js';
import type { TaskCtx } from './task-ctx.js';
import { VMA } from './vma-kinds.js';
import { F_DUPFD, F_DUPFD_CLOEXEC, F_GETFL, O_ACCMODE, O_CLOEXEC, O_CREAT, O_EXCL, O_NOCTTY, O_RDONLY, O_RDWR, O_TRUNC, SEEK_SET } from './constants.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_SHARED, PROT_READ, PROT_WRITE } from '../arch/mman.js';

const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 1;
/** What an anonymous shmem segment is named in memfd.img (CRIU 4.2 writes the mapping's path). */
const DEV_ZERO = '/dev/zero';

const big = (v: unknown): bigint => BigInt((v as bigint | number | undefined) ?? 0);
const num = (v: unknown): number => Number((v as bigint | number | undefined) ?? 0);
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** One shmem inode the task needs. */
interface InodeSpec {
  key: string;
  /** memfd name; undefined: shared anonymous memory. */
  memfdName: string | undefined;
  size: bigint;
  shmid: bigint;
  seals: number;
  entry?: MessageValue;
}

/**
 * The inodes made in a task so far: key -> parked descriptor, plus the seals still to add, and the
 * memfds whose parked descriptor is still memfd_create's own open file description.
 */
interface TaskShmem { fds: Map<string, number>; seals: Map<number, number>; created: Set<string> }
const made = new WeakMap<TaskCtx, TaskShmem>();

function stateOf(ctx: TaskCtx): TaskShmem {
  let s = made.get(ctx);
  if (!s) made.set(ctx, s = { fds: new Map(), seals: new Map(), created: new Set() });
  return s;
}

/** Descriptors restore keeps open in the task for later steps (files must not close them). */
export function shmemFds(ctx: TaskCtx): number[] {
  return [...(made.get(ctx)?.fds.values() ?? [])];
}

/** memfd.img entries by inode_id. */
function memfdInodes(img: RestoreImages): Map<number, MessageValue> {
  return new Map((img.all.get('memfd.img')?.entries ?? []).map((e) => [num(e.value.inode_id), e.value]));
}

function memfdSpec(img: RestoreImages, inodeId: number, why: string): InodeSpec {
  const e = memfdInodes(img).get(inodeId);
  if (e === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `${why} refers to memfd inode ${inodeId}, which memfd.img does not have`);
  if (e.hugetlb_flag !== undefined) throw new RestoreError('UNSUPPORTED', `${why} is a hugetlb memfd; cryo cannot restore those yet`);
  const seals = num(e.seals);
  // Shared anonymous memory comes back as such (its descriptors and maps show /dev/zero again, as
  // before); a memfd the task named /dev/zero without sealing reads the same and comes back so too.
  const anon = String(e.name) === DEV_ZERO && seals === F_SEAL_SEAL;
  return { key: `memfd:${inodeId}`, memfdName: anon ? undefined : String(e.name), size: big(e.size), shmid: big(e.shmid), seals, entry: e };
}

/** The memfd inode behind a MEMFD file id. */
function memfdOfFile(img: RestoreImages, fileId: number, why: string): InodeSpec {
  const f = img.files.get(fileId);
  if (f?.type !== 'MEMFD' || f.memfd === undefined) {
    throw new RestoreError('IMAGE_INCONSISTENT', `${why} refers to file id ${fileId}, which is not a MEMFD entry of files.img`);
  }
  return memfdSpec(img, num((f.memfd as MessageValue).inode_id), why);
}

/** A VMA_ANON_SHARED segment: its size is the furthest any of its mappings reaches. */
function anonSpec(img: RestoreImages, shmid: bigint): InodeSpec {
  let size = 0n;
  for (const v of (img.mm.vmas as MessageValue[] | undefined) ?? []) {
    if ((num(v.status) & VMA.ANON_SHARED) && big(v.shmid) === shmid) {
      const end = big(v.pgoff) + big(v.end) - big(v.start);
      if (end > size) size = end;
    }
  }
  return { key: `anon:${shmid}`, memfdName: undefined, size, shmid, seals: F_SEAL_SEAL };
}

function vmaSpec(img: RestoreImages, v: MessageValue): InodeSpec {
  const why = `the mapping at ${hex(big(v.start))}`;
  return num(v.status) & VMA.MEMFD ? memfdOfFile(img, num(v.shmid), why) : anonSpec(img, big(v.shmid));
}

function shmemPagemap(img: RestoreImages, shmid: bigint): string | undefined {
  const name = imageFileName('shmemPagemap', shmid);
  return img.all.has(name) ? path.join(img.dir, name) : undefined;
}

/** Preflight: every shared memory object the task needs is described, and its pages are whole. */
export function checkShmem(img: RestoreImages, pageSize: number): void {
  const specs = new Map<string, InodeSpec>();
  for (const v of (img.mm.vmas as MessageValue[] | undefined) ?? []) {
    if (num(v.status) & (VMA.MEMFD | VMA.ANON_SHARED)) {
      const s = vmaSpec(img, v);
      specs.set(s.key, s);
    }
  }
  for (const fd of img.fdinfo) {
    const f = img.files.get(num(fd.id));
    if (f?.type === 'MEMFD') {
      const s = memfdOfFile(img, num(fd.id), `fd ${fd.fd}`);
      specs.set(s.key, s);
    }
  }
  for (const s of specs.values()) {
    const file = shmemPagemap(img, s.shmid);
    if (file === undefined) continue; // no pages: all zero
    const reader = new PageReader(file, undefined, pageSize);
    try {
      let bytes = 0;
      for (const run of reader) {
        const end = run.vaddr + BigInt(run.nrPages * pageSize);
        if (end > ((s.size + BigInt(pageSize) - 1n) / BigInt(pageSize)) * BigInt(pageSize)) {
          throw new RestoreError('IMAGE_INCONSISTENT', `${file}: pages at offset ${run.vaddr} lie beyond the end of the ${s.size}-byte shared memory object ${s.shmid}`);
        }
        if (run.offset >= 0) bytes = run.offset + run.nrPages * pageSize;
      }
      if (!existsSync(reader.pagesPath)) throw new RestoreError('IMAGE_MISSING', `${reader.pagesPath} is missing: ${img.dir} is not a complete dump`);
      const size = statSync(reader.pagesPath).size;
      if (size !== bytes) {
        throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${reader.pagesPath}: expected ${bytes} bytes of pages (${path.basename(file)} says so), the file has ${size}`);
      }
    } finally {
      reader.close();
    }
  }
}

/** Writes the object's pages through a temporary mapping of it at `addr`. */
function fillInode(ctx: TaskCtx, s: InodeSpec, addr: bigint): void {
  const file = shmemPagemap(ctx.img, s.shmid);
  if (file === undefined) return;
  const reader = new PageReader(file, undefined, ctx.arch.pageSize);
  try {
    for (const run of reader) {
      for (const { vaddr, data } of reader.chunks(run)) {
        const n = processVmWritev(ctx.pid, addr + vaddr, data);
        if (n !== data.length) throw new RestoreError('FAILED', `wrote only ${n} of ${data.length} bytes of shared memory object ${s.shmid} at offset ${vaddr}`);
      }
    }
  } finally {
    reader.close();
  }
}

/** Above every descriptor the task will have: where inodes are parked. */
function parkAt(ctx: TaskCtx): number {
  return Math.max(0, ...ctx.img.fdinfo.map((f) => num(f.fd))) + 1;
}

/** The task's parked O_RDWR descriptor of the inode, made (and filled) on first use. */
function inodeFd(ctx: TaskCtx, s: InodeSpec): number {
  const st = stateOf(ctx);
  const known = st.fds.get(s.key);
  if (known !== undefined) return known;
  const page = BigInt(ctx.arch.pageSize);
  const len = ((s.size + page - 1n) / page) * page;
  let fd: number;
  // Made in another process of the tree already (shared memory inherited over fork, a memfd
  // passed on): the same inode, through that process's parked descriptor; its seals are set there.
  const inTree = ctx.tree.state('shmem', () => new Map<string, { pid: number; fd: number }>());
  const other = inTree.get(s.key);
  if (other !== undefined) {
    fd = Number(ctx.call('openat', -100, ctx.putString(`/proc/${other.pid}/fd/${other.fd}`), O_RDWR | O_CLOEXEC, 0));
    const parked = Number(ctx.call('fcntl', fd, F_DUPFD_CLOEXEC, parkAt(ctx)));
    ctx.call('close', fd);
    st.fds.set(s.key, parked);
    return parked;
  }
  if (s.memfdName === undefined) {
    // Shared anonymous memory again (maps shows /dev/zero); map_files gives a descriptor of it,
    // which sets the exact size (a descriptor may have truncated or extended it).
    const mapLen = len === 0n ? page : len;
    const addr = BigInt.asUintN(64, injectMmap(ctx.inj, 0, mapLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    try {
      fillInode(ctx, s, addr);
      const at = ctx.putString(`/proc/self/map_files/${addr.toString(16)}-${(addr + mapLen).toString(16)}`);
      fd = Number(ctx.call('openat', -100, at, O_RDWR | O_CLOEXEC, 0));
    } finally {
      ctx.call('munmap', addr, mapLen);
    }
    if (s.size !== mapLen) ctx.call('ftruncate', fd, s.size);
  } else {
    const name = ctx.putString(s.memfdName);
    fd = Number(ctx.call('memfd_create', name, MFD_CLOEXEC | (s.seals === F_SEAL_SEAL ? 0 : MFD_ALLOW_SEALING)));
    if (s.size > 0n) {
      ctx.call('ftruncate', fd, s.size);
      const addr = BigInt.asUintN(64, injectMmap(ctx.inj, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
      try {
        fillInode(ctx, s, addr);
      } finally {
        ctx.call('munmap', addr, len);
      }
    }
    const e = s.entry!;
    if (e.mode !== undefined) ctx.call('fchmod', fd, num(e.mode) & 0o7777);
    const r = ctx.raw('fchown', fd, num(e.uid), num(e.gid));
    if (r < 0n) ctx.warn(`memfd:${s.memfdName} could not be given to uid ${e.uid} gid ${e.gid} (errno ${-r}); root owns it`);
    if (s.seals !== F_SEAL_SEAL && s.seals !== 0) st.seals.set(fd, s.seals);
    st.created.add(s.key);
  }
  const parked = Number(ctx.call('fcntl', fd, F_DUPFD_CLOEXEC, parkAt(ctx)));
  ctx.call('close', fd);
  if (st.seals.has(fd)) {
    st.seals.set(parked, st.seals.get(fd)!);
    st.seals.delete(fd);
  }
  st.fds.set(s.key, parked);
  inTree.set(s.key, { pid: ctx.pid, fd: parked });
  return parked;
}

/** Reopens a parked inode (its own open file description) with `flags`; returns the task's fd. */
function reopen(ctx: TaskCtx, parked: number, flags: number): number {
  const at = ctx.putString(`/proc/self/fd/${parked}`);
  return Number(ctx.call('openat', -100, at, flags, 0));
}

/**
 * Maps a VMA_AREA_MEMFD or VMA_ANON_SHARED area from its inode. Returns true when it was mapped
 * writable for its pages (a private mapping) and needs its protection set afterwards.
 */
export function mapShmemVma(ctx: TaskCtx, v: MessageValue): boolean {
  const parked = inodeFd(ctx, vmaSpec(ctx.img, v));
  const start = big(v.start);
  const len = big(v.end) - start;
  const prot = num(v.prot);
  const shared = (num(v.flags) & MAP_SHARED) !== 0;
  const flags = ((num(v.flags) & ~MAP_ANONYMOUS) | MAP_FIXED) >>> 0;
  // A memfd mapping's file was opened with fdflags (it limits what mprotect may allow later; without
  // them, CRIU's guess); shared anonymous memory is always writable.
  const acc = num(v.status) & VMA.ANON_SHARED ? O_RDWR
    : v.fdflags !== undefined ? num(v.fdflags) & O_ACCMODE : (shared && (prot & PROT_WRITE) ? O_RDWR : O_RDONLY);
  const fd = acc === O_RDWR ? parked : reopen(ctx, parked, acc | O_CLOEXEC);
  try {
    // Private mappings get their dirty pages written later, so they start writable.
    const mprot = shared ? prot : prot | PROT_READ | PROT_WRITE;
    injectMmap(ctx.inj, start, len, mprot, flags, fd, big(v.pgoff));
    return mprot !== prot;
  } finally {
    if (fd !== parked) ctx.call('close', fd);
  }
}

/** A MEMFD descriptor: a new open file description of its inode, at its offset, with its flags; returns the task's fd. */
export function openMemfd(ctx: TaskCtx, memfd: MessageValue, why: string): number {
  const spec = memfdOfFile(ctx.img, num(memfd.id), why);
  const parked = inodeFd(ctx, spec);
  const flags = num(memfd.flags) & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
  // memfd_create's description is no writer of the inode, a reopen for writing is one, and
  // exec of a file with writers fails (ETXTBSY): the first descriptor whose flags are the
  // created one's takes that description.
  const st = stateOf(ctx);
  const take = st.created.has(spec.key) && Number(ctx.call('fcntl', parked, F_GETFL)) === flags;
  if (take) st.created.delete(spec.key);
  const fd = take ? Number(ctx.call('fcntl', parked, F_DUPFD, 0)) : reopen(ctx, parked, flags);
  const pos = big(memfd.pos);
  if (pos !== 0n) ctx.call('lseek', fd, pos, SEEK_SET);
  return fd;
}

/** Once every mapping and descriptor exists: the memfds' seals, then the parked descriptors go. */
export function finishShmem(ctx: TaskCtx): void {
  const st = made.get(ctx);
  if (!st) return;
  for (const [fd, seals] of st.seals) {
    const r = ctx.raw('fcntl', fd, F_ADD_SEALS, seals);
    if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from fcntl(F_ADD_SEALS, 0x${seals.toString(16)}) on a restored memfd`);
  }
  for (const fd of st.fds.values()) ctx.call('close', fd);
  made.delete(ctx);
}
