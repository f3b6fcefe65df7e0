// The last step: the task's registers come back the way the kernel restores
// them after a signal handler (DESIGN rule 3). An rt_sigframe built from the
// core image is written below the saved stack pointer, rt_sigreturn is
// injected with SP at it, and the registers after it are checked against
// the image before the task is let go. Every thread does so with its own
// frame (its own mask and alternate stack) on its own stack; all are let go
// together at the end.

import type { MessageValue } from '../images/value.js';
import { SysError, kill, ptrace, processVmWritev, waitForStop, stopSig } from '../sys/index.js';
import { SIGSTOP, SIGTRAP } from '../sys/signals.js';
import { RestoreError } from '../shared/restore-error.js';
import { getAbiRegs, setAbiRegs, setSideRegsets } from '../inject/index.js';
import { unmapScratch } from './scratch.js';
import { dropSyscallPage } from './stub-vdso.js';
import { threadInfoOf } from './preflight-arch.js';
import type { TaskCtx } from '../shared/task-ctx.js';

const TASK_STOPPED = 3;

const big = (v: unknown): bigint => BigInt((v ?? 0) as bigint | number);
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** PTRACE_SYSCALL to the next syscall stop (entry or exit). */
function syscallStop(pid: number, what: string): void {
  ptrace.syscallStep(pid);
  const st = waitForStop(pid, { timeoutMs: 10_000 }).status;
  if ((stopSig(st) & 0x7f) !== SIGTRAP) throw new RestoreError('FAILED', `task ${pid} stopped with signal ${stopSig(st)} at ${what} of rt_sigreturn`);
}

/**
 * Resumes the task: its main thread `ctx` and its other `threads` (each stopped, its state
 * restored) return through rt_sigreturn into their dumped registers, then all are detached.
 */
export function resumeTask(ctx: TaskCtx, threads: readonly TaskCtx[] = []): void {
  const all = [ctx, ...threads];
  const frames = all.map(writeFrame);
  unmapScratch(ctx);
  all.forEach((t, i) => sigreturn(t, frames[i]!));
  dropSyscallPage(ctx);
  // A stopped job: its stop signal waits for it, so it stops again before running a single
  // instruction (and its parent hears of the stop, as CRIU restores it).
  const tc = ctx.img.core.tc as MessageValue | undefined;
  if (Number(tc?.task_state ?? 1) === TASK_STOPPED) kill(ctx.pid, Number(tc?.stop_signo ?? 0) || SIGSTOP);
  for (const t of [...threads, ctx]) ptrace.detach(t.tid, 0);
}

/** Builds the thread's signal frame and writes it below its saved stack pointer; returns the SP for rt_sigreturn. */
function writeFrame(ctx: TaskCtx): bigint {
  const { arch, pid, img } = ctx;
  const ti = threadInfoOf(img, arch);
  const th = (img.core.thread_core as MessageValue | undefined) ?? {};
  // CRIU keeps the main thread's mask in the task core, every other thread's in its thread core.
  const tc = (img.core.tc ?? img.threads[0]?.core.tc) as MessageValue | undefined;
  const sigmask = big(th.blk_sigset ?? tc?.blk_sigset);
  const sas = th.sas as MessageValue | undefined;
  const altstack = sas ? { sp: big(sas.ss_sp), flags: Number(sas.ss_flags), size: big(sas.ss_size) } : undefined;

  // The frame goes below the red zone, which the interrupted code may still be using.
  const { sp } = arch.threadPointers(ti);
  const size = BigInt(arch.buildSigframe(ti, { sigmask, altstack, addressOfFrame: 0n }).frame.length);
  const align = BigInt(arch.sigframeAlign);
  const addr = (sp - BigInt(arch.redZone) - size - align) & ~(align - 1n);
  const frame = arch.buildSigframe(ti, { sigmask, altstack, addressOfFrame: addr });
  // process_vm_writev honours the protections: a frame it cannot write whole has no writable stack under it.
  let written = 0;
  try {
    written = processVmWritev(pid, frame.frameAddress, frame.frame);
  } catch (e) {
    if (!(e instanceof SysError && e.code === 'EFAULT')) throw e;
  }
  if (written !== frame.frame.length) {
    throw new RestoreError('FAILED', `no writable memory below the saved stack pointer ${hex(sp)} for the signal frame at ${hex(frame.frameAddress)}`);
  }
  return frame.sp;
}

/** Runs rt_sigreturn in the thread with SP at its frame and checks where it lands; it stays stopped. */
function sigreturn(ctx: TaskCtx, frameSp: bigint): void {
  const { arch, img } = ctx;
  const pid = ctx.tid;
  const ti = threadInfoOf(img, arch);

  // Registers rt_sigreturn does not load (x86_64: fs/gs bases, segment selectors) come from the
  // image through the regset; the rest of the regset is overwritten by the frame.
  // The task's own rt_sigreturn reads the frame (an ia32 one through int 0x80, which also puts the
  // task back in 32-bit mode); what the frame's selectors refer to (x86's GDT TLS slots) comes first.
  const abi = arch.taskSyscall;
  const regsets = arch.regsetsFromThreadInfo(ti);
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
  syscallStop(pid, 'the entry');
  syscallStop(pid, 'the exit');

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
