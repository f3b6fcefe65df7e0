/**
 * The rt_sigreturn ending of a dump's injected calls (issue 15). SIGKILL of cryo lets a task that
 * is inside an injected call run on from there with cryo's registers and every signal blocked. Where
 * the arch has code that runs one call and then rt_sigreturn (Arch.callThenSigreturn), a dump puts
 * it in an area of its own in the task, beside a signal frame of each thread's own state (its
 * registers as a restore of this dump would start it, FP/vector state, signal mask), and runs that
 * thread's calls on the code with SP on its frame. A live cryo stops the task at the call's exit
 * and puts its registers back, as without it; after cryo's death the task runs into rt_sigreturn
 * and on with its own state. This area's own mmap and its munmap at the end cannot run on it: they
 * run on Arch.callThenRestore's code in the vDSO's unused tail (vdso-spare.ts; CRYO_VDSO_SPARE=off,
 * or no room or no such code: on the plain syscall site, unprotected). The area is mapped read+exec,
 * first, and filled through /proc/PID/mem (which, as for a debugger's breakpoints, writes where the
 * task may not), so no mprotect call is needed.
 */
import type { AltStack, Arch, ThreadInfo } from '../arch/types.js';
import type { Vma } from '../proc/index.js';
import type { Injector } from './injector.js';
import { injectMmap, mmapCallOf, type MmapArgs } from './mmap.js';
import { syscallFailed } from './errors.js';
import { writeForced } from './proc-mem.js';
import { findHole, type Area } from './scratch.js';
import { writeInVdsoSpare } from './vdso-spare.js';
import type { UndoList } from './undo.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_EXEC, PROT_READ } from '../arch/mman.js';

/**
 * Flags sigaltstack refuses (SS_ONSTACK | SS_DISABLE): rt_sigreturn ignores that error, so the
 * thread's own alternate stack stays as it is (cryo reads it only later, by an injected call).
 */
const KEEP_ALTSTACK: AltStack = { sp: 0n, flags: 3, size: 0n };

/** A thread of the process: its state from before anything was injected. */
export interface EndingThread {
  /** Its registers with the syscall restart applied as for a task that runs on (Arch.fixSyscallRestart's 'onRunOn'). */
  ti: ThreadInfo;
  sigmask: bigint;
  /** The image's restart ends its call with EINTR: a restart block the frame loses (CallSite.ownBetweenCalls). */
  eintr?: boolean;
}

export interface CallEnding {
  /** The area in the task (to leave out of the dumped memory). */
  readonly start: bigint;
  readonly end: bigint;
  /** Where the `runners` given to startCallEnding are (executable, as the ending's code). */
  readonly runnersAt?: bigint;
  /** Makes the injector of thread `i` (as passed to mapCallEnding) run its calls on the ending. */
  use(inj: Injector, i: number): void;
  /**
   * Where `area` (cryo's, mapped after the ending) lies just below it, one free page between (as
   * findHole places it): the ending's munmap removes it too, and `dropItsUnmap` is called (one call
   * less at the end of a dump). Returns whether it does.
   */
  unmapsAlso(area: Area, dropItsUnmap: () => void): boolean;
}

/**
 * Maps the ending into the process of `inj` (its main thread's injector) for `threads` (main
 * first) and makes `inj` use it; undefined where the arch has none for one of them, where
 * /proc/PID/mem may not write it (proc_mem.force_override=never), or with CRYO_CALL_ENDING=off (the
 * tests' way to show what it prevents).
 */
export function mapCallEnding(inj: Injector, undo: UndoList, maps: readonly Vma[], threads: readonly EndingThread[]): CallEnding | undefined {
  return startCallEnding(inj, undo, maps, threads)?.finish();
}

/** mapCallEnding's area's mmap, where it may run beside other tasks' calls (startCallEnding). */
export interface EndingMmap { inj: Injector; name: string; args: readonly bigint[] }

/**
 * mapCallEnding in two halves, so that a tree's processes run their area's mmap at the same time
 * (Injector.rawEach): `mmap` is that call where it runs on the vDSO's spare code (a SIGKILL of cryo
 * inside it leaves the thread in its own state) and takes its arguments in registers; `finish`
 * takes its raw result, or runs it itself when given none. `runners`: more code to place in the
 * area (the batch runners: a batch area then needs no mprotect call of its own).
 */
