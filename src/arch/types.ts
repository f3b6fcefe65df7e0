// The interface generic dump/restore code uses for everything that depends on
// the CPU architecture. Each architecture lives in src/arch/<arch>/ and is
// mostly data; generic code never asks which architecture it runs on.

import type { ByteOrder, ImageRecord } from './regtable.js';
import type { KernelAbi, RestartAction, RestartRule, RestartUse, SigactionLayout } from './kernel-abi-types.js';
import type { VdsoNames } from './vdso-types.js';

export type * from './kernel-abi-types.js';
export type * from './vdso-types.js';

/** A core image's thread_info (x86) / ti_<arch> message, in image value form. */
export type ThreadInfo = ImageRecord;

/** ptrace regset contents, keyed by NT_* note type. */
export type Regsets = Map<number, Buffer>;

/** Thread state read outside the regsets that thread_info holds. */
export interface ThreadExtras {
  /** set_tid_address's pointer (prctl PR_GET_TID_ADDRESS); thread_info.clear_tid_addr. */
  clearTidAddr?: bigint;
  /** x86: the GDT TLS entries (PTRACE_GET_THREAD_AREA) as user_desc_t records. */
  tls?: ImageRecord[];
  /** x86: arch_prctl(ARCH_SHSTK_STATUS) of the thread. */
  shstkStatus?: bigint;
}

export interface RegsetSpec {
  /** NT_* note type passed to PTRACE_GETREGSET. */
  readonly nt: number;
  readonly name: string;
  /** A buffer this big always holds the whole regset. */
  readonly maxSize: number;
  /** Dump fails without it; an optional regset is skipped when the kernel or CPU lacks it. */
  readonly required: boolean;
  /**
   * Optional: not asked for when this says so, given the regsets read before it in the table (one
   * whose bytes another holds already, one the CPU lacks): a dump asks for every thread's.
   */
  readonly skip?: (read: ReadonlyMap<number, Buffer>) => boolean;
}

/** What CPUID/XGETBV-like probes the sys layer offers; every member is optional. */
export interface CpuProbe {
  cpuid?(leaf: number, subleaf: number): { eax: number; ebx: number; ecx: number; edx: number };
  xgetbv?(index: number): bigint;
  /** AT_HWCAP / AT_HWCAP2 of the host (from /proc/self/auxv), for architectures that check features that way. */
  hwcap?: bigint;
  hwcap2?: bigint;
  /** The kernel's page size (AT_PAGESZ), for architectures whose kernels choose it (ppc64: 4 or 64 KiB). */
  pageSize?: number;
  /** Why the kernel cannot run the machine's second ABI (x86's ia32); absent: the architecture asks the kernel. */
  secondAbiUnsupported?: () => string | undefined;
  /** s390x: the STFLE facility numbers /proc/cpuinfo lists ("facilities" line). */
  facilities?: readonly number[];
  /** aarch64: the SVE vector length a thread asking for `vl` bytes gets here (undefined: no SVE). */
  sveVectorLength?(vl: number): number | undefined;
}

/** The alternate signal stack as sigaltstack(2) reports it. */
export interface AltStack {
  sp: bigint;
  flags: number;
  size: bigint;
}

export interface SigframeOptions {
  /** The blocked-signal mask the task gets back (bit n-1 = signal n). */
  sigmask: bigint;
  /** The task's alternate stack; SS_DISABLE when absent. */
  altstack?: AltStack;
  /** Where in the task's memory the frame will be written; frame and its FP area live from here upward. */
  addressOfFrame: bigint;
}

export interface Sigframe {
  /** The bytes to write at frameAddress. */
  frame: Buffer;
  frameAddress: bigint;
  /** The stack pointer the rt_sigreturn syscall must run with. */
  sp: bigint;
}

/** How one architecture's ABI runs mmap (see SyscallAbi.mmapCall). */
export interface MmapCall {
  /** The syscall to run. */
  readonly name: string;
  /** Its register arguments; with argStruct, the caller passes the block's address in the task before them. */
  readonly args: readonly bigint[];
  /** An argument block the call reads through a pointer (s390x's old_mmap: six longs); absent when all go in registers. */
  readonly argStruct?: Buffer;
}

/** One of clone(2)'s register arguments (see SyscallAbi.cloneArgOrder). */
export type CloneArg = 'flags' | 'stack' | 'parentTid' | 'childTid' | 'tls';

