// Everything restore checks before the point of no return. Nothing here starts
// a process or changes the system; each failure is one RestoreError line.

import { statSync } from 'node:fs';
import path from 'node:path';
import type { Arch, ThreadInfo } from '../arch/types.js';
import { PageReader } from '../images/pages.js';
import { ChainError, PageChain, checkChain, parentDir } from '../images/page-chain.js';
import { PE_PARENT } from '../images/flags.js';
import { readCryoFileStats } from '../images/cryo-image.js';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { vmaKind } from '../shared/vma-kinds.js';
import { chooseVdso, type OwnVdso } from './vdso-choice.js';
import { dumpPageSize } from './page-size.js';
import { readMaps } from '../proc/index.js';
import { processVmReadv } from '../sys/index.js';
import { checkPidFree } from './pid-free.js';
import { checkGhost, ghostFiles, linkRemapName } from './ghost-images.js';
import { checkShmem } from '../shared/shmem.js';
import { regFile } from '../shared/file-entries.js';
import { fdKindNames, fdKindOfType } from '../files/registry.js';
import { checkImagePath, S_IFDIR, S_IFMT, S_IFREG, typeName } from '../shared/image-paths.js';
import { checkPrivateFileMappings, FillableRanges, outsideFillable } from './fillable.js';
import { aioRings } from './aio.js';
import { sigactionCalls } from './task-state.js';
import { checkGuards } from './guards.js';
import { checkArch, checkCpu, threadInfoOf } from './preflight-arch.js';
import { frameLengthOf, regsetsOf } from './thread-frames.js';

export { regFile } from '../shared/file-entries.js';

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : ((v as number | undefined) ?? 0));

/** State the images hold that this version of cryo cannot restore: refuse instead of restoring it wrong. */
export function checkSupported(img: RestoreImages): void {
  const tc = img.core.tc as MessageValue | undefined;
  if (tc === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `core-${img.pid}.img has no task core`);
  // Alive or stopped (a stopped job comes back stopped, src/restore/resume.ts).
  if (num(tc.task_state) !== 1 && num(tc.task_state) !== 3) {
    throw new RestoreError('UNSUPPORTED', `process ${img.pid} was dumped in task state ${tc.task_state} (not running); cryo restores running and stopped processes only`);
  }
  for (const v of (img.mm.vmas as MessageValue[] | undefined) ?? []) {
    const k = vmaKind(num(v.status));
    if (typeof k === 'object') {
      throw new RestoreError('UNSUPPORTED', `the mapping at 0x${BigInt(v.start as bigint).toString(16)} is ${k.unsupported}; cryo cannot restore that yet`);
    }
  }
  checkAioRings(img);
  for (const fd of img.fdinfo) {
    const f = img.files.get(num(fd.id))!;
    if (fdKindOfType(f.type) === undefined) {
      throw new RestoreError('UNSUPPORTED', `fd ${fd.fd} is a ${String(f.type)} descriptor; cryo restores only these kinds for now: ${fdKindNames()}`);
    }
  }
  const th = img.core.thread_core as MessageValue | undefined;
  if (th?.seccomp_mode !== undefined && th.seccomp_mode !== 'disabled') {
    const filters = (img.seccomp?.seccomp_filters as unknown[] | undefined) ?? [];
    if (th.seccomp_mode !== 'strict' && filters.length === 0) {
      throw new RestoreError('UNSUPPORTED', `process ${img.pid} runs under seccomp mode ${String(th.seccomp_mode)}; cryo cannot restore it yet`);
    }
  }
  for (const name of img.all.keys()) {
    if (/^posix-timers-\d+\.img$/.test(name) && img.all.get(name)!.entries.length > 0) {
      throw new RestoreError('UNSUPPORTED', `process ${img.pid} has POSIX timers (${name}); cryo cannot restore them yet`);
    }
    const remaps = name === 'remap-fpath.img' ? ghostFiles(img).unsupported : undefined;
    if (remaps !== undefined) {
      throw new RestoreError('UNSUPPORTED', `the dump has remapped files of a kind cryo cannot restore (remap-fpath.img: ${remaps}); cryo restores deleted files (ghosts), linked remaps and /proc files of dead processes only`);
    }
  }
}

