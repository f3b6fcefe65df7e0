/**
 * Every thread of the dumped process: seizing and interrupting them all (threads that appear
 * meanwhile are caught by listing /proc/PID/task again until the set is stable, as CRIU does),
 * and each thread's own state for its core-TID.img, read from outside (regsets, mask, private
 * queue, rseq, robust list, scheduler, credentials, seccomp) and by injection in that thread
 * (alternate stack, clear_child_tid, pdeath signal, securebits).
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { Arch, Regsets, RegsFix, ThreadInfo } from '../arch/types.js';
import { Injector, type Scratch, type UndoList } from '../inject/index.js';
import { parseStatus, procGone, procPath, readProcTextLater, readStat, readStatus, readTaskIds, type ProcStatus } from '../proc/index.js';
import { exited, kill, ptrace, ptraceEvent, stopSig, SysError, WaitError, waitForStop, PTRACE_O_SUSPEND_SECCOMP, PTRACE_O_TRACESYSGOOD } from '../sys/index.js';
import type { MessageValue } from '../images/index.js';
import { DumpError } from '../shared/dump-error.js';
import { readRobustListInside, type ThreadInjectedState } from './injected-state.js';
import { reenterFrozenWait } from './frozen-wait.js';
import { credsFromStatus, readQueuedSignals, readRegsets, readRobustList, readSched, readSeccompFilters, rseqEntry } from './task-state.js';

const SIG = constants.signals;
const SS_DISABLE = 2;
/** How often /proc/PID/task is listed again before cryo gives up on a process that keeps making threads. */
const MAX_SEIZE_ROUNDS = 100;
/** PF_IO_WORKER in a task's flags (proc(5) stat field 9): an io_uring worker thread, which never stops for ptrace. */
const PF_IO_WORKER = 0x10;

/**
 * Whether `tid` is an io_uring thread (a worker, iou-wrk-*, or a ring's SQPOLL thread, iou-sqp-*):
 * the kernel's, never stopping for ptrace, so cryo neither seizes nor dumps it, and the restored
 * ring's kernel makes its own (src/files/io-uring.ts).
 */
export function isIoThread(pid: number, tid: number): boolean {
  try {
    return (readStat(pid, tid).flags & PF_IO_WORKER) !== 0;
  } catch (e) {
    if (procGone(e)) return false; // ended meanwhile: it holds nothing up
    throw e;
  }
}

/** Whether SIGSTOP (the stop signal no mask holds back) waits in the thread's or its process's queue. */
function stopSignalPending(tid: number): boolean {
  const text = readFileSync(`/proc/${tid}/status`, 'utf8');
  const mask = 1n << BigInt(SIG.SIGSTOP - 1);
  return ['SigPnd', 'ShdPnd'].some((k) => (BigInt(`0x${new RegExp(`^${k}:\\s*([0-9a-f]+)`, 'm').exec(text)?.[1] ?? '0'}`) & mask) !== 0n);
}

/**
 * Waits for the PTRACE_INTERRUPT stop of `tid`; signals that arrive first are passed on to it.
 * Returns the signal of the group stop the task is in (a stopped job), or 0.
 */
export function waitInterruptStop(tid: number): number {
  let groupStop = 0;
  let mask: bigint | undefined;
  for (;;) {
    const st = waitForStop(tid, { timeoutMs: 10_000 }).status;
    const ev = ptraceEvent(st);
    const sig = stopSig(st);
    if (ev === 128) {
      // The interrupt trap. While a group stop is in effect the kernel names the stop signal
      // instead of SIGTRAP: the task is stopped (a stopped job) and is dumped so.
      if (sig !== SIG.SIGTRAP) groupStop = sig;
      // SIGSTOP sent again to a stopped job waits in its queue, where it changes nothing (SIGCONT
      // drops it), but it would stop the task in the middle of cryo's injected calls (which
      // block every other signal): let the task take it now, all else blocked meanwhile.
      if (groupStop !== 0 && stopSignalPending(tid)) {
        mask ??= ptrace.getSigmask(tid);
        ptrace.setSigmask(tid, ~0n);
        ptrace.cont(tid, 0);
        continue;
      }
      if (mask !== undefined) ptrace.setSigmask(tid, mask);
      return groupStop;
    }
    if (groupStop !== 0) {
      // The stop signal taken off the queue (see above): dropped, and back to a trap.
      ptrace.interrupt(tid);
      ptrace.cont(tid, 0);
      continue;
    }
    // A signal-delivery stop: deliver it as the task would have had it; the interrupt stays pending.
    ptrace.cont(tid, sig);
  }
}

