/**
 * ptrace request numbers, options, events and ELF note types (regset ids), as data.
 * The generic requests are the same on all four architectures; arch-only note types are named
 * with their architecture (NT_X86_*, NT_ARM_*, NT_PPC_*, NT_S390_*) and simply fail with EINVAL/EIO elsewhere.
 */

/** Requests (include/uapi/linux/ptrace.h). */
export const PTRACE = Object.freeze({
  TRACEME: 0, PEEKTEXT: 1, PEEKDATA: 2, PEEKUSR: 3, POKETEXT: 4, POKEDATA: 5, POKEUSR: 6, CONT: 7, KILL: 8,
  SINGLESTEP: 9, ATTACH: 16, DETACH: 17, SYSCALL: 24,
  SETOPTIONS: 0x4200, GETEVENTMSG: 0x4201, GETSIGINFO: 0x4202, SETSIGINFO: 0x4203, GETREGSET: 0x4204,
  SETREGSET: 0x4205, SEIZE: 0x4206, INTERRUPT: 0x4207, LISTEN: 0x4208, PEEKSIGINFO: 0x4209,
  GETSIGMASK: 0x420a, SETSIGMASK: 0x420b, SECCOMP_GET_FILTER: 0x420c, SECCOMP_GET_METADATA: 0x420d,
  GET_SYSCALL_INFO: 0x420e, GET_RSEQ_CONFIGURATION: 0x420f,
  SET_SYSCALL_USER_DISPATCH_CONFIG: 0x4210, GET_SYSCALL_USER_DISPATCH_CONFIG: 0x4211,
} as const);

/** request number -> name, for error messages ('ptrace(SEIZE, 1234)'). */
export const PTRACE_REQUEST_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(PTRACE).map(([name, nr]) => [nr, name]),
);

export const PTRACE_O_TRACESYSGOOD = 0x1;
export const PTRACE_O_TRACEFORK = 0x2;
export const PTRACE_O_TRACEVFORK = 0x4;
export const PTRACE_O_TRACECLONE = 0x8;
export const PTRACE_O_TRACEEXEC = 0x10;
export const PTRACE_O_TRACEVFORKDONE = 0x20;
export const PTRACE_O_TRACEEXIT = 0x40;
export const PTRACE_O_TRACESECCOMP = 0x80;
export const PTRACE_O_EXITKILL = 0x100000;
export const PTRACE_O_SUSPEND_SECCOMP = 0x200000;

export const PTRACE_EVENT_FORK = 1;
export const PTRACE_EVENT_VFORK = 2;
export const PTRACE_EVENT_CLONE = 3;
export const PTRACE_EVENT_EXEC = 4;
export const PTRACE_EVENT_VFORK_DONE = 5;
export const PTRACE_EVENT_EXIT = 6;
export const PTRACE_EVENT_SECCOMP = 7;
/** Reported for group-stops and PTRACE_INTERRUPT stops of a SEIZEd task. */
export const PTRACE_EVENT_STOP = 128;

/** PTRACE_PEEKSIGINFO flag: read the process-wide (shared) queue instead of the thread's. */
export const PTRACE_PEEKSIGINFO_SHARED = 1;

/** ELF note types, used as regset ids with PTRACE_GETREGSET/SETREGSET (include/uapi/linux/elf.h). */
export const NT = Object.freeze({
  PRSTATUS: 1, PRFPREG: 2, PRPSINFO: 3, TASKSTRUCT: 4, AUXV: 6,
  SIGINFO: 0x53494749, FILE: 0x46494c45, PRXFPREG: 0x46e62b7f,
  PPC_VMX: 0x100, PPC_SPE: 0x101, PPC_VSX: 0x102, PPC_TAR: 0x103, PPC_PPR: 0x104, PPC_DSCR: 0x105,
  PPC_EBB: 0x106, PPC_PMU: 0x107, PPC_TM_CGPR: 0x108, PPC_TM_CFPR: 0x109, PPC_TM_CVMX: 0x10a,
  PPC_TM_CVSX: 0x10b, PPC_TM_SPR: 0x10c, PPC_TM_CTAR: 0x10d, PPC_TM_CPPR: 0x10e, PPC_TM_CDSCR: 0x10f,
  PPC_PKEY: 0x110, PPC_DEXCR: 0x111, PPC_HASHKEYR: 0x112,
  I386_TLS: 0x200, I386_IOPERM: 0x201, X86_XSTATE: 0x202, X86_SHSTK: 0x204, X86_XSAVE_LAYOUT: 0x205,
  S390_HIGH_GPRS: 0x300, S390_TIMER: 0x301, S390_TODCMP: 0x302, S390_TODPREG: 0x303, S390_CTRS: 0x304,
  S390_PREFIX: 0x305, S390_LAST_BREAK: 0x306, S390_SYSTEM_CALL: 0x307, S390_TDB: 0x308,
  S390_VXRS_LOW: 0x309, S390_VXRS_HIGH: 0x30a, S390_GS_CB: 0x30b, S390_GS_BC: 0x30c, S390_RI_CB: 0x30d,
  S390_PV_CPU_DATA: 0x30e,
  ARM_VFP: 0x400, ARM_TLS: 0x401, ARM_HW_BREAK: 0x402, ARM_HW_WATCH: 0x403, ARM_SYSTEM_CALL: 0x404,
  ARM_SVE: 0x405, ARM_PAC_MASK: 0x406, ARM_PACA_KEYS: 0x407, ARM_PACG_KEYS: 0x408,
  ARM_TAGGED_ADDR_CTRL: 0x409, ARM_PAC_ENABLED_KEYS: 0x40a, ARM_SSVE: 0x40b, ARM_ZA: 0x40c,
  ARM_ZT: 0x40d, ARM_FPMR: 0x40e, ARM_POE: 0x40f, ARM_GCS: 0x410,
} as const);

export const NT_PRSTATUS = NT.PRSTATUS;
export const NT_PRFPREG = NT.PRFPREG;
export const NT_X86_XSTATE = NT.X86_XSTATE;

/** regset id -> 'NT_...' name, for error messages. */
export const NT_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(NT).map(([name, nr]) => [nr, `NT_${name}`]),
);
