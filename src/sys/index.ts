/**
 * src/sys: the only place in cryo that calls libc or the kernel directly.
 *
 * Why a small N-API addon (native/cryo_sys.c) and not an FFI library: koffi ships no s390x
 * binary, and one tiny C file compiled at install time with the system C compiler against
 * Node's own headers (no node-gyp) builds the same way on x86_64, aarch64, ppc64le and s390x.
 * The C side is deliberately generic: a raw `syscall(nr, a0..a5)`, `addressOf(buffer)`, a
 * clone3+execve `spawn` (the only code that must run in a forked child of a multi-threaded
 * process, where only async-signal-safe work is allowed), and x86 cpuid/xgetbv. Everything
 * else (ptrace, wait, process_vm_*, pidfd, kcmp, ...) is TypeScript over the raw syscall and the
 * per-architecture syscall tables in src/sys/syscalls/<arch>.ts.
 *
 * Threading: every call here is synchronous on the calling (main JS) thread. ptrace requests are
 * only accepted from the thread that attached, so all tracing stays on that one thread.
 */
export { ERRNO, SysError, errnoName } from './errno.js';
export { rawSyscall, syscallAs, addressOf, mmapOwn, type SysArg } from './raw.js';
export { SYSCALL_TABLES, syscallNumber, syscallTableFor, type SyscallTable } from './syscall-table.js';
// ptrace calls both flat (seize, getRegset, ...) and as a namespace (ptrace.seize, ...).
export * from './ptrace.js';
export * as ptrace from './ptrace.js';
export * from './wait.js';
export * from './poll.js';
export * from './memory.js';
export * from './pidfd.js';
export { spawn, type SpawnOptions } from './spawn.js';
export * from './misc.js';
export * from './pagemap-scan.js';
export { hostCpuid, type HostCpuid, type CpuidRegs } from './cpu.js';
export {
  HOST_LITTLE_ENDIAN, readU64, writeU64, readU32, writeU32, readI32, writeI32, readU16, writeU16, writeI16, readI64, writeI64, iovecBytes,
} from './native-endian.js';
export * from './userfaultfd.js';
