// pidfd (PIDFD, pidfd_entry: ino, flags, nspid): a pidfd of any process or thread of the dumped
// tree, or of a process that has died (nspid -1, as CRIU writes it). Restore opens it again with
// pidfd_open; pidfs gives every pidfd of one process one inode, so pidfds of the same process
// still compare equal. A dead process's pidfd comes from a short-lived helper cryo starts, opens
// a pidfd of and kills: one per dead process (by the dumped inode), every holder gets that one.
// A pidfd of a thread (PIDFD_THREAD) is opened once the threads exist: until then its numbers
// hold a pidfd of the thread's process. A pidfd of a process outside the tree is refused.
import { closeSync } from 'node:fs';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { getpid, kill, pidfdOpen, spawn, waitpid, __WALL } from '../sys/index.js';
import type { FdKind } from './kind.js';
import { setFileFlags, taskCall } from './anon.js';
import { FD_CLOEXEC, O_CLOEXEC, O_EXCL, O_NONBLOCK, O_RDWR, num } from '../shared/constants.js';

/** PIDFD_THREAD is O_EXCL, PIDFD_NONBLOCK is O_NONBLOCK: what pidfd_open accepts. */
const PIDFD_OPEN_FLAGS = O_NONBLOCK | O_EXCL;
const DEAD = -1;

/** Process and thread IDs of the dump (pstree.img). */
function dumpedIds(all: RestoreImages["all"]): { pids: Set<number>; tids: Set<number> } {
  const pids = new Set<number>();
  const tids = new Set<number>();
  for (const { value: e } of all.get('pstree.img')?.entries ?? []) {
    pids.add(num(e.pid));
    for (const t of (e.threads as (number | bigint)[] | undefined) ?? []) tids.add(Number(t));
  }
  return { pids, tids };
}

/** A pidfd of a dead process, held by cryo: a helper started stopped, its pidfd taken, then killed and collected. */
function deadPidfd(why: string): number {
  const pid = spawn({ path: '/bin/true', stopBeforeExec: true, keepFds: [] });
  let fd: number;
  try {
    fd = pidfdOpen(pid);
  } finally {
    kill(pid, 9);
    waitpid(pid, __WALL);
  }
  if (fd < 0) throw new RestoreError('FAILED', `cannot make a pidfd of a dead process for ${why}`);
  return fd;
}

/** A copy in the task of cryo's own descriptor `fd` (pidfd_getfd through a pidfd of cryo). */
function fromCryo(ctx: TaskCtx, fd: number, why: string): number {
  const self = Number(taskCall(ctx, why, 'pidfd_open', getpid(), 0));
  try {
    return Number(taskCall(ctx, why, 'pidfd_getfd', self, fd, 0));
  } finally {
    ctx.call('close', self);
  }
}

/** Thread pidfds waiting for their threads: file id, thread, flags. */
interface PendingThreadPidfd { id: number; tid: number; flags: number }

export const pidfdKind: FdKind = {
  type: 'PIDFD', field: 'pidfd', name: 'a pidfd',
  // anon_inode:[pidfd] before Linux 6.9, pidfd:[INO] on pidfs after; fdinfo's Pid: line either way.
  matches: (c) => c.info.pidfd !== undefined && c.target.kind !== 'path',
  dump(c) {
    const p = c.info.pidfd!;
    const ino = Number(BigInt(c.st.ino) & 0xffffffffn);
    const flags = c.flags & ~O_RDWR;
    if (p.pid <= 0) return { id: c.id, ino, flags, nspid: DEAD, fown: c.fown };
    if (!c.table.treeTids.has(p.pid)) {
      throw new DumpError('UNSUPPORTED', `fd ${c.fd} of task ${c.pid} is a pidfd of process ${p.pid}, which is outside the dumped tree: dump a tree that holds that process too, or close the descriptor`);
    }
    // The number the task knows it by: the last of NSpid (its own PID namespace).
    const nspid = p.nsPid.length > 0 ? p.nsPid[p.nsPid.length - 1]! : p.pid;
    return { id: c.id, ino, flags, nspid, fown: c.fown };
  },
  check(img, entry, why) {
    const nspid = num(entry.nspid);
    if (nspid === DEAD) return;
    const { pids, tids } = dumpedIds(img.all);
    if (!pids.has(nspid) && !tids.has(nspid)) {
      throw new RestoreError('UNSUPPORTED', `${why} is a pidfd of process ${nspid}, which is not in the dump: cryo restores pidfds of the dumped tree and of dead processes only`);
    }
  },
  restore({ ctx, entry, file, why }) {
    const flags = num(entry.flags);
    const nspid = num(entry.nspid);
    let fd: number;
    if (nspid === DEAD) {
      // One dead process per dumped inode, shared by every holder in the tree.
      const dead = ctx.tree.state('deadPidfds', () => new Map<number, number>());
      let held = dead.get(num(entry.ino));
      if (held === undefined) {
        held = deadPidfd(why);
        dead.set(num(entry.ino), held);
        const h = held;
        ctx.tree.later(() => closeSync(h));
      }
      fd = fromCryo(ctx, held, why);
    } else if (!dumpedIds(ctx.img.all).pids.has(nspid)) {
      // A thread: it does not exist yet. Its process's pidfd holds the numbers until then.
      ctx.tree.state('threadPidfds', () => [] as PendingThreadPidfd[]).push({ id: num(file.id), tid: nspid, flags });
      const leader = [...(ctx.img.all.get('pstree.img')?.entries ?? [])].find((e) => ((e.value.threads as (number | bigint)[] | undefined) ?? []).map(Number).includes(nspid));
      fd = Number(taskCall(ctx, why, 'pidfd_open', num(leader?.value.pid ?? ctx.pid), flags & O_NONBLOCK));
    } else {
      fd = Number(taskCall(ctx, why, 'pidfd_open', nspid, flags & PIDFD_OPEN_FLAGS));
    }
    setFileFlags(ctx, fd, flags);
    ctx.call('fcntl', fd, 2 /* F_SETFD */, FD_CLOEXEC);
    return fd;
  },
};

/**
 * Once every thread exists: each descriptor of a thread's pidfd, in every process, is replaced by
 * a pidfd of that thread (PIDFD_THREAD) with its close-on-exec flag.
 */
export function finishThreadPidfds(ctxs: readonly TaskCtx[]): void {
  const pending = ctxs[0]?.tree.state('threadPidfds', () => [] as PendingThreadPidfd[]) ?? [];
  for (const p of pending.splice(0)) {
    for (const ctx of ctxs) {
      for (const fdi of ctx.img.fdinfo.filter((f) => num(f.id) === p.id)) {
        const why = `fd ${num(fdi.fd)}`;
        const fd = Number(taskCall(ctx, why, 'pidfd_open', p.tid, p.flags & PIDFD_OPEN_FLAGS));
        setFileFlags(ctx, fd, p.flags);
        ctx.call('dup3', fd, num(fdi.fd), (num(fdi.flags) & FD_CLOEXEC) !== 0 ? O_CLOEXEC : 0);
        ctx.call('close', fd);
      }
    }
  }
}