export function startCallEnding(inj: Injector, undo: UndoList, maps: readonly Vma[], threads: readonly EndingThread[], runners?: Buffer): { mmap?: EndingMmap; finish(raw?: bigint): CallEnding | undefined } | undefined {
  const arch: Arch = inj.arch;
  if (process.env.CRYO_CALL_ENDING === 'off' || threads.length === 0) return undefined;
  const codes = threads.map((t) => arch.callThenSigreturn?.(t.ti));
  const first = codes[0];
  if (first === undefined || codes.some((c) => c === undefined)) return undefined;
  const code: Buffer = first;
  const page = arch.pageSize;
  const round = (n: number) => Math.ceil(n / page) * page;
  const frameOf = (t: EndingThread, at: bigint) => arch.buildSigframe(t.ti, { sigmask: t.sigmask, altstack: KEEP_ALTSTACK, addressOfFrame: at });
  const runnersOffset = Math.ceil(code.length / 16) * 16;
  const codeSize = round(runners ? runnersOffset + runners.length : code.length);
  // Each frame is built once, in its place (the area lands at `want`: MAP_FIXED_NOREPLACE), in
  // slots as long as the main thread's frame; a longer one (a thread with more vector state) makes
  // them all longer, built again.
  let slot = round(frameOf(threads[0]!, 0n).frame.length);
  let size = 0;
  let want = 0n;
  let frames: ReturnType<typeof frameOf>[] = [];
  for (;;) {
    size = codeSize + slot * threads.length;
    want = findHole(maps, BigInt(size), BigInt(page), arch.mmapTop);
    const at = want;
    frames = threads.map((t, i) => frameOf(t, at + BigInt(codeSize + i * slot)));
    const longest = round(Math.max(...frames.map((f) => f.frame.length)));
    if (longest <= slot) break;
    slot = longest;
  }
  // This area's own mmap and munmap run on code in the vDSO's unused tail that puts the main
  // thread's registers and mask back itself (vdso-spare.ts), where the arch has it and there is room.
  const main = threads[0]!;
  const restoring = arch.callThenRestore?.(main.ti, main.sigmask);
  const spare = restoring && process.env.CRYO_VDSO_SPARE !== 'off' ? writeInVdsoSpare(inj.pid, maps, arch.vdso.vdso, restoring) : undefined;
  const onSpare = spare ? { site: spare.at, sp: arch.threadPointers(main.ti).sp } : undefined;
  if (spare) {
    // Erased once the thread holds its own state (mask first: until the registers, it would run the code).
    undo.push(`erase cryo's code in the vDSO of task ${inj.pid}`, () => {
      inj.restoreSigmask();
      inj.restoreRegs();
      spare.erase();
    });
    inj.endCallsAt(onSpare);
  }
  const mmapArgs: MmapArgs = [want, size, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0];
  const c = mmapCallOf(inj, mmapArgs);
  const mmap = spare && c.argStruct === undefined ? { inj, name: c.name, args: c.args } : undefined;
  const finish = (raw?: bigint): CallEnding | undefined => {
    if (raw !== undefined && raw < 0n && raw >= -4095n) throw syscallFailed(inj.pid, c.name, c.args, raw);
    return mapped(BigInt.asUintN(64, raw ?? injectMmap(inj, ...mmapArgs)));
  };
  return mmap ? { mmap, finish } : { finish };

  function mapped(start: bigint): CallEnding | undefined {
    const users: Injector[] = [];
    // Back on the spare code first: the munmap cannot run on the area it removes.
    const before = () => {
      for (const u of users) u.endCallsAt(undefined);
      // Erased meanwhile (below); unprotected where it cannot be written again.
      inj.endCallsAt(spare?.write() ? onSpare : undefined);
    };
    const unmap = () => {
      before();
      inj.call('munmap', start, size);
    };
    // Widened by unmapsAlso (the undo step keeps its place: last, after every area run on the ending).
    const unmapArgs: bigint[] = [start, BigInt(size)];
    const drop = undo.pushCall(`unmap cryo's call-ending area at 0x${start.toString(16)} in task ${inj.pid}`, { inj, name: 'munmap', args: unmapArgs, before });
    // Elsewhere only where the kernel knows no MAP_FIXED_NOREPLACE (before 4.17: a hint).
    if (start !== want) frames = threads.map((t, i) => frameOf(t, start + BigInt(codeSize + i * slot)));
    const bytes = Buffer.alloc(size);
    code.copy(bytes, 0);
    runners?.copy(bytes, runnersOffset);
    frames.forEach((f, i) => f.frame.copy(bytes, codeSize + i * slot));
    if (!writeForced(inj.pid, start, bytes)) {
      drop();
      unmap();
      inj.endCallsAt(undefined);
      return undefined;
    }
    const ending: CallEnding = {
      start,
      end: start + BigInt(size),
      ...(runners ? { runnersAt: start + BigInt(runnersOffset) } : {}),
      use(u, i) {
        users.push(u);
        u.endCallsAt({ site: start, sp: frames[i]!.sp, ownBetweenCalls: threads[i]!.eintr === true });
      },
      unmapsAlso(area, dropItsUnmap) {
        if (area.end + BigInt(page) !== unmapArgs[0]) return false;
        unmapArgs[1] += unmapArgs[0]! - area.start;
        unmapArgs[0] = area.start;
        dropItsUnmap();
        return true;
      },
    };
    ending.use(inj, 0);
    // Off the spare code (mask first, as in the undo step), which goes until the munmap: the
    // pages a dump reads meanwhile hold the task's own vDSO.
    if (spare) {
      inj.restoreSigmask();
      inj.restoreRegs();
      spare.erase();
    }
    return ending;
  }
}