/** The syscall ABI, enough to make a stopped task run one system call. */
export interface SyscallAbi {
  /** The syscall instruction's bytes; point the IP at a copy of these in the task. */
  readonly instruction: Buffer;
  /** Instructions sit at multiples of this (fixed-width ISAs); a copy found elsewhere is data. */
  readonly instructionAlign?: number;
  /** The regset that carries the registers used below. */
  readonly regsNt: number;
  /** rt_sigreturn's number (the last syscall of every restore). */
  readonly rtSigreturnNr: number;
  /** Returns a copy of `regs` set up to run syscall `nr(args)` at instruction address `ip`. */
  prepare(regs: Buffer, ip: bigint, nr: number | bigint, args: readonly bigint[], sp?: bigint): Buffer;
  /**
   * How to run mmap(addr, len, prot, flags, fd, offset): six register arguments on most ABIs; s390x's
   * mmap takes a pointer to a block of the six (src/inject/mmap.ts places it in the task).
   */
  mmapCall(addr: bigint, len: bigint, prot: bigint, flags: bigint, fd: bigint, offset: bigint): MmapCall;
  /**
   * The order in which this ABI's clone takes its five register arguments (the kernel's
   * CLONE_BACKWARDS variants): (flags, stack, parent_tid, child_tid, tls) on most; s390x swaps the
   * first two, ppc64 and i386 the last two. src/inject/clone.ts builds the call from it.
   */
  readonly cloneArgOrder: readonly CloneArg[];
  /** The stack pointer in `regs` (the regset regsNt names). */
  sp(regs: Buffer): bigint;
  /** The instruction pointer in `regs`. */
  ip(regs: Buffer): bigint;
  /** The syscall's return value (signed; -4095..-1 are -errno). */
  result(regs: Buffer): bigint;
  /**
   * Optional: bits of `regs` that injected calls may change and a tracer cannot put back (they do
   * nothing the task sees); whoever compares a task's registers before and after masks them.
   */
  readonly untraceable?: readonly { offset: number; mask: bigint }[];
  /**
   * A single step over the syscall instruction does not stop right after it (ppc64: the trace
   * interrupt is not taken for `sc`), or is not to be trusted (s390x under QEMU 10: a PER single
   * step over a preadv that faults in fresh pages ends in SIGSEGV): injected calls run from their
   * syscall-entry stop to their syscall-exit stop (PTRACE_SYSCALL) instead.
   */
  readonly stepBySyscallStops?: boolean;
  /** The IP after the syscall instruction ran once from `ip`. */
  ipAfter(ip: bigint): bigint;
  /**
   * Optional: machine code that runs a table of syscalls in one stop (src/inject/batch.ts). Entered
   * with the table's address and entry count as the first two syscall arguments; each entry is 8
   * words (nr, 6 arguments, result written back); it stops at the first -errno result, unless bit 63
   * of that entry's nr word is set (the bit is cleared for the call), and ends with a breakpoint
   * trap. Absent: injected calls run one at a time.
   */
  readonly batchCode?: Buffer;
  /**
   * batchCode also runs calls of the task's own ABI (Arch.taskSyscall, where it differs: an ia32
   * task's int $0x80): an entry whose nr word has bit 62 set holds that ABI's number, its arguments
   * taken as 32-bit words (the bit is cleared for the call).
   */
  readonly batchTaskCalls?: boolean;
  /**
   * Optional (dump): batchCode's loop ending in the thread's own state instead of a breakpoint, for
   * threads whose calls end so (Arch.callThenSigreturn; inject/batch-park.ts). Entered as batchCode
   * with a third argument, the address of a struct pollfd whose fd is the task's end of a socket
   * pair whose other end only cryo holds: after the table it sends cryo one byte on that socket
   * (MSG_NOSIGNAL), waits in ppoll for that socket (cryo stops it there with PTRACE_INTERRUPT; once
   * cryo is gone its end is closed and ppoll returns), closes the socket and runs rt_sigreturn with
   * SP on a frame of the thread's own state, as Arch.callThenSigreturn's code does.
   */
  readonly batchThenSigreturn?: Buffer;
  /** Syscall numbers of this ABI by name; absent: the host's own table. */
  readonly numbers?: Readonly<Record<string, number>>;
  /**
   * How the registers `prepare` works on are read and written, when they are not the regset regsNt
   * names (an ia32 task driven in 64-bit mode: PTRACE_GETREGS gives the tracer's 64-bit view).
   */
  getRegs?(pid: number): Buffer;
  setRegs?(pid: number, regs: Buffer): void;
  /**
   * Optional: regsets beside regsNt that must hold `whileInjecting` whenever cryo points the task at
   * code of its own (s390x: NT_S390_SYSTEM_CALL = 0, else the kernel restarts the interrupted call
   * in place of the injected one). The injector saves them at attach and puts them back with the
   * registers.
   */
  readonly sideRegsets?: readonly { readonly nt: number; readonly whileInjecting: Buffer }[];
  /**
   * Optional: regsets an injected syscall changes and the registers do not bring back (aarch64: a
   * syscall leaves SME streaming mode and drops the streaming registers). The injector saves each at
   * attach (left out where this CPU or kernel has none) and writes it back with the registers when
   * `live` says the saved one holds state.
   */
  readonly keptRegsets?: readonly { readonly nt: number; readonly maxSize: number; live(saved: Buffer): boolean }[];
}

