/**
 * Runs system calls inside a ptrace-stopped task (arch-neutral: the Arch's syscall ABI says
 * which registers carry what). The task must be seized and in a ptrace stop.
 *
 * One call: registers set to (nr, args) with the IP on an existing syscall instruction, signals
 * all blocked so none is delivered on the way, PTRACE_SINGLESTEP, wait for the trap right after
 * the instruction, read the result. The saved registers and signal mask are put back by the
 * undo list (see `attach`), never left changed.
 */
import { constants } from 'node:os';
import type { Arch, SyscallAbi } from '../arch/types.js';
import {
  syscallNumber, ptrace, waitForStop, describeStatus, ptraceEvent, stopSig, stopped, getSiginfo, type WaitResult,
} from '../sys/index.js';
import { readMaps, readStatus, type Vma } from '../proc/index.js';
import { InjectError, syscallFailed } from './errors.js';
import { findSyscallSite } from './syscall-site.js';
import type { CallSite } from './call-site.js';
import { faultInCall, faultPoint } from '../fault.js';

/** Where attach records its steps: an UndoList (not imported: undo.ts runs its calls through Injector). */
interface UndoSteps { push(what: string, undo: () => void): unknown }

const { getRegset, getSigmask, setRegset, setSigmask, singleStep, syscallStep, cont } = ptrace;

/** The registers `abi.prepare` works on, as the ABI reads them (its regset unless it says otherwise). */
export function getAbiRegs(pid: number, arch: Arch, abi: SyscallAbi = arch.syscall): Buffer {
  if (abi.getRegs) return abi.getRegs(pid);
  const spec = arch.regsets.find((r) => r.nt === abi.regsNt);
  return getRegset(pid, abi.regsNt, spec?.maxSize ?? 4096);
}

/** Writes registers read by getAbiRegs (and changed by `abi.prepare`) back into the task. */
export function setAbiRegs(pid: number, abi: SyscallAbi, regs: Buffer): void {
  if (abi.setRegs) abi.setRegs(pid, regs);
  else setRegset(pid, abi.regsNt, regs);
}

/** The number of syscall `name` in `abi` (its own table, or the host's). */
export function numberIn(abi: SyscallAbi, name: string): number {
  if (!abi.numbers) return syscallNumber(name);
  const nr = abi.numbers[name];
  if (nr === undefined) throw new Error(`no syscall named ${name} in this task's ABI`);
  return nr;
}
const SIGTRAP = constants.signals.SIGTRAP;
const FAULT_SIGNALS = new Set([constants.signals.SIGSEGV, constants.signals.SIGBUS, constants.signals.SIGILL, constants.signals.SIGFPE]);
/**
 * The mask while cryo's calls run: every signal but SIGTRAP (the kernel ignores the bits of
 * SIGKILL and SIGSTOP). A single step's trap and a breakpoint raise SIGTRAP, and the kernel resets
 * the action of a SIGTRAP the task blocks (or ignores) to SIG_DFL: a handler of the task's would
 * be lost (zdtm sigtrap01).
 */
const SIGTRAP_BIT = 1n << BigInt(SIGTRAP - 1);
const CALL_MASK = ((1n << 64n) - 1n) & ~SIGTRAP_BIT;

/** Whether a SigIgn mask (/proc/PID/status) has SIGTRAP: see Injector.trapIgnored. */
export const ignoresSigtrap = (sigIgn: bigint): boolean => (sigIgn & SIGTRAP_BIT) !== 0n;