/** Where each file restore opens is needed, for messages. */
export interface FileUse {
  id: number;
  why: string;
  /** The kind of file the use needs (S_IFMT), where the use decides it (a FIFO, the working directory). */
  type?: number;
}

/** Every file id the task needs, with the first reason it is needed. */
export function neededFiles(img: RestoreImages): FileUse[] {
  const uses = new Map<number, FileUse>();
  const add = (id: number, why: string, type?: number) => {
    const u = uses.get(id);
    if (!u) uses.set(id, type === undefined ? { id, why } : { id, why, type });
    else if (u.type === undefined && type !== undefined) u.type = type;
  };
  add(num(img.mm.exe_file_id), 'the executable', S_IFREG);
  for (const v of (img.mm.vmas as MessageValue[] | undefined) ?? []) {
    const k = vmaKind(num(v.status));
    if (k === 'file-private' || k === 'file-shared') add(num(v.shmid), `the mapping at 0x${BigInt(v.start as bigint).toString(16)}`);
  }
  for (const fd of img.fdinfo) {
    const f = img.files.get(num(fd.id));
    const kind = fdKindOfType(f?.type);
    const entry = kind && (f?.[kind.field] as MessageValue | undefined);
    if (kind?.neededFiles && entry) for (const id of kind.neededFiles(entry)) add(id, `fd ${fd.fd}`, kind.neededType);
  }
  if (img.fs) {
    add(num(img.fs.cwd_id), 'the working directory', S_IFDIR);
    add(num(img.fs.root_id), 'the root directory', S_IFDIR);
  }
  return [...uses.values()];
}

/** Extra per-file facts a cryo dump may record (the cryo-specific image); absent for CRIU dumps. */
export interface FileFacts {
  mtimeNs?: bigint;
}

