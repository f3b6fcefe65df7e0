// The last step: the task's registers come back the way the kernel restores
// them after a signal handler (DESIGN rule 3). An rt_sigframe built from the
// core image is written into an area of cryo's, rt_sigreturn is injected with
// SP at it, and the registers after it are checked against the image before
// the task is let go. Every thread does so with its own frame (its own mask
// and alternate stack); all are let go together at the end. Not below the
// thread's stack pointer: a runtime with small stacks side by side (Go's
// goroutines) keeps another stack there, which a real signal never touches
// (those run on the alternate stack).

import type { MessageValue } from '../images/value.js';
import { kill, ptrace, processVmWritev, waitForStop, stopSig } from '../sys/index.js';
import { SIGSTOP, SIGTRAP } from '../sys/signals.js';
import { RestoreError } from '../shared/restore-error.js';
import { faultPoint } from '../fault.js';
import { getAbiRegs, setAbiRegs, setSideRegsets } from '../inject/index.js';
import { ownAreas, releaseScratch, tableRoom } from './scratch.js';
import { restoreTrapAction } from './task-state.js';
import { dropCryoPages, syscallPageOf } from './stub-vdso.js';
import { mapOwnArea } from './dumped-layout.js';
import type { AltStack, ThreadInfo } from '../arch/types.js';
import type { Range } from '../shared/ranges.js';
import { threadInfoOf } from './preflight-arch.js';
import { frameLengthOf, regsetsOf } from './thread-frames.js';
import type { TaskCtx } from '../shared/task-ctx.js';

const TASK_STOPPED = 3;

const big = (v: unknown): bigint => BigInt((v ?? 0) as bigint | number);
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Waits for the syscall stop (entry or exit) a PTRACE_SYSCALL resumed thread `pid` to. */
function syscallStopped(pid: number, what: string): void {
  const st = waitForStop(pid, { timeoutMs: 10_000 }).status;
  if ((stopSig(st) & 0x7f) !== SIGTRAP) throw new RestoreError('FAILED', `task ${pid} stopped with signal ${stopSig(st)} at ${what} of rt_sigreturn`);
}

/**
 * Resumes the tasks, in the order given (children first: the root runs on last, when its whole
 * tree is back): each one's main thread `ctx` and its other `threads` (each stopped, its state
 * restored) return through rt_sigreturn into their dumped registers, then each task is detached.
 */
export function resumeTasks(tasks: readonly { ctx: TaskCtx; threads: readonly TaskCtx[] }[]): void {
  const ready = tasks.map(({ ctx, threads }) => {
    restoreTrapAction(ctx);
    const all = [ctx, ...threads];
    const frames = writeFrames(ctx, all);
    return { ctx, threads, all, frames, scratch: releaseScratch(ctx) };
  });
  // Every thread's rt_sigreturn at once (each on its own frame, in its own task): one wait after
  // another finds most already at their stop, instead of one round trip per thread and stop.
  const all = ready.flatMap((r) => r.all);
  for (const r of ready) r.all.forEach((t, i) => enterSigreturn(t, r.frames.sps[i]!));
  for (const t of all) {
    syscallStopped(t.tid, 'the entry');
    ptrace.syscallStep(t.tid);
  }
  for (const t of all) {
    syscallStopped(t.tid, 'the exit');
    checkLanded(t);
  }
  dropCryoPages(ready.map(({ ctx, frames, scratch }) => ({ ctx, areas: [...frames.area, ...scratch] })));
  for (const { ctx, threads } of ready) {
    // A stopped job: its stop signal waits for it, so it stops again before running a single
    // instruction (and its parent hears of the stop, as CRIU restores it).
    const tc = ctx.img.core.tc as MessageValue | undefined;
    if (Number(tc?.task_state ?? 1) === TASK_STOPPED) kill(ctx.pid, Number(tc?.stop_signo ?? 0) || SIGSTOP);
    // A point to fail or kill cryo at with some of the tree running already (the guard's to kill).
    faultPoint(`let go of task ${ctx.pid}`);
    for (const t of [...threads, ctx]) ptrace.detach(t.tid, 0);
  }
}

/**
 * Each thread's signal frame, built from its image, written into the batch runner's table where
 * they fit (no batch runs any more), else into a new area of cryo's (returned, to unmap); the SPs
 * for rt_sigreturn.
 */