export interface InjectorOptions {
  /** /proc/PID/maps as read before, to find the syscall instruction without re-reading. */
  maps?: readonly Vma[];
  /** The syscall instruction to run calls on, when the caller knows one (else one is searched for). */
  site?: bigint;
  /** How long one injected syscall may take before cryo gives up (ms). */
  timeoutMs?: number;
  /**
   * The task must survive cryo's death at any moment (a dump; the task must be seized with
   * PTRACE_O_TRACESYSGOOD): see `survivable` below.
   */
  survivable?: boolean;
  /** Whether the task ignores SIGTRAP, when the caller knows (else read from /proc when first needed: trapIgnored). */
  trapIgnored?: boolean;
  /**
   * The thread is at a syscall stop, where not all of its registers read as its own (arm64 shows x7
   * as the stop's direction, and puts the real one back only as the thread leaves such a stop):
   * calls run from syscall stop to syscall stop, so that the registers put back after are its own.
   */
  atSyscallStop?: boolean;
  /**
   * The thread's regsets and mask as read in this same stop, nothing run in it since (a dump's
   * threads, read from outside first): not read again.
   */
  known?: { regsets: ReadonlyMap<number, Buffer>; sigmask: bigint };
}

/** A call started in a task (Injector.beginCall): `advance` waits for its next stop, true once it is done. */
interface CallInFlight {
  advance(): boolean;
  result(): bigint;
}

export class Injector {
  /** The task's registers as they were when the injector attached (NT per arch.syscall.regsNt). */
  readonly savedRegs: Buffer;
  /** SyscallAbi.sideRegsets as they were when the injector attached. */
  private readonly savedSide: readonly { nt: number; bytes: Buffer }[];
  /** Regsets the arch keeps across injected calls (keptRegsets), as they were at attach. */
  private readonly savedKept: readonly { nt: number; bytes: Buffer }[];
  /** The task's blocked-signal mask as it was. */
  readonly savedSigmask: bigint;
  /** Address of the syscall instruction injected calls run on. */
  readonly site: bigint;
  /** Sites of the task's own ABI's syscall instruction, when it differs (found when first used). */
  private taskSiteAt: bigint | undefined;
  /**
   * Memory of cryo's own in the task (the end of a scratch area) where argument blocks go (s390x's
   * old_mmap); unset, they go below the stack pointer, which must then be mapped.
   */
  argArea: bigint | undefined;
  /** Whether CALL_MASK is in place of the task's own mask. */
  private masked = false;
  private trapIgnoredCache: boolean | undefined;
  private readonly atSyscallStop: boolean;
  private regsDirty = false;
  /** How long one injected call or batch may take (ms). */
  readonly timeoutMs: number;
  /**
   * When cryo dies (SIGKILL) the kernel lets the task run on from its stop with whatever it has:
   * cryo's registers, a mask blocking every signal, a single-step flag (not cleared by a tracer's
   * death), a stop's SIGTRAP (delivered then). So in a dump every call runs from its syscall-entry
   * stop to its exit stop, and the task's own registers and mask are put back at once: between
   * calls it waits at an interrupt or syscall-exit stop holding its own state, from which it runs
   * on unharmed (the kernel's syscall restart applies to those registers). A call itself ends in
   * an rt_sigreturn into the thread's own state where the arch has one (endCallsAt), and so does
   * a batch (runEnded, batch-park.ts); a call or batch without that ending is what is left.
   */
  private readonly survivable: boolean;
  /** Where calls of arch.syscall run while cryo's call-then-sigreturn code is in use (call-ending.ts). */
  private ending: CallSite | undefined;
  /** The last call ran on the ending (the thread waits at its exit, before the rt_sigreturn). */
  private onEnding = false;
  /** The wait for code started in the task and not yet waited for (inFlight): done before anything else runs there. */
  private pending: (() => void) | undefined;

  private constructor(readonly pid: number, readonly arch: Arch, opts: InjectorOptions) {
    const abi = arch.syscall;
    const known = abi.getRegs ? undefined : opts.known?.regsets.get(abi.regsNt);
    this.savedRegs = known ?? getAbiRegs(pid, arch);
    this.savedSide = (abi.sideRegsets ?? []).map((r) => ({ nt: r.nt, bytes: getRegset(pid, r.nt, r.whileInjecting.length) }));
    this.savedKept = (abi.keptRegsets ?? []).flatMap((r) => {
      let bytes: Buffer;
      try { bytes = getRegset(pid, r.nt, r.maxSize); } catch { return []; } // none on this CPU or kernel
      return r.live(bytes) ? [{ nt: r.nt, bytes }] : [];
    });
    this.savedSigmask = opts.known?.sigmask ?? getSigmask(pid);
    this.site = opts.site ?? findSyscallSite(pid, abi.instruction, arch.vdso.vdso, opts.maps ?? readMaps(pid), abi.instructionAlign);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.survivable = opts.survivable ?? false;
    this.trapIgnoredCache = opts.trapIgnored;
    this.atSyscallStop = opts.atSyscallStop ?? false;
  }