/** A nanosecond mtime as a UTC date and time with nanoseconds. */
const showTime = (ns: bigint) => `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;

/**
 * `found`: the files (id and kind; deleted and linked ones too) an earlier process of the tree found
 * as they were: files.img is the tree's, and a tree's processes use the same files (tree-50: 50
 * lookups of each library, and of the path of each deleted file).
 */
export function checkFiles(img: RestoreImages, facts: ReadonlyMap<number, FileFacts> = new Map(), found = new Set<string>()): void {
  const { ghosts, linked, deadPids } = ghostFiles(img);
  const tree = img.treeIds;
  for (const pid of deadPids) checkDeadPidFree(pid);
  for (const { id, why, type } of neededFiles(img)) {
    const reg = regFile(img, id, why);
    const name = String(reg.name);
    // A /proc file of a process of the tree exists once restore has made that process again, one
    // of a dead process while restore makes a stand-in for it (dead-pids.ts).
    const procPid = /^\/proc\/(\d+)(\/|$)/.exec(name);
    if (procPid && (tree.has(Number(procPid[1])) || deadPids.has(Number(procPid[1])))) continue;
    const mode = num(reg.mode);
    if (type !== undefined && mode !== 0 && (mode & S_IFMT) !== type) {
      throw new RestoreError('IMAGE_INCONSISTENT', `files.img: file id ${id} (${name}, ${why}) is ${typeName(mode)}, which ${why} cannot be`);
    }
    const ghost = ghosts.get(id);
    if (ghost) {
      const key = `${id}:ghost:${type}`;
      checkGhost(img, ghost, name, why, type, found.has(key));
      found.add(key);
      continue;
    }
    const remap = linked.get(id);
    if (remap !== undefined) {
      // Another name of the file, made by the dump because its own path led elsewhere.
      const key = `${id}:linked`;
      if (!found.has(key)) checkImagePath(linkRemapName(img, id, remap), `${why}: ${name} linked there at dump time`, S_IFREG);
      found.add(key);
      continue;
    }
    // The use's own kind where it has one (a FIFO's mode may be 0 in the image), else the image's.
    const kind = type ?? (mode !== 0 ? mode & S_IFMT : undefined);
    const key = `${id}:${kind}`;
    if (found.has(key)) continue;
    const { st, big } = checkImagePath(name, why, kind);
    if (reg.size !== undefined && st.isFile() && BigInt(st.size) !== BigInt(reg.size as bigint)) {
      throw new RestoreError('FILE_CHANGED',
        `${name} (${why}) has ${st.size} bytes, it had ${reg.size} at dump time: restore needs the file as it was`);
    }
    // Only where CRIU checks the size (not for O_WRONLY|O_APPEND logs, which may grow).
    const mtime = facts.get(id)?.mtimeNs;
    if (mtime !== undefined && reg.size !== undefined && st.isFile() && big.mtimeNs !== mtime) {
      throw new RestoreError('FILE_CHANGED',
        `${name} (${why}) was modified after the dump (mtime ${showTime(big.mtimeNs)}, it was ${showTime(mtime)} at dump time): restore needs the file as it was`);
    }
    found.add(key);
  }
}

/** Each descriptor's file entry is there, and its kind can restore it (unresolvable watches, ...). */
export function checkFds(img: RestoreImages): void {
  for (const fd of img.fdinfo) {
    const f = img.files.get(num(fd.id))!;
    const kind = fdKindOfType(f.type);
    if (!kind) continue; // checkSupported refused it
    const entry = f[kind.field] as MessageValue | undefined;
    if (entry === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `files.img: file id ${fd.id} (fd ${fd.fd}) is ${String(f.type)} without its ${kind.field} entry`);
    kind.check?.(img, entry, `fd ${fd.fd}`);
  }
}

/** The pages file holds what the pagemap promises, and every run lies in memory restore may fill. */
export function checkPages(img: RestoreImages, pageSize: number): void {
  let reader: PageReader;
  try {
    reader = new PageReader(img.pagemapFile, undefined, pageSize);
  } catch (e) {
    throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${(e as Error).message}`);
  }
  try {
    const fillable = new FillableRanges(img);
    const page = BigInt(pageSize);
    const cols = reader.columns();
    const facts = reader.facts();
    for (let i = 0; i < cols.count; i++) {
      const at = cols.vaddr[i]!;
      if (!fillable.covers(at, at + BigInt(cols.nrPages[i]!) * page)) throw outsideFillable(img, at);
    }
    const bytes = facts.presentPages * pageSize;
    const inParent = (facts.flagsSeen & PE_PARENT) !== 0;
    if (inParent || parentDir(img.dir) !== undefined) checkPageChain(img, pageSize);
    let size = 0;
    try {
      size = statSync(reader.pagesPath).size;
    } catch {
      throw new RestoreError('IMAGE_MISSING', `${reader.pagesPath} is missing: ${img.dir} is not a complete dump`);
    }
    if (size !== bytes) {
      throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${reader.pagesPath}: at byte ${Math.min(size, bytes)}: expected ${bytes} bytes of pages (the pagemap says so), the file has ${size}`);
    }
  } finally {
    reader.close();
  }
}

/** A dump of a chain: every parent is there and unaltered, and holds every in_parent page. */
function checkPageChain(img: RestoreImages, pageSize: number): void {
  try {
    checkChain(img.dir);
    const chain = new PageChain(img.dir, path.basename(img.pagemapFile), pageSize);
    for (const _ of chain.segments()); // throws at a page no parent has
    chain.checkSizes();
  } catch (e) {
    if (e instanceof ChainError) throw new RestoreError('IMAGE_INCONSISTENT', e.message);
    throw e;
  }
}

/** A dead process's PID must be free: restore gives it to a stand-in while the task opens its /proc files. */
function checkDeadPidFree(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) throw new RestoreError('IMAGE_INCONSISTENT', `remap-fpath.img: a /proc remap names PID ${pid}, which no process can have`);
  try {
    checkPidFree(pid);
  } catch (e) {
    throw new RestoreError('PID_TAKEN', `the dump holds /proc files of process ${pid}, which had died: ${(e as Error).message}`);
  }
}

export interface PreflightOptions {
  fileFacts?: ReadonlyMap<number, FileFacts>;
  /** The tree's files found as they were so far (checkFiles): one set for a restore's processes. */
  filesFound?: Set<string>;
  /** Its PID is checked with the tree's others at once (planTree): not here. */
  pidCheckedWithTree?: boolean;
}

/** The facts a cryo dump recorded beside CRIU's images (cryo-files.img); empty for CRIU's dumps. */
export function fileFactsOf(dir: string): Map<number, FileFacts> {
  let stats;
  try {
    stats = readCryoFileStats(dir);
  } catch (e) {
    throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${(e as Error).message}`);
  }
  return new Map([...stats].map(([id, s]) => [id, { mtimeNs: s.mtimeSec * 1_000_000_000n + BigInt(s.mtimeNsec) }]));
}

