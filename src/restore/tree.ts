// The process tree of a restore: every process comes into being as a copy of its parent (the root
// as the stub), made by an injected clone3(set_tid = its dumped PID) inside it, so parentage is what it was.
// A session leader calls setsid before it makes its own children (they inherit the session);
// process groups are joined once every process exists, leaders first. A group whose leader is
// not in the tree gets a helper process with the leader's PID that makes the group and exits
// (its parent collects it), as CRIU does. Zombies are made to exit with their saved status and
// are left for their parent to wait for. Each process's memory comes back before the children
// that inherit it are made (restore/inherited.ts); each then restores the rest of its state like a
// single process. Every process made is traced by cryo (CLONE_PTRACE), so a failure kills them all.

import { readFileSync } from 'node:fs';
import type { Arch } from '../arch/types.js';
import { injectMmap, Injector, UndoList, type SyscallBatch } from '../inject/index.js';
import { readMaps } from '../proc/index.js';
import {
  ptrace, rawSyscall, waitForStop, waitpid, writeU64, errnoName, processVmReadv, processVmWritev, kill, stopped, stopSig, exited, exitCode, signaled, termSig, __WALL, WNOHANG, sleepSync,
  PTRACE_O_EXITKILL, PTRACE_O_SUSPEND_SECCOMP, PTRACE_O_TRACESYSGOOD,
} from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreTree, TreeEntry } from '../shared/restore-images.js';
import { checkPidsFree, pidTakenError } from './pid-free.js';
import { tracedProcess, type Stub } from './stub.js';
import { SIGCHLD } from '../sys/signals.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../arch/mman.js';
import { CLONE_ARGS, CLONE_FILES, CLONE_SLOT, SCRATCH_CLONE_ARGS, SCRATCH_RESERVED, writeCloneSlot } from './clone-args.js';

const PR_SET_DUMPABLE = 4;
const PR_SET_NAME = 15;
/** Signals a zombie may have died of (a non-fatal one is replaced by SIGABRT, as CRIU does). */
const FATAL = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 14, 15, 10, 12, 24, 25, 26, 27, 29, 30, 31]);

/** A group to make with a helper: its leader is not a process of the tree. */
export interface GroupHelper {
  pgid: number;
  /** The process the helper is a child of: the parent of the group's first member. */
  parent: number;
}

/** The helpers a tree needs (preflight: checks every session and group can be rebuilt, and that every PID but the root's is free). */
export function planTree(tree: RestoreTree, shellJob: boolean): GroupHelper[] {
  const byPid = new Map(tree.entries.map((e) => [e.pid, e]));
  const root = tree.entries[0]!;
  if (root.sid !== root.pid && !shellJob) {
    throw new RestoreError('UNSUPPORTED', `process ${root.pid} was in session ${root.sid} it does not lead (a shell job): restore it with --shell-job`);
  }
  const helpers: GroupHelper[] = [];
  const tableOwner = new Map<number, number>();
  for (const e of tree.entries) {
    const id = e.img && Number(e.img.ids.files_id);
    if (id === undefined) continue;
    const first = tableOwner.get(id);
    if (first === undefined) tableOwner.set(id, e.pid);
    else if (!sharesParentFiles(e, byPid.get(e.ppid))) {
      throw new RestoreError('UNSUPPORTED', `process ${e.pid} shares the descriptor table ${id} of process ${first} but not its parent's: cryo restores a table shared between a parent and its children only`);
    }
  }
  for (const e of tree.entries.slice(1)) {
    const parent = byPid.get(e.ppid)!;
    if (e.sid !== e.pid && e.sid !== parent.sid) {
      throw new RestoreError('UNSUPPORTED', `process ${e.pid} was in session ${e.sid}, which neither it nor its parent ${parent.pid} (session ${parent.sid}) leads: cryo cannot rebuild that session`);
    }
  }
  for (const e of tree.entries) {
    if (e.pgid === e.pid || byPid.has(e.pgid) || helpers.some((h) => h.pgid === e.pgid)) continue;
    if (shellJob && e.sid === root.sid && root.sid !== root.pid) continue; // stays in cryo's group, as the root
    if (e === root) continue;
    const leaderSession = e.sid;
    if (tree.entries.some((x) => x.pgid === e.pgid && x.sid !== leaderSession)) {
      throw new RestoreError('IMAGE_INCONSISTENT', `pstree.img: process group ${e.pgid} spans two sessions`);
    }
    helpers.push({ pgid: e.pgid, parent: e.ppid });
  }
  checkPidsFree([...tree.entries.slice(1).map((e) => e.pid), ...helpers.map((h) => h.pgid)]);
  return helpers;
}

