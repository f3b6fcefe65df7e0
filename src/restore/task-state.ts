// Per-process and per-thread state that is not memory or files: session,
// limits, name, scheduling, timers, signal handlers, rseq, robust futexes,
// clear_child_tid (credentials and dumpable: task-creds.ts). Pending signals and
// seccomp come last (see queueSignals / installSeccomp) so nothing injected after
// them can be disturbed.

import type { MessageValue } from '../images/value.js';
import { rawSyscall, SysError, writeU64 } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { Arch } from '../arch/types.js';
import { restoreOverrun } from './timer-overrun.js';
import { batchFor, THREAD_WAVE } from './scratch.js';
import type { SyscallBatch } from '../inject/index.js';
import { readU64, readI32, writeU32, writeI32, writeU16 } from '../sys/native-endian.js';
import { SIGKILL, SIGMAX, SIGSTOP, SIGTRAP } from '../sys/signals.js';

const PR_SET_NAME = 15;
const PR_SET_CHILD_SUBREAPER = 36;
const PR_SET_PDEATHSIG = 1;
const PRIO_PROCESS = 0;
const ITIMERS = ['real', 'virt', 'prof'] as const;
const SECCOMP_SET_MODE_STRICT = 0;
const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_TSYNC = 1;

const big = (v: unknown): bigint => BigInt((v ?? 0) as bigint | number);
const num = (v: unknown): number => Number(v ?? 0);

/** The task core (only the main thread's core has one). */
function tc(ctx: TaskCtx): MessageValue {
  return (ctx.img.core.tc as MessageValue | undefined) ?? {};
}
function thread(ctx: TaskCtx): MessageValue {
  return (ctx.img.core.thread_core as MessageValue | undefined) ?? {};
}

/** A new session and process group as the task had them (a session leader in the fixtures). */
function restoreSession(ctx: TaskCtx, shellJob: boolean): void {
  const pstree = ctx.img.pstree;
  const pid = ctx.pid;
  if (num(pstree.sid) === pid) {
    ctx.call('setsid');
  } else if (!shellJob) {
    // Like CRIU: only --shell-job lets the task join cryo's session.
    throw new RestoreError('UNSUPPORTED', `process ${pid} was in session ${pstree.sid} it does not lead: restore it with --shell-job`);
  }
  if (num(pstree.pgid) === pid && num(pstree.sid) !== pid) ctx.call('setpgid', 0, 0);
}

/** rlimits from outside (prlimit64 on the PID); a hard limit above cryo's own needs CAP_SYS_RESOURCE. */
function restoreRlimits(ctx: TaskCtx): void {
  const limits = ((tc(ctx).rlimits as MessageValue | undefined)?.rlimits as MessageValue[] | undefined) ?? [];
  limits.forEach((l, res) => {
    const want = Buffer.alloc(16);
    writeU64(want, big(l.cur), 0);
    writeU64(want, big(l.max), 8);
    try {
      rawSyscall('prlimit64', ctx.pid, res, want, 0);
    } catch (e) {
      if (!(e instanceof SysError) || e.code !== 'EPERM') throw e;
      const old = Buffer.alloc(16);
      rawSyscall('prlimit64', ctx.pid, res, 0, old);
      const max = readU64(old, 8);
      const cur = big(l.cur) < max ? big(l.cur) : max;
      writeU64(want, cur, 0);
      writeU64(want, max, 8);
      rawSyscall('prlimit64', ctx.pid, res, want, 0);
      ctx.warn(`resource limit ${res} keeps hard limit ${max} instead of ${l.max} (raising it needs CAP_SYS_RESOURCE)`);
    }
  });
}

/** The thread's scheduling policy, priority and nice value, from outside (on its TID). */
function restoreSched(ctx: TaskCtx): void {
  const th = thread(ctx);
  const policy = num(th.sched_policy);
  if (policy !== 0 || th.sched_prio !== undefined && num(th.sched_prio) !== 0) {
    const param = Buffer.alloc(4);
    writeI32(param, num(th.sched_prio), 0);
    rawSyscall('sched_setscheduler', ctx.tid, policy, param);
  }
  const nice = num(th.sched_nice);
  if (nice !== 0) rawSyscall('setpriority', PRIO_PROCESS, ctx.tid, nice);
}