  /**
   * Prepares injection into seized, stopped task `pid`. Records in `undo` how to put back the
   * registers and the signal mask; nothing is changed in the task yet.
   */
  static attach(pid: number, arch: Arch, undo: UndoSteps, opts: InjectorOptions = {}): Injector {
    const inj = new Injector(pid, arch, opts);
    undo.push(`restore the registers of task ${pid}`, () => inj.restoreRegs());
    undo.push(`restore the signal mask of task ${pid}`, () => inj.restoreSigmask());
    return inj;
  }

  /**
   * From now on, calls of arch.syscall run at `site` (Arch.callThenSigreturn's code in the task)
   * with SP at `sp`, a signal frame of this thread's own state; undefined: at `this.site` again.
   */
  endCallsAt(ending: CallSite | undefined): void {
    this.ending = ending;
  }

  /** Whether calls end in rt_sigreturn into the thread's own state (endCallsAt). */
  get endsCalls(): boolean {
    return this.ending !== undefined;
  }

  /**
   * Code started in the task (a batch) runs on while cryo works in other tasks: `wait` finishes it,
   * and runs before the next call or code started here, whoever asks (a kind reaching into another
   * process of the tree). Returns `wait` made to run once: a second call gives the first's result.
   */
  inFlight<T>(wait: () => T): () => T {
    let state: { ok: true; v: T } | { ok: false; e: unknown } | undefined;
    const once = (): T => {
      if (state === undefined) {
        if (this.pending === once) this.pending = undefined;
        try {
          state = { ok: true, v: wait() };
        } catch (e) {
          state = { ok: false, e };
        }
      }
      if (!state.ok) throw state.e;
      return state.v;
    };
    this.settleInFlight();
    this.pending = once;
    return once;
  }

  /** Waits for code still in flight in the task (inFlight). */
  settleInFlight(): void {
    this.pending?.();
  }

  /** Puts the saved registers back (idempotent). */
  restoreRegs(): void {
    if (!this.regsDirty) return;
    setAbiRegs(this.pid, this.arch.syscall, this.savedRegs);
    for (const r of this.savedSide) setRegset(this.pid, r.nt, r.bytes);
    for (const r of this.savedKept) setRegset(this.pid, r.nt, r.bytes);
    this.regsDirty = false;
  }

  /** Puts the saved signal mask back (idempotent). */
  restoreSigmask(): void {
    if (!this.masked) return;
    setSigmask(this.pid, this.savedSigmask);
    this.masked = false;
  }

  /** No signal but SIGTRAP may be delivered while cryo's code runs: a handler would run on cryo's registers. */
  private maskCalls(): void {
    if (this.masked) return;
    setSigmask(this.pid, CALL_MASK);
    this.masked = true;
  }

  /** Before cryo sets the task's SIGTRAP action: from then on calls run as where it is ignored. */
  trapActionChanging(): void {
    this.trapIgnoredCache = true;
  }

  /**
   * Whether the task ignores SIGTRAP: a single step's trap or the breakpoint that ends cryo's code
   * (startCode) would reset that to SIG_DFL, so its calls run one by one from syscall stop to syscall
   * stop instead (cryo's own calls never change it: restore sets SIGTRAP's action last).
   */
  trapIgnored(): boolean {
    this.trapIgnoredCache ??= ignoresSigtrap(readStatus(this.pid).sigIgn);
    return this.trapIgnoredCache;
  }

  /**
   * Runs syscall `name(args)` in the task; returns the raw result (negative = -errno). The task is
   * left stopped right after the syscall instruction, with the call's registers.
   */
  raw(name: string, ...args: (bigint | number)[]): bigint {
    return this.rawVia(this.arch.syscall, this.site, name, args);
  }