/** A process being seized: its threads interrupted but not yet waited for (see startSeize). */
export interface Seizing {
  pid: number;
  /** Stopped, in the order seized (the main thread first). */
  order: number[];
  /** Seized and interrupted, their stops not yet waited for. */
  pending: number[];
  ioThreads: Set<number>;
}

/**
 * Seizes a thread so that cryo's injected calls are exempt from its seccomp filters or strict mode
 * (PTRACE_O_SUSPEND_SECCOMP, which needs CAP_SYS_ADMIN). Without that capability a thread under
 * seccomp is refused: its filters could fail cryo's calls, strict mode would kill it. Syscall stops
 * are marked (TRACESYSGOOD): a stop cryo dies at sends the task no SIGTRAP (Injector.survivable).
 */
function seizeExempt(pid: number, tid: number): void {
  try {
    ptrace.seize(tid, PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP);
    return;
  } catch (e) {
    if (!(e instanceof SysError && (e.code === 'EPERM' || e.code === 'EINVAL'))) throw e;
  }
  const mode = readStatus(pid, tid).seccomp;
  if (mode === 0) return ptrace.seize(tid, PTRACE_O_TRACESYSGOOD);
  const who = tid === pid ? `task ${pid}` : `thread ${tid} of task ${pid}`;
  throw new DumpError('UNSUPPORTED', `${who} runs under seccomp (${mode === 1 ? 'strict mode' : 'filters'}): cryo's calls in it need CAP_SYS_ADMIN (PTRACE_O_SUSPEND_SECCOMP), which it lacks: dump it as root`);
}

/**
 * Whether seizing thread `tid` failed because it ended since /proc/PID/task listed it: gone
 * (ESRCH, or its /proc files are), or exiting (ptrace refuses a thread whose exit has begun with
 * EPERM, and its /proc files stay until it is released: state Z or X).
 */
function endedMeanwhile(pid: number, tid: number, e: unknown): boolean {
  if ((e instanceof SysError && e.code === 'ESRCH') || procGone(e)) return true;
  if (!(e instanceof SysError && e.code === 'EPERM')) return false;
  try {
    return ['Z', 'X'].includes(readStat(pid, tid).state);
  } catch (e2) {
    if (procGone(e2)) return true;
    throw e2;
  }
}

/** Seizes and interrupts each of `tids` (io_uring threads are left alone). */
function seizeListed(s: Seizing, tids: readonly number[], seized: Set<number>): void {
  // Every thread's flags first: read between two seizes, they kept the seized threads frozen longer.
  for (const tid of tids) if (tid !== s.pid && isIoThread(s.pid, tid)) s.ioThreads.add(tid);
  for (const tid of tids) {
    if (s.ioThreads.has(tid)) continue;
    try {
      seizeExempt(s.pid, tid);
    } catch (e) {
      if (tid !== s.pid && endedMeanwhile(s.pid, tid, e)) continue; // it ended meanwhile: not part of the dump
      throw e;
    }
    seized.add(tid);
    try {
      ptrace.interrupt(tid);
    } catch (e) {
      // Gone between the two: a thread that ends stays its tracer's zombie (the interrupt succeeds
      // and the wait sees the exit), so only a thread the kernel released (another thread's
      // execve) says ESRCH: no longer cryo's, and not part of the dump.
      if (tid !== s.pid && e instanceof SysError && e.code === 'ESRCH') {
        seized.delete(tid);
        continue;
      }
      throw e;
    }
    s.pending.push(tid);
  }
}

/**
 * Seizes and interrupts every thread of `pid` listed now (the main thread first) without waiting
 * for their stops: the threads, and the processes of a tree, stop at the same time instead of one
 * after another. `seized` learns each thread the moment it is seized, so a failure later detaches
 * it. finishSeize waits.
 */
export function startSeize(pid: number, seized: Set<number>): Seizing {
  const s: Seizing = { pid, order: [], pending: [], ioThreads: new Set() };
  seizeListed(s, [pid, ...readTaskIds(pid).filter((t) => t !== pid)], seized);
  return s;
}

/**
 * Waits for the stops startSeize asked for, then seizes the threads made meanwhile (listing
 * /proc/PID/task again until the set is stable, as CRIU does). A thread that ends before it is
 * seized is simply not part of the dump. A process found in a group stop lands in `stopped` with
 * its stop signal (it must be stopped again when let go). Returns the TIDs, main thread first.
 */