export interface RegsFix {
  action: RestartAction;
  /** The thread_info after the rule (a copy; the input is not changed). */
  threadInfo: ThreadInfo;
}

/** A system call a thread is stopped at the return of. */
export interface StoppedCall {
  readonly nr: number;
  /** Its result, signed. */
  readonly result: bigint;
  /** Its arguments as passed (the first from where the ABI keeps it when the result took its register). */
  readonly args: readonly bigint[];
  /** The thread's registers rewound to enter the call again with the same arguments (as for ERESTARTNOHAND). */
  again(): ThreadInfo;
}

/** One missing CPU feature, ready for an error line. */
export interface MissingFeature {
  readonly name: string;
  readonly bits: readonly number[];
  readonly message: string;
  /** Set when only the dumping CPU's feature words name it: 'SME (HWCAP2_SME)', listed with the others in one clause. */
  readonly dumpingCpu?: string;
}

/** One CPU fact for `cryo check` (never required: the architecture itself is the required line). */
export interface CpuFeatureLine {
  readonly name: string;
  readonly present: boolean;
  /** What was found, e.g. 'XCR0 0x2e7: x87 FPU, SSE, AVX'. */
  readonly detail?: string;
  /** When absent: what that means for cryo. */
  readonly meaning?: string;
  readonly error?: string;
}

export type { ByteOrder };

/**
 * An architecture bound to the CPU it runs on (register layouts that the CPU
 * defines, such as x86's xsave offsets, come from its probe).
 */
export interface Arch {
  /** cryo's name, also src/arch/<name>/. */
  readonly name: string;
  /**
   * The user ABI of the tasks this Arch describes: its name for the machine's own, another for a
   * task of a second ABI the machine runs (x86_64's 'ia32'); forTask/forThreadInfo pick it.
   */
  readonly abi: string;
  /** Node's process.arch value for it. */
  readonly nodeArch: string;
  /** The core image's `mtype` (march enum value name). */
  readonly criuMarch: string;
  /** The core entry field holding thread_info ('thread_info' on x86, 'ti_aarch64', 'ti_ppc64', 'ti_s390'). */
  readonly threadInfoField: string;
  readonly pageSize: number;
  /** Bytes of a pointer and a long in the task (4 for an ia32 task). */
  readonly wordSize: 4 | 8;
  /** Regsets to read from each thread, in order. */
  readonly regsets: readonly RegsetSpec[];
  /**
   * Bytes below SP the interrupted code may still use without moving SP (the psABI red zone:
   * 128 on x86_64 and ppc64, 0 on aarch64 and s390x); a signal frame goes below them.
   */
  readonly redZone: number;
  /** The alignment a signal frame's address needs (x86_64: 64, for its xsave area). */
  readonly sigframeAlign: number;
  /**
   * The top of the user address range mmap hands out without a hint above it (the kernel's
   * DEFAULT_MAP_WINDOW; x86_64: 1 << 47 even with 5-level paging). Cryo's own areas go below it.
   */
  readonly mmapTop: bigint;
  /**
   * The alignment the kernel gives a shared mapping it places itself in an address-randomized task
   * (s390x: 512 KiB, its MMAP_ALIGN_MASK; an io_uring ring, which cannot be placed by cryo). Absent: a page.
   */
  readonly sharedMmapAlign?: number;
  /**
   * Where the user address space ends (the kernel's TASK_SIZE), when it can be smaller than the
   * dumping kernel's (ppc64: by page size): restore refuses a dump with memory above it. Absent: not checked.
   */
  readonly userTop?: bigint;
  /** Kernel ABI numbers and layouts of this architecture. */
  readonly kernelAbi: KernelAbi;