function writeFrames(ctx: TaskCtx, all: readonly TaskCtx[]): { area: Range[]; sps: bigint[] } {
  const { arch, pid } = ctx;
  const align = BigInt(arch.sigframeAlign);
  const page = BigInt(arch.pageSize);
  const states = all.map(frameState);
  // Lengths do not depend on where a frame goes (each starts aligned); contents do.
  const offsets: bigint[] = [];
  let size = 0n;
  const lengths = states.map((st) => frameLengthOf(arch, st.ti));
  for (const len of lengths) {
    offsets.push(size);
    size += alignUp(BigInt(len), align);
  }
  size = alignUp(size, page);
  const room = tableRoom(ctx);
  const fits = room !== undefined && room.start % align === 0n && room.end - room.start >= size;
  const addr = fits ? room.start : mapOwnArea(ctx, Number(size), [...ownAreas(ctx), ...syscallPageOf(ctx)]);
  // Every frame in its place in one buffer: one write for all the threads.
  const area = Buffer.alloc(Number(size));
  const sps = states.map((st, i) => {
    const frame = arch.buildSigframe(st.ti, { ...st.opts, addressOfFrame: addr + offsets[i]! });
    const at = frame.frameAddress - addr;
    if (at < offsets[i]! || frame.frame.length !== lengths[i] || at + BigInt(frame.frame.length) > size) {
      throw new RestoreError('FAILED', `internal: the signal frame of thread ${all[i]!.tid} at ${hex(frame.frameAddress)} (${frame.frame.length} bytes) does not fit its place in cryo's area at ${hex(addr)}`);
    }
    frame.frame.copy(area, Number(at));
    return frame.sp;
  });
  if (processVmWritev(pid, addr, area) !== area.length) {
    throw new RestoreError('FAILED', `cannot write the signal frames of task ${pid} at ${hex(addr)}`);
  }
  return { area: fits ? [] : [{ start: addr, end: addr + size }], sps };
}

/** A thread's registers, mask and alternate stack from its image. */
function frameState(ctx: TaskCtx): { ti: ThreadInfo; opts: { sigmask: bigint; altstack: AltStack | undefined } } {
  const { arch, img } = ctx;
  const th = (img.core.thread_core as MessageValue | undefined) ?? {};
  // CRIU keeps the main thread's mask in the task core, every other thread's in its thread core.
  const tc = (img.core.tc ?? img.threads[0]?.core.tc) as MessageValue | undefined;
  const sas = th.sas as MessageValue | undefined;
  const altstack = sas ? { sp: big(sas.ss_sp), flags: Number(sas.ss_flags), size: big(sas.ss_size) } : undefined;
  return { ti: threadInfoOf(img, arch), opts: { sigmask: big(th.blk_sigset ?? tc?.blk_sigset), altstack } };
}

const alignUp = (v: bigint, a: bigint): bigint => (v + a - 1n) & ~(a - 1n);

/** Starts rt_sigreturn in the thread with SP at its frame, to its syscall-entry stop (PTRACE_SYSCALL). */
function enterSigreturn(ctx: TaskCtx, frameSp: bigint): void {
  const { arch, img } = ctx;
  const pid = ctx.tid;
  const ti = threadInfoOf(img, arch);

  // Registers rt_sigreturn does not load (x86_64: fs/gs bases, segment selectors) come from the
  // image through the regset; the rest of the regset is overwritten by the frame.
  // The task's own rt_sigreturn reads the frame (an ia32 one through int 0x80, which also puts the
  // task back in 32-bit mode); what the frame's selectors refer to (x86's GDT TLS slots) comes first.
  const abi = arch.taskSyscall;
  const regsets = regsetsOf(arch, ti);
  const base = regsets.get(abi.regsNt);
  if (!base) throw new RestoreError('IMAGE_INCONSISTENT', `core-${pid}.img gives no general registers`);
  arch.writeThreadExtras(pid, ti);
  // State the frame cannot carry goes in first: the kernel may check the frame against it
  // (s390x accepts the PSW's runtime-instrumentation bit only once the thread has an RI block).
  for (const nt of arch.regsetsBeforeSigreturn ?? []) {
    const buf = regsets.get(nt);
    if (buf) ptrace.setRegset(pid, nt, buf);
  }
  const regs = abi.prepare(base, ctx.inj.taskSite(), abi.rtSigreturnNr, [], frameSp);
  setAbiRegs(pid, abi, regs);
  setSideRegsets(pid, arch);
  ptrace.syscallStep(pid);
}

/** Checks where the thread landed after its rt_sigreturn (stopped at the exit): the image's IP and SP. */
function checkLanded(ctx: TaskCtx): void {
  const { arch, img } = ctx;
  const pid = ctx.tid;
  const ti = threadInfoOf(img, arch);
  const abi = arch.taskSyscall;
  // Read as the task's ABI reads them (an ia32 task is back in 32-bit mode now).
  const after = getAbiRegs(pid, arch, abi);
  const got = { ip: abi.ip(after), sp: abi.sp(after) };
  const want = arch.threadPointers(ti);
  for (const r of ['ip', 'sp'] as const) {
    if (got[r] !== want[r]) {
      throw new RestoreError('FAILED', `after rt_sigreturn the ${r} of thread ${pid} is ${hex(got[r])}, the image says ${hex(want[r])}`);
    }
  }
}