/** All checks, in the order a user would fix them. */
/**
 * The vDSO the task was dumped with (its pages are in the image) is compared with this kernel's
 * (cryo's own, which the restored task gets): when they differ, restore patches the old one's entry
 * points to jump into the new one, and refuses here what it could not patch (DESIGN rule 4).
 */
export function checkVdso(img: RestoreImages, arch: Arch): void {
  // A task whose vDSO is another image of the kernel's (ia32 on x86_64: arch.vdso.map) gets that one,
  // not cryo's: restore checks its place and size once it is mapped.
  const task = arch.forThreadInfo(threadInfoOf(img, arch));
  if (task.vdso.map !== undefined) return;
  const own = ownVdso(task);
  if (own !== undefined) chooseVdso(img, task, own);
}

/** cryo's own vDSO, by the names of its areas: it never moves while cryo runs (one read for all the processes of a tree). */
const ownVdsos = new Map<string, OwnVdso | undefined>();

function ownVdso(task: Arch): OwnVdso | undefined {
  const key = [task.vdso.vdso, ...task.vdso.areas].join(' ');
  if (ownVdsos.has(key)) return ownVdsos.get(key);
  const maps = readMaps('self').filter((m) => task.vdso.areas.includes(m.name));
  const mine = maps.find((m) => m.name === task.vdso.vdso);
  let bytes: Buffer | undefined;
  const own = mine && {
    size: mine.end - mine.start,
    dataSize: maps.filter((m) => m !== mine).reduce((s, m) => s + m.end - m.start, 0n),
    bytes: () => (bytes ??= processVmReadv(process.pid, mine.start, Number(mine.end - mine.start))),
  };
  ownVdsos.set(key, own);
  return own;
}

/** Every dumped mapping lies in this kernel's user address space (ppc64's shrinks with its pages). */
export function checkAddressSpace(img: RestoreImages, arch: Arch): void {
  if (arch.userTop === undefined) return;
  const vmas = (img.mm.vmas as MessageValue[] | undefined) ?? [];
  const top = vmas.reduce((m, v) => (BigInt(v.end as bigint) > m ? BigInt(v.end as bigint) : m), 0n);
  if (top <= arch.userTop) return;
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  throw new RestoreError('UNSUPPORTED', `process ${img.pid} has memory up to ${hex(top)}, beyond this kernel's user address space (it ends at ${hex(arch.userTop)} with ${arch.pageSize}-byte pages): restore it on a kernel whose address space reaches that far`);
}

/** The mappings are whole pages, not empty, in address order and apart, as /proc/PID/maps gives them to every dump. */
export function checkVmaLayout(img: RestoreImages, pageSize: number): void {
  const page = BigInt(pageSize);
  let prevEnd = 0n;
  for (const v of (img.mm.vmas as MessageValue[] | undefined) ?? []) {
    const start = BigInt(v.start as bigint), end = BigInt(v.end as bigint);
    const why = start % page !== 0n || end % page !== 0n ? `is not made of whole ${pageSize}-byte pages`
      : end <= start ? 'is empty or ends before it starts'
        : start < prevEnd ? 'overlaps the mapping before it or comes before it' : undefined;
    if (why !== undefined) {
      throw new RestoreError('IMAGE_INCONSISTENT', `mm-${img.pid}.img: the mapping 0x${start.toString(16)}-0x${end.toString(16)} ${why}: the images are damaged; restore from an intact copy`);
    }
    prevEnd = end;
  }
}