  /**
   * Like raw, through the syscall ABI of the task's own code (Arch.taskSyscall): for the calls
   * whose effect depends on the calling ABI.
   */
  rawTask(name: string, ...args: (bigint | number)[]): bigint {
    const abi = this.arch.taskSyscall;
    if (abi === this.arch.syscall) return this.raw(name, ...args);
    return this.rawVia(abi, this.taskSite(), name, args);
  }

  /** Where the task ABI's syscall instruction is (the same as `site` for the machine's own ABI). */
  taskSite(): bigint {
    const abi = this.arch.taskSyscall;
    if (abi === this.arch.syscall) return this.site;
    this.taskSiteAt ??= findSyscallSite(this.pid, abi.instruction, this.arch.vdso.vdso, readMaps(this.pid));
    return this.taskSiteAt;
  }

  /** rawTask, a -errno result thrown as by call. */
  callTask(name: string, ...args: (bigint | number)[]): bigint {
    const r = this.rawTask(name, ...args);
    if (r < 0n && r >= -4095n) throw syscallFailed(this.pid, name, args, r);
    return r;
  }

  private rawVia(abi: SyscallAbi, site: bigint, name: string, args: readonly (bigint | number)[]): bigint {
    this.settleInFlight();
    faultPoint(`${name}() injected into task ${this.pid}`);
    const r = this.runCall(abi, site, name, args);
    this.putBack();
    return r;
  }

  /**
   * The task's own registers and mask again (`survivable`); after a call on the ending the thread stays at its exit
   * (killed, its rt_sigreturn gives both back), unless CallSite.ownBetweenCalls: then mask first, registers next.
   */
  private putBack(): void {
    if (!this.survivable || (this.onEnding && !this.ending?.ownBetweenCalls)) return;
    if (this.onEnding) this.restoreSigmask();
    this.restoreRegs();
    this.restoreSigmask();
    this.onEnding = false;
  }