/** The process uses its parent's descriptor table (CLONE_FILES): the same files_id. */
export function sharesParentFiles(e: TreeEntry, parent: TreeEntry | undefined): boolean {
  const id = e.img?.ids.files_id;
  return id !== undefined && parent?.img !== undefined && Number(parent.img.ids.files_id) === Number(id);
}

/** Every process cryo made for the tree, to kill them all on failure. */
export class TreeStubs {
  private readonly procs = new Map<number, Stub>();

  constructor(readonly root: Stub) {
    this.procs.set(root.pid, root);
  }

  add(pid: number): Stub {
    const s = tracedProcess(pid);
    this.procs.set(pid, s);
    return s;
  }

  of(pid: number): Stub {
    return this.procs.get(pid)!;
  }

  /**
   * Kills every process (children before their parents are collected) and returns once each is
   * gone: one whose parent died before collecting it comes to cryo (the restore's subreaper) and
   * is collected here, so no zombie of the tree is left for anyone to find. Never throws.
   * Children first, as they were resumed: one already running must not see its parent die (a
   * PostgreSQL backend then exits by itself and removes its shared memory in /dev/shm).
   */
  kill(): void {
    for (const pid of [...this.procs.keys()].reverse()) {
      try { kill(pid, 9); } catch { /* gone */ }
    }
    for (const s of [...this.procs.values()].reverse()) s.kill();
    reapOrphans([...this.procs.keys()]);
  }
}

/** Parent PID and state letter of `pid`, or undefined when it is gone. */
function parentAndState(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), state: rest[0]! };
  } catch {
    return undefined;
  }
}

/**
 * Waits until none of `pids` (killed) exists, collecting each that is a child of cryo. A PID that
 * now names a live process outside the tree (reused) is no longer waited for. Gives up after 30 s.
 */
function reapOrphans(pids: readonly number[]): void {
  const ours = new Set(pids);
  const deadline = Date.now() + 30_000;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    left = left.filter((pid) => {
      const p = parentAndState(pid);
      if (!p) return false;
      if (p.ppid === process.pid) {
        try { waitpid(pid, WNOHANG | __WALL); } catch { /* not ours after all */ }
        return parentAndState(pid) !== undefined;
      }
      return ours.has(p.ppid) || p.state === 'Z' || p.state === 'X';
    });
    if (left.length > 0) sleepSync(1);
  }
}

/**
 * A process during the build: its injector and a page of scratch memory of its own, or, once its
 * memory is back, those of its TaskCtx.
 */
interface Building {
  pid: number;
  inj: Injector;
  page: bigint;
  /** A restored process's batch runner and the size of its scratch area at `page`: its children are forked in one stop. */
  batch?: { batch: SyscallBatch; scratchSize: number };
}

function options(pid: number): void {
  const base = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD;
  try {
    ptrace.setOptions(pid, base | PTRACE_O_SUSPEND_SECCOMP);
  } catch {
    ptrace.setOptions(pid, base);
  }
}

