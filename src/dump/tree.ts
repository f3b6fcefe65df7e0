/**
 * The process tree of a dump (`cryo dump -t PID`: PID and all its descendants). Freezing seizes
 * and interrupts every thread of every process, walking /proc/PID/task/TID/children until a whole
 * pass finds no new process (a process can fork until it is stopped), as CRIU does. Zombies
 * cannot be seized: they are recorded with their exit status. Then the tree is checked for what
 * restore could not rebuild: sessions and groups led from outside, shared tables, and pipes whose
 * other holder is a process outside the tree. (File locks are dumped with the descriptors:
 * src/files/locks.ts.)
 */
import { listFds, procGone, ProcReadError, readChildren, readFdTarget, readStat, readStatus, scanProcessFds, type FdTarget, type ProcStat, type ProcStatus } from '../proc/index.js';
import { KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_VM, SysError, kcmp } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import { checkDumpable } from './task-state.js';
import { finishSeize, startSeize } from './threads.js';

export interface TreeMember {
  pid: number;
  /** 0 for the root (as CRIU writes it). */
  ppid: number;
  pgid: number;
  sid: number;
  zombie: boolean;
  /** A zombie's wait status (exit code << 8 | signal), as /proc/PID/stat's exit_code gives it. */
  exitCode: number;
  /** Threads, the main thread first (a zombie: just its PID). */
  tids: number[];
  /** The signal that stopped it (a stopped job, state T), else 0. */
  stopSignal: number;
  /** Its /proc/PID/stat, read once it was stopped (a zombie: once its pass found it). */
  stat: ProcStat;
  /** Its /proc/PID/status, read once it was stopped (a zombie: none). */
  status?: ProcStatus;
}

/** How often the children are listed again before cryo gives up on a tree that keeps forking. */
const MAX_ROUNDS = 100;

/**
 * Seizes every process of the tree under `root` (each thread lands in `seized` as soon as it is
 * seized, so a failure detaches it; a stopped one lands in `stopped` too). Returns the members in tree order: every parent before its
 * children, children in the order the kernel lists them.
 */
export function freezeTree(root: number, seized: Set<number>, stopped: Map<number, number>): TreeMember[] {
  const members = new Map<number, TreeMember>();
  // Each process is seized and interrupted first, and waited for with the others of its pass.
  // Its status is read only where the seize is refused: a zombie, a task gone, or one checkDumpable names.
  const start = (pid: number, ppid: number) => {
    try {
      return { pid, ppid, zombie: false, seizing: startSeize(pid, seized) };
    } catch (e) {
      if (!(e instanceof SysError && (e.code === 'EPERM' || e.code === 'ESRCH'))) throw e;
      const status = readStatus(pid); // gone (reaped meanwhile): ProcReadError
      if (status.state === 'Z' || status.state === 'X') return { pid, ppid, zombie: true, seizing: undefined };
      checkDumpable(pid, status);
      throw e;
    }
  };
  const finish = ({ pid, ppid, zombie, seizing }: ReturnType<typeof start>): void => {
    const tids = seizing === undefined ? [pid] : finishSeize(seizing, seized, stopped);
    // Read after the stop: a process may have changed its group (and its signals) until it was stopped.
    const stat = readStat(pid);
    const status = zombie ? undefined : readStatus(pid);
    members.set(pid, { pid, ppid, pgid: stat.pgrp, sid: stat.session, zombie, exitCode: zombie ? Number(stat.exitCode) : 0, tids, stopSignal: stopped.get(pid) ?? 0, stat, ...(status ? { status } : {}) });
  };
  finish(start(root, 0));
  for (let round = 0; ; round++) {
    if (round >= MAX_ROUNDS) throw new DumpError('UNSUPPORTED', `the process tree of ${root} keeps changing: cryo could not stop it`);
    const started: ReturnType<typeof start>[] = [];
    const seen = new Set<number>();
    for (const m of members.values()) {
      if (m.zombie) continue;
      for (const tid of m.tids) {
        for (const child of readChildren(m.pid, tid)) {
          if (members.has(child) || seen.has(child)) continue;
          seen.add(child);
          try {
            started.push(start(child, m.pid));
          } catch (e) {
            if (e instanceof ProcReadError && e.gone) continue; // reaped meanwhile
            throw e;
          }
        }
      }
    }
    for (const p of started) {
      try {
        finish(p);
      } catch (e) {
        if (e instanceof ProcReadError && e.gone) continue;
        throw e;
      }
    }
    if (started.length === 0) break;
  }
  return order(root, [...members.values()]);
}