  /**
   * Puts the thread at `ip` with syscall number `nr`, `args` and (optionally) `sp`, the rest of its
   * registers as saved, and cryo's mask; the caller resumes it.
   */
  private enter(abi: SyscallAbi, ip: bigint, nr: number, args: readonly (bigint | number)[], sp?: bigint, ended = false): void {
    // Ended code gets its registers first: killed before the mask, the thread ends in its own state.
    if (!ended) this.maskCalls();
    // All six argument registers are set: unused ones are 0, not whatever the task had there.
    const full = [...args.map((a) => BigInt(a)), 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
    setAbiRegs(this.pid, abi, abi.prepare(this.savedRegs, ip, nr, full, sp));
    setSideRegsets(this.pid, this.arch);
    this.regsDirty = true;
    if (ended) this.maskCalls(); // blocked signals stay queued and are delivered after the dump
    faultInCall();
  }

  private runCall(abi: SyscallAbi, site: bigint, name: string, args: readonly (bigint | number)[]): bigint {
    const call = this.beginCall(abi, site, name, args);
    while (!call.advance()) { /* the next stop */ }
    return call.result();
  }

  /**
   * Starts `name(args)` on `site` (the first step): `advance` waits for each of its stops in turn,
   * so that calls in several tasks can run at once (runCallsTogether).
   */
  private beginCall(abi: SyscallAbi, site: bigint, name: string, args: readonly (bigint | number)[]): CallInFlight {
    const ending = abi === this.arch.syscall ? this.ending : undefined;
    if (ending) site = ending.site;
    this.onEnding = ending !== undefined;
    this.enter(abi, site, numberIn(abi, name), args, ending?.sp, ending !== undefined);
    // Where a single step does not stop right after the syscall instruction (ppc64: no trace
    // interrupt for `sc`), the call runs from its entry stop to its exit stop instead.
    const bySyscallStops = abi.stepBySyscallStops === true || this.survivable || this.atSyscallStop || this.trapIgnored();
    const step = bySyscallStops ? syscallStep : singleStep;
    let stops = bySyscallStops ? 2 : 1;
    let early = 0;
    let after: Buffer | undefined;
    step(this.pid);
    const advance = (): boolean => {
      const st = this.waitStep().status;
      const sig = stopSig(st) & 0x7f; // syscall stops are SIGTRAP | 0x80 with PTRACE_O_TRACESYSGOOD
      if (sig === SIGTRAP && ptraceEvent(st) === 0) {
        if (stops > 1) {
          stops--;
          step(this.pid);
          return false;
        }
        after = getAbiRegs(this.pid, this.arch, abi);
        if (stopSig(st) !== SIGTRAP || abi.ip(after) !== site) return true;
        // A trap left pending before the step (s390x: a fork child inherits its parent's PER
        // single-step trap) stops the task before the instruction ran: its registers still hold
        // the arguments, not a result. Discard it and step again.
        if (++early > 3) throw new InjectError('UNEXPECTED_STOP', `task ${this.pid} keeps stopping with SIGTRAP before the injected ${name}() runs`);
        step(this.pid);
        return false;
      }
      // A group-stop or event stop on the way (SIGSTOP sent meanwhile): step on, keep it for later.
      if (ptraceEvent(st) !== 0) {
        step(this.pid);
        return false;
      }
      throw new InjectError('UNEXPECTED_STOP', `task ${this.pid} ${describeStatus(st)}${this.faultWhere(st, abi)} instead of finishing the injected ${name}()`);
    };
    return { advance, result: () => abi.result(after ?? getAbiRegs(this.pid, this.arch, abi)) };
  }

  /**
   * raw(name, args) in several tasks at once (each an injector of its own): all started, then the
   * stops of all waited for in turn; returns each result (-errno for a failure). A failure to
   * finish one throws once every other call started is finished or failed too.
   */
  static rawTogether(calls: readonly { inj: Injector; name: string; args: readonly (bigint | number)[] }[]): bigint[] {
    const got = Injector.rawEach(calls);
    const failed = got.find((g) => !g.ok);
    if (failed !== undefined) throw failed.e;
    return got.map((g) => (g as { v: bigint }).v);
  }

  /** rawTogether, with each call's own outcome (the first failure not thrown: a caller records what the others did). */
  static rawEach(calls: readonly { inj: Injector; name: string; args: readonly (bigint | number)[] }[]): ({ ok: true; v: bigint } | { ok: false; e: unknown })[] {
    const running: (CallInFlight | undefined)[] = [];
    const errors: unknown[] = calls.map(() => undefined);
    for (const { inj, name, args } of calls) {
      try {
        inj.settleInFlight();
        faultPoint(`${name}() injected into task ${inj.pid}`);
        running.push(inj.beginCall(inj.arch.syscall, inj.site, name, args));
      } catch (e) {
        errors[running.length] = e ?? new Error('undefined thrown');
        running.push(undefined);
      }
    }
    const out: bigint[] = calls.map(() => 0n);
    const done = running.map((r) => r === undefined);
    while (done.some((d) => !d)) {
      running.forEach((r, i) => {
        if (done[i]) return;
        try {
          if (!r!.advance()) return;
          out[i] = r!.result();
          calls[i]!.inj.putBack();
        } catch (e) {
          errors[i] = e ?? new Error('undefined thrown');
        }
        done[i] = true;
      });
    }
    return out.map((v, i) => (errors[i] === undefined ? { ok: true, v } : { ok: false, e: errors[i] }));
  }

  /** Where a fault stop happened (" at pc X, address Y"), for the error that reports it; empty if unknown. */
  private faultWhere(status: number, abi: SyscallAbi): string {
    if (!stopped(status) || !FAULT_SIGNALS.has(stopSig(status))) return '';
    try {
      const info = getSiginfo(this.pid);
      // siginfo_t: si_signo, si_errno, si_code (ints), then on 64-bit targets the fault address at byte 16.
      const addr = this.arch.byteOrder === 'LE' ? info.readBigUInt64LE(16) : info.readBigUInt64BE(16);
      return ` at pc 0x${abi.ip(getAbiRegs(this.pid, this.arch, abi)).toString(16)}, address 0x${addr.toString(16)}`;
    } catch {
      return '';
    }
  }

  /**
   * Starts code already in the task at `entry` that ends in rt_sigreturn (SyscallAbi.batchThenSigreturn)
   * with SP on this thread's frame (other threads' may run meanwhile): finishEnded once it waits for
   * cryo (batch-park.ts). Only for a thread whose calls end so (endsCalls).
   */
  startEnded(entry: bigint, args: readonly bigint[]): void {
    this.settleInFlight();
    const ending = this.ending;
    if (ending === undefined) throw new Error(`internal: task ${this.pid}'s calls have no ending to run code ending so`);
    faultPoint(`code run in task ${this.pid}`);
    this.enter(this.arch.syscall, entry, 0, args, ending.sp, true);
    cont(this.pid);
  }

  /**
   * After `wait(timeoutMs)` (if given) returned with the thread stopped where startEnded's code waits:
   * onto the call ending (the code's area may go before its next call), not by a call there (two
   * stops) but its registers set just past the ending's syscall instruction: let go, it runs into the
   * rt_sigreturn as from that call's exit.
   */
  finishEnded(wait?: (timeoutMs: number) => void): void {
    wait?.(this.timeoutMs);
    const ending = this.ending!;
    const abi = this.arch.syscall;
    this.enter(abi, abi.ipAfter(ending.site), 0, [], ending.sp, true);
    this.onEnding = true;
    this.putBack();
  }

  /**
   * Starts code already in the task at `entry` (the arch's batch runner) with `args` in the syscall
   * argument registers; it runs until it traps (a breakpoint: finishCode). Signals stay blocked as
   * for raw; the next call puts IP and registers back in place.
   */
  startCode(entry: bigint, ...args: (bigint | number)[]): void {
    this.settleInFlight();
    faultPoint(`code run in task ${this.pid}`);
    this.enter(this.arch.syscall, entry, 0, args);
    cont(this.pid);
  }

  /** Waits for the code startCode started (other tasks' may run meanwhile); returns the registers at its breakpoint. */
  finishCode(): Buffer {
    const abi = this.arch.syscall;
    for (;;) {
      const st = this.waitStep().status;
      const sig = stopSig(st);
      if (sig === SIGTRAP && ptraceEvent(st) === 0) break;
      if (ptraceEvent(st) !== 0) {
        cont(this.pid);
        continue;
      }
      throw new InjectError('UNEXPECTED_STOP', `task ${this.pid} ${describeStatus(st)} instead of finishing cryo's batch of system calls`);
    }
    const out = getAbiRegs(this.pid, this.arch, abi);
    if (this.survivable) {
      // The breakpoint's SIGTRAP stop would deliver SIGTRAP if cryo died now: leave it through a
      // harmless call (resumed without the signal), which ends at a syscall-exit stop.
      this.runCall(abi, this.site, 'getpid', []);
      this.putBack();
    }
    return out;
  }

  /** Like raw, but a -errno result throws InjectError `EFAULT from name(...) injected into task PID`. */
  call(name: string, ...args: (bigint | number)[]): bigint {
    const r = this.raw(name, ...args);
    if (r < 0n && r >= -4095n) throw syscallFailed(this.pid, name, args, r);
    return r;
  }

  /** Waits for the stop after a step (blocked in wait4: woken by the stop, however long the call takes). */
  private waitStep(): WaitResult {
    return waitForStop(this.pid, { timeoutMs: this.timeoutMs });
  }

  /** Resumes the task from a signal-delivery stop with `sig` (used by callers that need it). */
  resume(sig = 0): void {
    cont(this.pid, sig);
  }
}

/**
 * Puts the arch's side regsets in their injecting state (after every step: each injected syscall
 * leaves its own trace there, e.g. s390x's system_call).
 */
export function setSideRegsets(pid: number, arch: Arch): void {
  for (const r of arch.syscall.sideRegsets ?? []) setRegset(pid, r.nt, r.whileInjecting);
}