/**
 * The rt_sigaction calls that give a task its signal actions (core's tc.sigactions), each struct
 * sigaction laid out for the task's own ABI (the kernel marks a handler for the frames of the ABI
 * that set it); SIG_DFL ones are left out (already so). Throws, naming the image, on actions no
 * task of that ABI can have: preflight calls it before anything starts.
 */
export function sigactionCalls(core: MessageValue, task: Arch, pid: number): { sig: number; act: Buffer }[] {
  const acts = (((core.tc as MessageValue | undefined) ?? {}).sigactions as MessageValue[] | undefined) ?? [];
  if (acts.length === 0) return [];
  if (acts.length !== SIGMAX - 2) throw new RestoreError('IMAGE_INCONSISTENT', `core-${pid}.img has ${acts.length} signal actions, want ${SIGMAX - 2}`);
  const L = task.sigaction;
  const compat = L.word === 4;
  const put = (b: Buffer, off: number, v: bigint, what: string) => {
    if (L.word === 8) writeU64(b, v, off);
    else if (v >> 32n !== 0n) throw new RestoreError('IMAGE_INCONSISTENT', `core-${pid}.img: the ${what} 0x${v.toString(16)} of a 32-bit handler does not fit 32 bits`);
    else writeU32(b, Number(v), off);
  };
  const out: { sig: number; act: Buffer }[] = [];
  let i = 0;
  for (let sig = 1; sig <= SIGMAX; sig++) {
    if (sig === SIGKILL || sig === SIGSTOP) continue;
    const a = acts[i++]!;
    if ((a.compat_sigaction === true) !== compat) {
      throw new RestoreError('IMAGE_INCONSISTENT', `core-${pid}.img: signal ${sig} has a ${a.compat_sigaction === true ? '32-bit' : '64-bit'} handler in a ${task.abi} process`);
    }
    if (big(a.sigaction) === 0n && big(a.flags) === 0n && big(a.mask) === 0n) continue;
    const act = Buffer.alloc(L.size);
    put(act, L.handler, big(a.sigaction), 'handler');
    put(act, L.flags, big(a.flags), 'flags');
    put(act, L.restorer, big(a.restorer), 'restorer');
    writeU64(act, big(a.mask), L.mask);
    out.push({ sig, act });
  }
  return out;
}

/**
 * The signal actions but SIGTRAP's, queued in `batch` (one at a time through an ABI other than
 * cryo's own). SIGTRAP's comes last (restoreTrapAction): the breakpoint ending each later batch
 * would reset it to SIG_DFL where it is SIG_IGN.
 */
function restoreSigactions(ctx: TaskCtx, batch: SyscallBatch): void {
  const calls = sigactionCalls(ctx.img.core, ctx.arch, ctx.pid).filter((c) => c.sig !== SIGTRAP);
  if (ctx.arch.taskSyscall !== ctx.arch.syscall) return calls.forEach(({ sig, act }) => ctx.inj.callTask('rt_sigaction', sig, ctx.put(act, 256), 0, 8));
  // Each action in a slot of its own past the scratch's first half (other calls' place).
  calls.forEach(({ sig, act }, i) => batch.add('rt_sigaction', sig, ctx.put(act, 8192 + i * act.length), 0, 8));
}

/** SIGTRAP's action, by a call of its own once no batch of cryo's runs in the task any more. */
export function restoreTrapAction(ctx: TaskCtx): void {
  for (const { sig, act } of sigactionCalls(ctx.img.core, ctx.arch, ctx.pid).filter((c) => c.sig === SIGTRAP)) {
    ctx.inj.trapActionChanging();
    ctx.inj.callTask('rt_sigaction', sig, ctx.put(act, 256), 0, 8);
  }
}