export function finishSeize(s: Seizing, seized: Set<number>, stopped: Map<number, number>): number[] {
  let listed: number[];
  for (let round = 1; ; round++) {
    for (const tid of s.pending.splice(0)) {
      let stop: number;
      try {
        stop = waitInterruptStop(tid);
      } catch (e) {
        // Seized as its exit began: it ends instead of stopping (the tracer reaps it), and is not part of the dump.
        if (tid !== s.pid && e instanceof WaitError && e.status !== undefined && exited(e.status)) {
          seized.delete(tid);
          continue;
        }
        throw e;
      }
      if (stop !== 0) stopped.set(s.pid, stop);
      s.order.push(tid);
    }
    listed = readTaskIds(s.pid);
    const fresh = listed.filter((t) => !seized.has(t) && !s.ioThreads.has(t));
    if (fresh.length === 0) break;
    if (round >= MAX_SEIZE_ROUNDS) throw new DumpError('UNSUPPORTED', `process ${s.pid} keeps creating threads: cryo could not stop them all`);
    seizeListed(s, fresh, seized);
  }
  // Threads that ended after they were seized are gone from the list (and cannot be dumped): the
  // last listing, made once every thread had stopped (a stopped thread ends only by SIGKILL, which
  // no second listing would catch either).
  const alive = new Set(listed);
  return s.order.filter((t) => alive.has(t));
}

/** What one thread's core-TID.img needs. */
export interface ThreadState {
  tid: number;
  threadInfo: ThreadInfo;
  /** thread_core, without the process-wide parts the main thread's core adds. */
  threadCore: MessageValue;
  sigmask: bigint;
  status: ProcStatus;
  /** The thread's seccomp filters, oldest first. */
  filters: Buffer[];
}

/** What is read of a thread from outside; before anything is injected (injection changes its registers and mask). */
export interface ThreadOutside {
  tid: number;
  status: ProcStatus;
  regsets: Regsets;
  sigmask: bigint;
  signalsP: MessageValue;
  rseq: MessageValue | undefined;
  filters: Buffer[];
  robust: { head: bigint; len: number };
  sched: ReturnType<typeof readSched>;
  comm: string;
  /** Its registers as thread_info (clear_tid_addr 0 until injection reads it), with the syscall restart applied as for the image. */
  fixed: RegsFix;
  /**
   * Its registers as the call ending's frame gives them back (a cryo killed inside a call in it):
   * an interrupted call run again (RestartRule.onRunOn), where the image's end it with EINTR.
   */
  runOn: ThreadInfo;
}

/** What is read of a thread by ptrace and syscalls on its TID: nothing of it needs its /proc status. */
export interface ThreadRegs {
  tid: number;
  read: Regsets;
  extras: ReturnType<Arch['readThreadExtras']>;
  sigmask: bigint;
  rseq: MessageValue | undefined;
  robust: { head: bigint; len: number };
  sched: ReturnType<typeof readSched>;
}

export function readThreadRegs(pid: number, tid: number, arch: Arch): ThreadRegs {
  const read = readRegsets(tid, arch);
  const unsavable = arch.unsavableState(read);
  if (unsavable.length > 0) throw new DumpError('UNSUPPORTED', `thread ${tid} of task ${pid}: ${unsavable[0]!.message}`);
  return { tid, read, extras: arch.readThreadExtras(tid), sigmask: ptrace.getSigmask(tid), rseq: rseqEntry(tid), robust: readRobustList(tid), sched: readSched(tid) };
}

/** `status`: the thread's /proc status where the caller has it (the main thread's is the process's). */
export function readThreadOutside(pid: number, tid: number, arch: Arch, status: ProcStatus = readStatus(pid, tid), r: ThreadRegs = readThreadRegs(pid, tid, arch)): ThreadOutside {
  // Decoded once (an xsave area is thousands of words): for the call ending's frame and the image.
  const pending = ((status.sigPnd | status.shdPnd) & ~status.sigBlk) !== 0n;
  const { regsets, ti } = reenterFrozenWait(tid, arch, r.read, arch.threadInfoFromRegsets(r.read, r.extras), pending);
  const fixed = arch.fixSyscallRestart(ti);
  return {
    tid, status, regsets,
    sigmask: r.sigmask,
    signalsP: readQueuedSignals(tid, false, status.sigPnd),
    rseq: r.rseq,
    filters: status.seccomp === 2 ? readSeccompFilters(tid, Math.max(status.seccompFilters, 1) + 64) : [],
    robust: r.robust,
    sched: r.sched,
    // status's Name is comm with only '\n' and '\\' escaped (proc_task_name), which parseStatus undoes: one read less a thread.
    comm: status.name,
    fixed,
    runOn: fixed.action === 'eintr' ? arch.fixSyscallRestart(ti, 'onRunOn').threadInfo : fixed.threadInfo,
  };
}

/** A thread's status file is small (~1.5 KiB): one page a request. */
const STATUS_CHUNK = 4096;

/**
 * readThreadOutside of every thread of a frozen process (`status`: its main thread's). The other
 * threads' status files are read on libuv's thread pool meanwhile, while their registers are read
 * here (ptrace answers the tracing thread only): of a 100 threads' freeze, their reads were ~40%
 * of this step.
 */