/** RLIM_NLIMITS: the same on every Linux architecture. */
const RLIM_NLIMITS = 16;

/**
 * What restore would find wrong only after the point of no return: each thread's registers (the
 * regsets and the signal frame built from its core, dry), the signal actions and the resource limits.
 */
export function checkTaskState(img: RestoreImages, arch: Arch): void {
  const task = arch.forThreadInfo(threadInfoOf(img, arch));
  for (const { tid, core } of img.threads) {
    const ti = core[task.threadInfoField] as ThreadInfo | undefined;
    if (ti === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `core-${tid}.img has no ${task.threadInfoField}`);
    try {
      regsetsOf(task, ti);
      frameLengthOf(task, ti);
    } catch (e) {
      throw new RestoreError('IMAGE_INCONSISTENT', `core-${tid}.img: ${(e as Error).message}`);
    }
  }
  sigactionCalls(img.core, task, img.pid);
  const limits = (((img.core.tc as MessageValue | undefined)?.rlimits as MessageValue | undefined)?.rlimits as MessageValue[] | undefined) ?? [];
  if (limits.length > RLIM_NLIMITS) throw new RestoreError('IMAGE_INCONSISTENT', `core-${img.pid}.img has ${limits.length} resource limits; Linux has ${RLIM_NLIMITS}`);
  limits.forEach((l, res) => {
    const cur = BigInt((l.cur ?? 0) as bigint | number), max = BigInt((l.max ?? 0) as bigint | number);
    if (cur > max) throw new RestoreError('IMAGE_INCONSISTENT', `core-${img.pid}.img: resource limit ${res} has soft limit ${cur} above its hard limit ${max}`);
  });
}

export function preflight(img: RestoreImages, arch: Arch, opts: PreflightOptions = {}): void {
  checkArch(img, arch);
  checkSupported(img);
  checkVmaLayout(img, dumpPageSize(img, arch.pageSize));
  checkGuards(img, dumpPageSize(img, arch.pageSize));
  checkCpu(img, arch);
  checkTaskState(img, arch);
  checkPrivateFileMappings(img);
  checkPages(img, dumpPageSize(img, arch.pageSize));
  checkAddressSpace(img, arch);
  checkVdso(img, arch);
  checkShmem(img, arch.pageSize);
  checkFiles(img, opts.fileFacts ?? fileFactsOf(img.dir), opts.filesFound);
  checkFds(img);
  if (!opts.pidCheckedWithTree) checkPidFree(img.pid);
}

/** Each AIO ring of mm.aios is one AIO mapping of the same length, and each AIO mapping has its ring. */
function checkAioRings(img: RestoreImages): void {
  const rings = aioRings(img);
  const maps = ((img.mm.vmas as MessageValue[] | undefined) ?? []).filter((v) => vmaKind(num(v.status)) === 'aio');
  for (const r of rings) {
    const v = maps.find((m) => BigInt(m.start as bigint) === r.addr);
    if (v === undefined || BigInt(v.end as bigint) - r.addr !== r.len || r.nrReq <= 0) {
      throw new RestoreError('IMAGE_INCONSISTENT', `mm-${img.pid}.img: the AIO ring at 0x${r.addr.toString(16)} (${r.len} bytes, ${r.nrReq} requests) has no AIO mapping of that size`);
    }
  }
  for (const v of maps) {
    if (!rings.some((r) => r.addr === BigInt(v.start as bigint))) throw new RestoreError('IMAGE_INCONSISTENT', `mm-${img.pid}.img: the AIO mapping at 0x${BigInt(v.start as bigint).toString(16)} has no ring in mm.aios`);
  }
}