/** The interval timers, queued in `batch` (each itimerval in a slot of its own). */
function restoreItimers(ctx: TaskCtx, batch: SyscallBatch): void {
  const timers = tc(ctx).timers as MessageValue | undefined;
  if (!timers) return;
  ITIMERS.forEach((name, which) => {
    const t = timers[name] as MessageValue | undefined;
    if (!t || (big(t.isec) | big(t.iusec) | big(t.vsec) | big(t.vusec)) === 0n) return;
    // struct itimerval { timeval it_interval; timeval it_value; }
    const b = Buffer.alloc(32);
    // A periodic timer read just as it expired says 0 left: 0 would disarm it, 1 us fires it now as it was about to.
    const value = (big(t.vsec) | big(t.vusec)) === 0n ? [0n, 1n] : [t.vsec, t.vusec];
    [t.isec, t.iusec, ...value].forEach((v, k) => writeU64(b, big(v), k * 8));
    batch.add('setitimer', which, ctx.put(b, ITIMER_SLOTS + which * 32), 0);
  });
}

/** Scratch offsets of the queued calls' arguments: the name at 256, the itimervals here. */
const ITIMER_SLOTS = 512;

const PR_TIMER_CREATE_RESTORE_IDS = 77;
const EINVAL = 22n;

/**
 * POSIX timers with their ids, clock, notification, signal, value, interval and remaining time.
 * PR_TIMER_CREATE_RESTORE_IDS (Linux 6.16+) lets timer_create take the id; older kernels hand out
 * ids 0, 1, 2... in order, so timers are created until the wanted id comes and the others deleted.
 * The overrun count last: timer-overrun.ts replays it. Called once the task's threads exist: a
 * timer may signal one of them (SIGEV_THREAD_ID; glibc's SIGEV_THREAD timers do), and
 * timer_create refuses a thread id outside the caller's thread group (EINVAL).
 */
export function restorePosixTimers(ctx: TaskCtx): void {
  const posix = [...(((tc(ctx).timers as MessageValue | undefined)?.posix as MessageValue[] | undefined) ?? [])]
    .sort((a, b) => num(a.it_id) - num(b.it_id));
  if (posix.length === 0) return;
  const r = ctx.raw('prctl', PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0);
  if (r < 0n && r !== -EINVAL) throw new RestoreError('FAILED', `prctl(PR_TIMER_CREATE_RESTORE_IDS) failed: errno ${-r}`);
  const withIds = r === 0n;
  let next = 0;
  for (const t of posix) {
    const want = num(t.it_id);
    // struct sigevent: sigev_value (8), sigev_signo (4), sigev_notify (4), _tid (4), padding to 64.
    const sev = Buffer.alloc(64);
    writeU64(sev, big(t.sival_ptr), 0);
    writeI32(sev, num(t.si_signo), 8);
    writeI32(sev, num(t.it_sigev_notify), 12);
    writeI32(sev, num(t.notify_thread_id), 16);
    const sevAt = ctx.put(sev, 256);
    const idAt = 256n + 64n;
    for (;;) {
      const idBuf = Buffer.alloc(4);
      writeI32(idBuf, want, 0);
      const at = ctx.put(idBuf, Number(idAt));
      ctx.call('timer_create', num(t.clock_id), sevAt, at);
      const got = readI32(ctx.get(Number(idAt), 4), 0);
      if (got === want) break;
      if (withIds || got !== next || got > want) {
        throw new RestoreError('FAILED', `timer_create gave POSIX timer id ${got}, the task had ${want}`);
      }
      next++;
      ctx.call('timer_delete', got);
    }
    next = want + 1;
    // struct itimerspec { interval {sec, nsec}, value {sec, nsec} }
    const spec = Buffer.alloc(32);
    [t.isec, t.insec, t.vsec, t.vnsec].forEach((v, k) => writeU64(spec, big(v), k * 8));
    if ((big(t.vsec) | big(t.vnsec)) !== 0n) ctx.call('timer_settime', want, 0, ctx.put(spec, 384), 0);
    restoreOverrun(ctx, t);
  }
  if (withIds) ctx.call('prctl', PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0);
}