export async function readThreadsOutside(pid: number, tids: readonly number[], arch: Arch, status: ProcStatus): Promise<ThreadOutside[]> {
  if (tids.length === 1) return [readThreadOutside(pid, tids[0]!, arch, status)];
  const texts = tids.slice(1).map((tid) => {
    const p = readProcTextLater(procPath(pid, 'status', tid), STATUS_CHUNK);
    p.catch(() => {}); // awaited below; a failure before that must not leave it unhandled
    return p;
  });
  const regs = tids.map((tid) => readThreadRegs(pid, tid, arch));
  const theirs = await Promise.all(texts);
  return tids.map((tid, i) => readThreadOutside(pid, tid, arch, i === 0 ? status : parseStatus(theirs[i - 1]!), regs[i]));
}

/**
 * Completes thread `o.tid`'s state with what injection in it (`inj`; `scratch` is the process's
 * scratch page) read (`injected`).
 */
export function readThread(o: ThreadOutside, arch: Arch, inj: Injector, scratch: Scratch, injected: ThreadInjectedState): ThreadState {
  const { tid, status, sigmask, signalsP, rseq, filters, sched } = o;
  const robust = arch.robustList === 'task' ? readRobustListInside(inj, scratch, arch) : o.robust;
  const threadInfo = { ...o.fixed.threadInfo, clear_tid_addr: injected.clearTidAddr };

  const tc: MessageValue = { futex_rla: robust.head, futex_rla_len: robust.len, sched_nice: sched.nice, sched_policy: sched.policy };
  if (sched.prio !== undefined) tc.sched_prio = sched.prio;
  tc.sas = injected.sas.ss_sp === 0n && injected.sas.ss_size === 0n ? { ss_sp: 0n, ss_size: 0n, ss_flags: SS_DISABLE } : injected.sas;
  if (injected.pdeathSig) tc.pdeath_sig = injected.pdeathSig;
  tc.signals_p = signalsP;
  tc.creds = credsFromStatus(status, injected.secbits);
  if (status.seccomp !== 0) tc.seccomp_mode = status.seccomp === 1 ? 'strict' : 'filter';
  tc.comm = o.comm;
  if (rseq) tc.rseq_entry = rseq;
  return { tid, threadInfo, threadCore: tc, sigmask, status, filters };
}

/** Attaches an injector to each thread but the first (the main thread has its own, at `site`). */
export function threadInjectors(threads: readonly ThreadOutside[], arch: Arch, undo: UndoList, site: bigint, trapIgnored: boolean): Map<number, Injector> {
  // The main thread's syscall instruction serves them all (one address space: no search of its code
  // per thread); their registers and masks as read from outside (nothing ran in them since).
  return new Map(threads.map((o) => [o.tid, Injector.attach(o.tid, arch, undo, { site, survivable: true, trapIgnored, known: o })]));
}

/**
 * seccomp.img: every thread's filter chain, shared where threads have the same filters (each
 * filter with the same predecessor is stored once). Sets each thread core's seccomp_filter.
 */
export function seccompTable(threads: readonly ThreadState[]): MessageValue[] {
  const table: { filter: Buffer; prev: number | undefined }[] = [];
  for (const t of threads) {
    let prev: number | undefined;
    for (const f of t.filters) {
      let i = table.findIndex((e) => e.prev === prev && e.filter.equals(f));
      if (i < 0) {
        table.push({ filter: f, prev });
        i = table.length - 1;
      }
      prev = i;
    }
    if (prev !== undefined) t.threadCore.seccomp_filter = prev;
  }
  return table.map((e): MessageValue => (e.prev === undefined ? { filter: e.filter, flags: 0 } : { filter: e.filter, prev: e.prev, flags: 0 }));
}

/**
 * Lets every thread go; a process that was stopped gets its stop signal first, so it stops again.
 * A thread seized and interrupted whose stop has not come yet (a dump that failed while seizing)
 * cannot be detached (ESRCH): its stop is waited for first, or it would stop later, traced by a
 * cryo that lives on (a library caller, the service).
 */
export function detachAll(tids: Iterable<number>, stopped: ReadonlyMap<number, number>): void {
  for (const [pid, sig] of stopped) {
    try { kill(pid, sig); } catch { /* gone */ }
  }
  for (const tid of tids) {
    try {
      ptrace.detach(tid);
      continue;
    } catch (e) {
      if (!(e instanceof SysError && e.code === 'ESRCH')) continue;
    }
    try {
      waitInterruptStop(tid);
      ptrace.detach(tid);
    } catch { /* gone */ }
  }
}