  /**
   * Dump: the state of stopped thread `tid` that ptrace gives outside the regsets and thread_info
   * holds (x86_64: GDT TLS slots, shadow-stack status); clearTidAddr is the caller's. May call src/sys.
   */
  readThreadExtras(tid: number): ThreadExtras;
  /** Dump: the thread's regsets (and the state read beside them) -> its thread_info. */
  threadInfoFromRegsets(regsets: Regsets, extras?: ThreadExtras): ThreadInfo;
  /** Restore (by ptrace): thread_info -> regset bytes for this CPU. Exact inverse of the above. */
  regsetsFromThreadInfo(ti: ThreadInfo): Regsets;
  /**
   * Why a thread_info is of a task mode restore cannot bring back here (x86_64: a 32-bit task),
   * as words for an error line ('a 32-bit (COMPAT) process'); undefined for a native task.
   */
  unrestorableMode(ti: ThreadInfo): string | undefined;
  /** Restore (the normal way): an rt_sigframe that rt_sigreturn turns into the thread's registers. */
  buildSigframe(ti: ThreadInfo, opts: SigframeOptions): Sigframe;
  /**
   * Registers rt_sigreturn does not restore; restore sets them by ptrace (regsetsFromThreadInfo) before the
   * rt_sigreturn is injected. Names of thread_info register fields.
   */
  readonly notRestoredBySigreturn: readonly string[];
  /**
   * Optional: regsets (NT_*) restore writes by ptrace, from regsetsFromThreadInfo, before the
   * rt_sigreturn is injected, because the frame has no place for them (s390x: guarded storage,
   * runtime instrumentation). Absent: only syscall.regsNt is written.
   */
  readonly regsetsBeforeSigreturn?: readonly number[];
  /**
   * Optional (dump): code that runs one system call and then rt_sigreturn (x86_64: `syscall`,
   * `mov $15,%eax`, `syscall`), for a thread whose own state a signal frame from buildSigframe gives
   * back; undefined for one it cannot (x86_64: a thread with a shadow stack, whose rt_sigreturn
   * wants a restore token). A dump runs its injected calls on it with SP on such a frame, so that a
   * task whose cryo dies inside one runs on with its own state (inject/call-ending.ts). Absent: that
   * task runs on with cryo's registers and every signal blocked. The rt_sigreturn part starts right
   * after the first syscall instruction (syscall.ipAfter of the code's start): a thread stopped
   * elsewhere and put there runs straight into it (Injector.finishEnded).
   */
  callThenSigreturn?(ti: ThreadInfo): Buffer | undefined;
  /**
   * Optional (dump): code that runs one call, then puts back the thread's registers (`ti`, the
   * syscall restart applied as for callThenSigreturn) and signal mask itself and jumps to its IP,
   * using no stack and no frame: small enough for the vDSO's unused tail, it carries the calls that
   * map and unmap cryo's call-ending area (inject/vdso-spare.ts). Absent: those run without it.
   */
  callThenRestore?(ti: ThreadInfo, sigmask: bigint): Buffer | undefined;

  /**
   * Learns CPU-defined layouts (x86 xsave offsets) from a regset read on this machine, for when the
   * probe could not tell; harmless otherwise.
   */
  calibrate(regsets: Regsets): void;

  /** How cryo runs system calls in a stopped task of this ABI (dump and restore alike). */
  readonly syscall: SyscallAbi;
  /**
   * The syscall ABI the task's own code uses. Calls whose effect depends on the ABI that makes
   * them go through it: rt_sigaction (the frame a handler gets), set/get_robust_list (which list
   * head the kernel walks), rt_sigreturn (the frame it reads). The same object as `syscall` for
   * the machine's own ABI.
   */
  readonly taskSyscall: SyscallAbi;
  /** struct sigaction as taskSyscall's rt_sigaction reads and writes it. */
  readonly sigaction: SigactionLayout;
  /** Where the robust-futex list head is read at dump: by get_robust_list(TID) from cryo, or only by the task's own ABI. */
  readonly robustList: 'outside' | 'task';
  /** The Arch of the ABI stopped task `pid` runs in (may read its registers). */
  forTask(pid: number): Arch;
  /** The Arch of the ABI a dumped thread ran in. */
  forThreadInfo(ti: ThreadInfo): Arch;
  /** Why this machine cannot run tasks of this ABI (a missing kernel feature), or undefined when it can. */
  cannotRun(): string | undefined;
  /** Restore: thread state ptrace sets before rt_sigreturn (x86: the GDT TLS slots). */
  writeThreadExtras(tid: number, ti: ThreadInfo): void;
  readonly restartRules: readonly RestartRule[];
  /**
   * Applies the dump-time restart rule to a thread stopped in a syscall: the image's action, or
   * with 'onRunOn' the call ending frame's (RestartRule.onRunOn).
   */
  fixSyscallRestart(ti: ThreadInfo, use?: RestartUse): RegsFix;
  /**
   * The system call a thread stopped at the return of, as its registers show it (undefined: none,
   * or the registers do not tell), with the registers that run it again.
   */
  stoppedCall(ti: ThreadInfo): StoppedCall | undefined;