/** Pre-order: a parent before its children (restore creates them in this order). */
function order(root: number, all: TreeMember[]): TreeMember[] {
  const out: TreeMember[] = [];
  const visit = (pid: number): void => {
    const m = all.find((x) => x.pid === pid)!;
    out.push(m);
    for (const c of all.filter((x) => x.ppid === pid)) visit(c.pid);
  };
  visit(root);
  return out;
}

const alive = (pid: number): boolean => {
  try {
    readStat(pid);
    return true;
  } catch (e) {
    if (procGone(e)) return false;
    throw e;
  }
};

/**
 * What restore could not rebuild, refused with one line: a session or process group led by a
 * live process outside the tree (the root's own session and group are allowed with shellJob), and
 * processes sharing their memory, fs info or signal handlers (CLONE_VM etc. without threads).
 * A descriptor table shared with the parent (CLONE_FILES) is rebuilt by restore; the answer maps
 * each such process to the process whose table it uses (the topmost ancestor sharing it).
 */
export function checkTree(members: readonly TreeMember[], shellJob: boolean): Map<number, number> {
  const pids = new Set(members.map((m) => m.pid));
  const root = members[0]!;
  for (const m of members) {
    for (const [what, id] of [['session', m.sid], ['process group', m.pgid]] as const) {
      if (pids.has(id)) continue;
      const rootsOwn = id === (what === 'session' ? root.sid : root.pgid);
      if (shellJob && rootsOwn) continue;
      if (m === root) {
        throw new DumpError('UNSUPPORTED', `task ${m.pid} is in ${what} ${id} led by a process cryo does not dump: use --shell-job (shellJob) to dump it anyway`);
      }
      // A group whose leader is gone comes back through a helper; a live outside leader cannot.
      if (what === 'session' || alive(id)) {
        throw new DumpError('UNSUPPORTED', `process ${m.pid} of the tree is in ${what} ${id}, led by process ${id} outside the dumped tree: dump the tree from a common ancestor`);
      }
    }
  }
  const live = members.filter((m) => !m.zombie);
  const byPid = new Map(live.map((m) => [m.pid, m]));
  // Pre-order: a parent's owner is known before its children are looked at.
  const filesOwner = new Map<number, number>();
  for (const m of live) {
    const parent = byPid.get(m.ppid);
    if (parent && kcmp(parent.pid, m.pid, KCMP_FILES, 0, 0) === 0) filesOwner.set(m.pid, filesOwner.get(parent.pid) ?? parent.pid);
  }
  const kinds = [[KCMP_VM, 'memory (CLONE_VM)'], [KCMP_FILES, 'descriptor table (CLONE_FILES)'], [KCMP_FS, 'fs information (CLONE_FS)'], [KCMP_SIGHAND, 'signal handlers (CLONE_SIGHAND)']] as const;
  const pidsLive = live.map((m) => m.pid);
  const ownerOf = (p: number): number => filesOwner.get(p) ?? p;
  for (const [kind, what] of kinds) {
    const shared = (a: number, b: number): void => {
      if (kind === KCMP_FILES && ownerOf(a) === ownerOf(b)) return;
      if (kind === KCMP_FILES) {
        throw new DumpError('UNSUPPORTED', `processes ${a} and ${b} share their descriptor table (CLONE_FILES) but not with their parents: cryo restores a table shared between a parent and its children only`);
      }
      throw new DumpError('UNSUPPORTED', `processes ${a} and ${b} share their ${what}: cryo cannot restore processes sharing that yet`);
    };
    const g = sharing(pidsLive, kind);
    // One pass, not every pair (a tree of 500: 125,000 pairs a kind): each process against the
    // first before it holding the same object (all of those share one table owner, or it threw).
    const first = new Map<number, number>();
    for (const p of pidsLive) {
      const f = first.get(g.get(p)!);
      if (f === undefined) first.set(g.get(p)!, p);
      else shared(f, p);
    }
  }
  return filesOwner;
}