/** Attaches to a new process; a child runs its calls where its parent did (a restored parent's vDSO or syscall page). */
function building(pid: number, arch: Arch, parent?: Injector, page?: bigint): Building {
  options(pid);
  const inj = parent ? Injector.attach(pid, parent.arch, new UndoList(), { site: parent.site, trapIgnored: false }) : Injector.attach(pid, arch, new UndoList(), { maps: readMaps(pid), trapIgnored: false });
  // Argument blocks (s390x's mmap) go where the parent's went: its stack may be gone.
  inj.argArea = parent?.argArea;
  page ??= BigInt.asUintN(64, injectMmap(inj, 0, arch.pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  return { pid, inj, page };
}

function put(b: Building, data: Buffer, off = 0): bigint {
  const at = b.page + BigInt(off);
  if (processVmWritev(b.pid, at, data) !== data.length) throw new Error(`cannot write scratch memory of process ${b.pid}`);
  return at;
}

/** The child clone3 made (its result `got`) is `pid`, known to `stubs` for a kill on failure; else throws naming both. */
function checkForked(parent: Building, pid: number, got: bigint, stubs: TreeStubs): void {
  if (got < 0n) {
    const e = errnoName(Number(-got));
    if (e === 'EEXIST') throw pidTakenError(pid, 'restored the tree');
    throw new RestoreError('FAILED', `${e} from clone3(set_tid=[${pid}]) injected into process ${parent.pid}: cannot recreate its child ${pid}`);
  }
  stubs.add(Number(got));
  if (Number(got) !== pid) throw new RestoreError('FAILED', `clone3(set_tid=[${pid}]) made process ${got} instead of ${pid}`);
}

/**
 * clone3(set_tid = [pid]) in `parent` for each of `kids` (with `flagsOf` it: CLONE_FILES shares the
 * parent's descriptor table): copies of it, each traced by cryo and stopped. A restored parent
 * makes them all in one batch (one stop), the children stopping meanwhile; one wait each after.
 */
function forkChildren(parent: Building, kids: readonly number[], flagsOf: (pid: number) => bigint, stubs: TreeStubs, arch: Arch): Building[] {
  const b = parent.batch;
  const per = b ? Math.min(b.batch.room, Math.floor((b.scratchSize - SCRATCH_CLONE_ARGS - SCRATCH_RESERVED) / CLONE_SLOT)) : 0;
  if (!b || !b.batch.batched || kids.length < 2 || per < 2) {
    return kids.map((pid) => {
      const args = Buffer.alloc(CLONE_SLOT);
      writeCloneSlot(args, 0, pid, flagsOf(pid), SIGCHLD, parent.page + 128n);
      put(parent, args.subarray(CLONE_ARGS.size), 128);
      checkForked(parent, pid, parent.inj.raw('clone3', put(parent, args.subarray(0, CLONE_ARGS.size), 0), CLONE_ARGS.size), stubs);
      return childOf(parent, pid, arch);
    });
  }
  for (let i = 0; i < kids.length; i += per) {
    const chunk = kids.slice(i, i + per);
    const base = parent.page + BigInt(SCRATCH_CLONE_ARGS);
    const slots = Buffer.alloc(chunk.length * CLONE_SLOT);
    chunk.forEach((pid, k) => writeCloneSlot(slots, k * CLONE_SLOT, pid, flagsOf(pid), SIGCHLD, base + BigInt(k * CLONE_SLOT + CLONE_ARGS.size)));
    put(parent, slots, SCRATCH_CLONE_ARGS);
    // Each runs however the one before it ended: every child made is cryo's to kill before any error.
    const got = b.batch.runEach(chunk.map((_, k) => ({ name: 'clone3', args: [base + BigInt(k * CLONE_SLOT), CLONE_ARGS.size] })));
    for (const r of got) if (r > 0n) stubs.add(Number(r));
    chunk.forEach((pid, k) => checkForked(parent, pid, got[k]!, stubs));
  }
  return kids.map((pid) => childOf(parent, pid, arch));
}

/** A child just forked from `parent`, once it stopped (before its first instruction). */
function childOf(parent: Building, pid: number, arch: Arch): Building {
  waitForStop(pid, { timeoutMs: 10_000 });
  // The child's page is its copy of its parent's (a restored parent's scratch memory: the child
  // keeps that area, restore/scratch.ts inheritScratch, or it goes with the stub's mappings).
  return building(pid, arch, parent.inj, parent.page);
}

/** Ends a process made for the build with `status` (exit code << 8 | signal); cryo lets it go to its parent. */
function makeExit(b: Building, status: number): void {
  let sig = status & 0x7f;
  if (sig !== 0) {
    if (!FATAL.has(sig)) sig = 6;
    b.inj.call('prctl', PR_SET_DUMPABLE, 0); // no core file
    ptrace.setSigmask(b.pid, 0n);
    kill(b.pid, sig);
    try {
      ptrace.cont(b.pid, 0);
    } catch { /* SIGKILL ended it at once: there is nothing to continue */ }
  } else {
    try {
      b.inj.raw('exit_group', (status >> 8) & 0xff);
    } catch { /* it exited instead of stopping: expected */ }
  }
  // As its tracer cryo hears of the death first; collecting it hands the zombie to the parent.
  for (;;) {
    let r;
    try {
      r = waitpid(b.pid, __WALL);
    } catch {
      return; // collected by the injector already
    }
    if (stopped(r.status)) {
      ptrace.cont(b.pid, stopSig(r.status) === 5 ? 0 : stopSig(r.status));
      continue;
    }
    const want = sig !== 0 ? `signal ${sig}` : `exit code ${(status >> 8) & 0xff}`;
    const gotWhat = exited(r.status) ? `exit code ${exitCode(r.status)}` : signaled(r.status) ? `signal ${termSig(r.status)}` : `status ${r.status}`;
    if (gotWhat !== want) throw new RestoreError('FAILED', `process ${b.pid} ended with ${gotWhat} instead of ${want}`);
    return;
  }
}

/**
 * setpgid(0, pgid) in the process, unless it is in that group already (inherited at its fork: most
 * of a tree is): asked of the kernel from cryo, which costs no stop of the process.
 */
function joinGroup(b: Building, pgid: number): void {
  if (Number(rawSyscall('getpgid', b.pid)) === pgid) return;
  b.inj.call('setpgid', 0, pgid);
}

/** Takes the SIGCHLDs of the processes that ended during the build (blocked and pending in `b`). */
function drainSigchld(b: Building): void {
  const set = Buffer.alloc(8);
  writeU64(set, 1n << BigInt(SIGCHLD - 1), 0);
  const at = put(b, set, 256);
  const ts = put(b, Buffer.alloc(16), 272);
  for (let i = 0; i < 64 && b.inj.raw('rt_sigtimedwait', at, 0, ts, 8) === BigInt(SIGCHLD); i++) { /* one more */ }
}

/** Calls into a process being built; `put` writes its scratch page at `offset` (1024 and up are free). */
export interface BuildCalls {
  raw(name: string, ...args: (bigint | number)[]): bigint;
  put(data: Buffer, offset: number): bigint;
  read(at: bigint, len: number): Buffer;
}

/** How the processes of a tree get their memory while the tree is built. */
export interface TreeMemory {
  /**
   * Rebuilds a live process's memory (made and led; `building`: the injector its build used);
   * returns the injector and scratch memory its calls use after.
   */
  settle(e: TreeEntry, building: Injector): { inj: Injector; scratch: bigint; batch?: SyscallBatch; scratchSize?: number };
  /** `child` can start from `parent`'s restored memory (else it is made before that, from the blank parent). */
  inherits(child: TreeEntry, parent: TreeEntry): boolean;
}

/**
 * Makes every process of `tree` from the root stub: PIDs, parents, sessions, groups (with
 * `helpers`), zombies. Each live process's memory comes back (`memory.settle`) before the
 * children that can inherit it are made (they start with it: pages it shares copy-on-write with
 * them stay shared). Returns with every live process stopped under cryo; `stubs` holds every
 * process made, for a kill on failure. `onLead` runs in each session leader after its setsid,
 * before any of its children is made.
 */
export function buildTree(tree: RestoreTree, stubs: TreeStubs, helpers: readonly GroupHelper[], arch: Arch, memory: TreeMemory, onLead?: (e: TreeEntry, sys: BuildCalls) => void): void {
  const made = new Map<number, Building>();
  const rootEntry = tree.entries[0]!;
  const root = building(rootEntry.pid, arch);
  made.set(root.pid, root);
  const lead = (e: TreeEntry, b: Building) => {
    if (e.sid !== e.pid) return;
    b.inj.call('setsid');
    onLead?.(e, { raw: (name, ...args) => b.inj.raw(name, ...args), put: (data, offset) => put(b, data, offset), read: (at, len) => processVmReadv(b.pid, at, len) });
  };
  const byPid = new Map(tree.entries.map((e) => [e.pid, e]));
  const children = new Map<number, TreeEntry[]>();
  for (const e of tree.entries.slice(1)) children.set(e.ppid, [...(children.get(e.ppid) ?? []), e]);
  const flagsOf = (pid: number) => (sharesParentFiles(byPid.get(pid)!, byPid.get(byPid.get(pid)!.ppid)) ? CLONE_FILES : 0n);
  // Children that cannot inherit first, then the memory, then the others; each child the same way.
  const withChildren = (e: TreeEntry) => {
    const kids = children.get(e.pid) ?? [];
    makeChildren(e, kids.filter((k) => !memory.inherits(k, e)));
    if (!e.zombie) {
      const { inj, scratch, batch, scratchSize } = memory.settle(e, made.get(e.pid)!.inj);
      // The build's own page went with the stub's mappings: from now on its calls use these.
      made.set(e.pid, { pid: e.pid, inj, page: scratch, batch: batch && scratchSize !== undefined ? { batch, scratchSize } : undefined });
    }
    makeChildren(e, kids.filter((k) => memory.inherits(k, e)));
  };
  // Forked all at once (the parent does not change in between), then each led and built in turn.
  const makeChildren = (parent: TreeEntry, kids: readonly TreeEntry[]) => {
    const bs = forkChildren(made.get(parent.pid)!, kids.map((k) => k.pid), flagsOf, stubs, arch);
    bs.forEach((b) => made.set(b.pid, b));
    kids.forEach((k, i) => {
      lead(k, bs[i]!);
      withChildren(k);
    });
  };
  lead(rootEntry, root);
  withChildren(rootEntry);
  // Groups: their leaders first (a helper stands in for one that is not in the tree), then members.
  const ended = new Set<number>();
  for (const e of tree.entries) if (e.pgid === e.pid && e.sid !== e.pid) joinGroup(made.get(e.pid)!, e.pid);
  const helperProcs: Building[] = [];
  for (const h of helpers) {
    const [b] = forkChildren(made.get(h.parent)!, [h.pgid], () => 0n, stubs, arch);
    b!.inj.call('setpgid', 0, 0);
    helperProcs.push(b!);
  }
  for (const e of tree.entries) {
    if (e.pgid === e.pid || e === rootEntry) continue;
    if (!made.has(e.pgid) && !helpers.some((h) => h.pgid === e.pgid)) continue; // shell job: the group it inherited
    joinGroup(made.get(e.pid)!, e.pgid);
  }
  for (const [i, h] of helpers.entries()) {
    makeExit(helperProcs[i]!, 0);
    const parent = made.get(h.parent)!;
    const r = parent.inj.raw('wait4', h.pgid, 0, __WALL, 0);
    if (r !== BigInt(h.pgid)) throw new RestoreError('FAILED', `process ${h.parent} could not collect the helper ${h.pgid} of process group ${h.pgid} (wait4 returned ${r})`);
    ended.add(h.parent);
  }
  for (const e of tree.entries) {
    if (!e.zombie) continue;
    const z = made.get(e.pid)!;
    if (e.comm !== '') z.inj.call('prctl', PR_SET_NAME, put(z, Buffer.from(`${e.comm.slice(0, 15)}\0`), 512));
    makeExit(z, e.exitCode);
    made.delete(e.pid);
    ended.add(e.ppid);
  }
  for (const pid of ended) drainSigchld(made.get(pid)!);
}