  /**
   * CPU state in the image this CPU cannot hold, or features of the dump's CPU (its cpuinfo.img
   * entry, or its cryo-cpu.img entry, when there is one) this CPU lacks; empty when the image can run here.
   */
  missingCpuFeatures(ti: ThreadInfo, cpuinfo?: ImageRecord, cryoCpu?: ImageRecord): MissingFeature[];
  /** Dump: this CPU's cpuinfo.img contents (CRIU's cpuinfo_entry), where the architecture records one. */
  cpuinfo?(): ImageRecord;
  /**
   * Dump: this CPU's feature words for cryo-cpu.img ({ hwcap: [AT_HWCAP, AT_HWCAP2] }), where CRIU's
   * cpuinfo_entry has no field for the architecture.
   */
  cryoCpu?(): ImageRecord;
  /** The byte order a dump was made in, as its cpuinfo.img says (undefined: it does not say). */
  imageByteOrder?(cpuinfo: ImageRecord): ByteOrder | undefined;
  /** The byte order of this machine's tasks (kernel structs, registers in memory, instructions); src/arch/regtable.ts reads regsets so. */
  readonly byteOrder: ByteOrder;
  /** The thread's instruction and stack pointer as the image holds them (the live ones). */
  threadPointers(ti: ThreadInfo): { ip: bigint; sp: bigint };
  /** CPU state the task uses that the image format cannot hold (e.g. x86 AMX tiles); dump must refuse. */
  unsavableState(regsets: Regsets): MissingFeature[];

  /** Allocation tags of memory (aarch64 MTE), where the architecture has them: dump saves, restore puts back. */
  readonly memoryTags?: MemoryTagSpec;
  /** Protection bits /proc shows only as smaps VmFlags (aarch64 BTI): dump keeps them in a VMA's prot. */
  readonly protVmFlags?: readonly ProtVmFlag[];

  readonly vdso: VdsoNames;

  /** What this CPU offers of the state the architecture saves, one line per feature, for `cryo check`. */
  cpuReport(): CpuFeatureLine[];
}

export interface ArchFactory {
  readonly name: string;
  readonly nodeArch: string;
  /** The same as the created Arch's: data that needs no CPU probe (src/arch/host-abi.ts hostKernelAbi()). */
  readonly kernelAbi: KernelAbi;
  /** Binds the architecture to this CPU; without a probe it uses the architecture's documented defaults. */
  create(probe?: CpuProbe): Arch;
}

/**
 * An mmap/mprotect protection bit that /proc/PID/maps does not show and smaps shows as a VmFlag (aarch64
 * PROT_BTI, "bt"): dump adds it to the VMA's prot, so restore maps with it; preflight refuses it on a
 * CPU without the feature (mmap would fail there with EINVAL).
 */
export interface ProtVmFlag {
  readonly vmFlag: string;
  readonly protBit: number;
  /** What such pages are, for refusals ('BTI-guarded pages'). */
  readonly pages: string;
  /** The feature and its name, for refusals ('branch target identification (BTI)', 'HWCAP2_BTI'). */
  readonly feature: string;
  readonly featureName: string;
  /** Whether this CPU and kernel have it. */
  readonly present: boolean;
}

/**
 * Memory whose every `granule` bytes carry a tag the CPU checks on access (aarch64 MTE): which VMAs
 * (their smaps VmFlags mnemonic), the mmap/mprotect bit that gives a mapping tags, and the ptrace
 * requests that read and write one tag byte per granule (iovec in data, the address in addr).
 */
export interface MemoryTagSpec {
  readonly vmFlag: string;
  readonly protBit: number;
  readonly granule: number;
  readonly peekRequest: number;
  readonly pokeRequest: number;
  /** The feature, for refusals ('memory tagging (MTE)'). */
  readonly feature: string;
  /** Whether this CPU and kernel have it. */
  readonly present: boolean;
}