/**
 * Which of `pids` hold the same kernel object `kind` (the same number: the same object), found by
 * sorting them in kcmp's order of the objects: n log n calls, not one per pair (tree-50: 4,900).
 * Where kcmp gives no order (an error, or "unordered"), each is compared with one holder of
 * every object found before it.
 */
function sharing(pids: readonly number[], kind: number): Map<number, number> {
  let ordered = true;
  const order = (a: number, b: number): number => {
    const r = kcmp(a, b, kind, 0, 0);
    if (r !== 0 && r !== 1 && r !== 2) ordered = false;
    return r === 0 ? 0 : r === 1 ? -1 : 1;
  };
  const sorted = [...pids].sort(order);
  const group = new Map<number, number>();
  sorted.forEach((p, i) => group.set(p, i > 0 && order(sorted[i - 1]!, p) === 0 ? group.get(sorted[i - 1]!)! : p));
  if (ordered) return group;
  const holders: number[] = [];
  for (const p of pids) {
    const same = holders.find((h) => kcmp(h, p, kind, 0, 0) === 0);
    if (same === undefined) holders.push(p);
    group.set(p, same ?? p);
  }
  return group;
}

/**
 * Pipes of the tree one of whose ends a process outside the tree holds: refused (the outside
 * process would lose its end on restore) unless `external` lists it as `pipe:[INODE]`, CRIU's
 * name for it. Throws one line naming the pipe, the tree's descriptor and the holder. Returns the
 * descriptors it listed, in order, with their targets, by PID: the tree is frozen, the descriptor
 * dump takes them (dumpFds' `listed`) instead of listing them again.
 */
export function checkOutsidePipes(members: readonly TreeMember[], external: readonly string[]): Map<number, Map<number, FdTarget>> {
  const inTree = new Set(members.map((m) => m.pid));
  const pipes = new Map<bigint, { pid: number; fd: number }>();
  const listed = new Map<number, Map<number, FdTarget>>();
  for (const m of members) {
    if (m.zombie) continue;
    const fds = new Map<number, FdTarget>();
    listed.set(m.pid, fds);
    for (const fd of listFds(m.pid)) {
      const t = readFdTarget(m.pid, fd);
      fds.set(fd, t);
      if (t.kind === 'pipe' && !pipes.has(t.inode) && !external.includes(`pipe:[${t.inode}]`)) pipes.set(t.inode, { pid: m.pid, fd });
    }
  }
  if (pipes.size === 0) return listed;
  scanProcessFds('scan of the processes outside the tree for its pipes', (pid) => inTree.has(pid), (pid, fd, t) => {
    const mine = t.kind === 'pipe' ? pipes.get(t.inode) : undefined;
    if (t.kind === 'pipe' && mine) {
      throw new DumpError('UNSUPPORTED', `pipe:[${t.inode}] (fd ${mine.fd} of process ${mine.pid}) is also held by process ${pid} (fd ${fd}) outside the dumped tree: dump a tree that holds every end, or pass --external pipe:[${t.inode}] (external) to dump it anyway (restore makes a new pipe)`);
    }
  });
  return listed;
}