/**
 * The thread's name, robust list, pdeath signal, clear_child_tid and rseq (the process's personality
 * and subreaper bit), queued in `batch`; the name goes at scratch offset `nameAt`.
 */
function restoreThreadBits(ctx: TaskCtx, batch: SyscallBatch, nameAt = 256): void {
  const th = thread(ctx);
  const comm = String(th.comm ?? tc(ctx).comm ?? '');
  if (comm) batch.add('prctl', PR_SET_NAME, ctx.put(Buffer.from(`${comm.slice(0, 15)}\0`), nameAt), 0, 0, 0);
  const personality = num(tc(ctx).personality);
  if (ctx.isMain && personality !== 0) batch.add('personality', personality);
  if (big(th.futex_rla) !== 0n) {
    // Through the task's own ABI: an ia32 thread's list is the compat one.
    if (ctx.arch.taskSyscall === ctx.arch.syscall) batch.add('set_robust_list', big(th.futex_rla), num(th.futex_rla_len));
    else {
      batch.flush();
      ctx.inj.callTask('set_robust_list', big(th.futex_rla), num(th.futex_rla_len));
    }
  }
  if (th.pdeath_sig !== undefined && num(th.pdeath_sig) !== 0) batch.add('prctl', PR_SET_PDEATHSIG, num(th.pdeath_sig), 0, 0, 0);
  if (ctx.isMain && tc(ctx).child_subreaper === true) batch.add('prctl', PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  const ti = ctx.img.core[ctx.arch.threadInfoField] as MessageValue;
  const ctid = big(ti.clear_tid_addr);
  if (ctid !== 0n) batch.add('set_tid_address', ctid);
  const rseq = th.rseq_entry as MessageValue | undefined;
  if (rseq && big(rseq.rseq_abi_pointer) !== 0n) batch.add('rseq', big(rseq.rseq_abi_pointer), num(rseq.rseq_abi_size), 0, num(rseq.signature));
}

/**
 * Queues the dumped pending signals of the thread (and, in the main thread, the process's); they
 * stay blocked until rt_sigreturn puts the thread's own mask back.
 */
export function queueSignals(ctx: TaskCtx): void {
  const queues: [MessageValue | undefined, boolean][] = [
    [ctx.isMain ? tc(ctx).signals_s as MessageValue | undefined : undefined, true],
    [thread(ctx).signals_p as MessageValue | undefined, false],
  ];
  for (const [q, shared] of queues) {
    for (const s of (q?.signals as MessageValue[] | undefined) ?? []) {
      const info = s.siginfo as Buffer;
      const signo = readI32(info, 0);
      const at = ctx.put(info, 1024);
      if (shared) ctx.call('rt_sigqueueinfo', ctx.pid, signo, at);
      else ctx.call('rt_tgsigqueueinfo', ctx.pid, ctx.tid, signo, at);
    }
  }
}

/** One thread's seccomp filter chain, oldest first (each entry's `prev` is the one installed before it), by index in seccomp.img. */
function filterChain(ctx: TaskCtx): { idx: number; f: MessageValue }[] {
  const th = thread(ctx);
  if (th.seccomp_mode !== 'filter') return [];
  const filters = (ctx.img.seccomp?.seccomp_filters as MessageValue[] | undefined) ?? [];
  const chain: { idx: number; f: MessageValue }[] = [];
  for (let idx: number | undefined = num(th.seccomp_filter); idx !== undefined; ) {
    const f: MessageValue | undefined = filters[idx];
    if (!f || chain.length > filters.length) throw new RestoreError('IMAGE_INCONSISTENT', `seccomp.img has no filter ${idx} (or its chain loops)`);
    chain.unshift({ idx, f });
    idx = f.prev === undefined ? undefined : num(f.prev);
  }
  return chain;
}

/**
 * The seccomp filters of a process's threads (main thread first). Filters all of them have (the
 * start of every chain, as a filter installed before the threads or with SECCOMP_FILTER_FLAG_TSYNC
 * leaves them) are installed once, by the main thread with TSYNC, so the threads share them again:
 * a later TSYNC of the task's own needs that. The rest each thread installs for itself.
 */
export function installSeccomp(threads: readonly TaskCtx[]): void {
  const chains = threads.map(filterChain);
  const [first, ...others] = chains;
  let shared = 0;
  if (others.length > 0 && threads.every((t) => thread(t).seccomp_mode === 'filter')) {
    while (shared < first!.length && others.every((c) => c[shared]?.idx === first![shared]!.idx)) shared++;
  }
  first!.slice(0, shared).forEach(({ f }) => installFilter(threads[0]!, f, SECCOMP_FILTER_FLAG_TSYNC));
  threads.forEach((t, i) => chains[i]!.slice(shared).forEach(({ f }) => installFilter(t, f, 0)));
  // Strict mode (read, write, exit and rt_sigreturn only) last: cryo's calls are exempt from it.
  for (const t of threads) if (thread(t).seccomp_mode === 'strict') t.call('seccomp', SECCOMP_SET_MODE_STRICT, 0, 0);
}

function installFilter(ctx: TaskCtx, f: MessageValue, flags: number): void {
  // Installing a filter needs no_new_privs or CAP_SYS_ADMIN: cryo runs as root, so the task's
  // no_new_privs stays as it was (CRIU's images do not record it).
  const prog = f.filter as Buffer;
  const progAt = ctx.put(prog, 1024);
  const fprog = Buffer.alloc(16); // struct sock_fprog { u16 len; (pad) ; sock_filter *filter; }
  writeU16(fprog, prog.length / 8, 0);
  writeU64(fprog, progAt, 8);
  const other = ctx.call('seccomp', SECCOMP_SET_MODE_FILTER, num(f.flags) | flags, ctx.put(fprog, 512));
  // TSYNC names a thread it could not give the filter to (none can have another yet).
  if (other !== 0n) throw new RestoreError('IMAGE_INCONSISTENT', `thread ${other} of process ${ctx.pid} did not take the seccomp filters its threads share`);
}

/** Scratch offsets of the names of a wave of threads (16 bytes each), whose batches run side by side. */
const THREAD_NAMES = 4096;

/**
 * What each further thread has for itself: scheduling, name, robust list, clear_child_tid, rseq,
 * pdeath signal. The batches of a wave of threads (each on its slice of the table, shareBatchArea)
 * all start, then each is waited for: not one round trip per thread.
 */
export function restoreThreadStates(threads: readonly TaskCtx[]): void {
  for (let i = 0; i < threads.length; i += THREAD_WAVE) {
    const finishes = threads.slice(i, i + THREAD_WAVE).map((t, k) => {
      restoreSched(t);
      const batch = batchFor(t);
      restoreThreadBits(t, batch, THREAD_NAMES + k * 16);
      return batch.start();
    });
    for (const finish of finishes) finish();
  }
}

/**
 * `opts.sessionDone`: the tree build made the session and group already (src/restore/tree.ts).
 * Returns with the last batch running in the task (other processes' may start meanwhile): the
 * function returned waits for it (so does the next call into the task).
 */
export function startTaskState(ctx: TaskCtx, opts: { shellJob: boolean; sessionDone?: boolean }): () => void {
  if (!opts.sessionDone) restoreSession(ctx, opts.shellJob);
  restoreRlimits(ctx);
  restoreSched(ctx);
  // One stop for the rest (calls run one by one where the arch has no batch runner).
  const batch = batchFor(ctx);
  restoreSigactions(ctx, batch);
  restoreItimers(ctx, batch);
  restoreThreadBits(ctx, batch);
  const finish = batch.start();
  return () => void finish();
}
