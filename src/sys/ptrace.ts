/**
 * ptrace wrappers. Every call is a synchronous syscall on the calling (main JS) thread: the kernel
 * only accepts ptrace requests from the thread that attached, so cryo keeps all tracing on that one
 * thread and never moves it to a worker or the libuv pool.
 */
import { syscallAs, addressOf, type SysArg } from './raw.js';
import { iovecBytes, readU32, readU64, writeI32, writeU32, writeU64 } from './native-endian.js';
import { NT_NAMES, PTRACE, PTRACE_PEEKSIGINFO_SHARED, PTRACE_REQUEST_NAMES } from './ptrace-constants.js';

export * from './ptrace-constants.js';

/** Size of siginfo_t on every Linux architecture. */
export const SIGINFO_SIZE = 128;

function regsetName(nt: number): string {
  return NT_NAMES.get(nt) ?? `0x${nt.toString(16)}`;
}

/** ptrace(request, pid, addr, data) with errors named `ptrace(NAME, pid[, detail])`. */
export function ptraceRequest(request: number, pid: number, addr: SysArg = 0, data: SysArg = 0, detail?: string): bigint {
  const name = PTRACE_REQUEST_NAMES.get(request) ?? String(request);
  return syscallAs(`ptrace(${name}, ${pid}${detail ? `, ${detail}` : ''})`, 'ptrace', request, pid, addr, data);
}

/** A struct iovec {base, len} pointing at `buf`. */
function iovec(buf: Buffer): Buffer {
  return iovecBytes(addressOf(buf), buf.length);
}

/** The same, under its short name within the namespace: ptrace.ptrace(PTRACE.X, pid, ...). */
export { ptraceRequest as ptrace };

/** Attach without stopping the task (PTRACE_SEIZE); `options` are PTRACE_O_* bits. */
export function seize(pid: number, options = 0): void {
  ptraceRequest(PTRACE.SEIZE, pid, 0, options);
}

/** Stop a seized task (PTRACE_INTERRUPT); wait for the stop with waitForStop. */
export function interrupt(pid: number): void {
  ptraceRequest(PTRACE.INTERRUPT, pid);
}

/** Leave a group-stopped, seized task in group-stop but let it report further events (PTRACE_LISTEN). */
export function listen(pid: number): void {
  ptraceRequest(PTRACE.LISTEN, pid);
}

/** Set PTRACE_O_* options on an attached task. */
export function setOptions(pid: number, options: number): void {
  ptraceRequest(PTRACE.SETOPTIONS, pid, 0, options);
}

/** Read a register set (NT_* id); the result is trimmed to the length the kernel filled in. */
export function getRegset(pid: number, nt: number, maxBytes: number): Buffer {
  // Read into one reused buffer and copied out at the size the kernel gave: not a zeroed maxBytes
  // (16 KiB for x86's xstate) per call, which 100 threads' dump paid for in allocation and GC.
  if (regsetBuf.length < maxBytes) regsetBuf = Buffer.alloc(maxBytes);
  const buf = regsetBuf.subarray(0, maxBytes);
  const iov = iovec(buf);
  ptraceRequest(PTRACE.GETREGSET, pid, nt, iov, regsetName(nt));
  return Buffer.from(buf.subarray(0, Number(readU64(iov, 8))));
}
let regsetBuf = Buffer.alloc(0);

/** Write a register set (NT_* id) from `buf` (the whole buffer is passed). */
export function setRegset(pid: number, nt: number, buf: Buffer): void {
  ptraceRequest(PTRACE.SETREGSET, pid, nt, iovec(buf), regsetName(nt));
}

/** The siginfo of the signal that caused the current stop (128 bytes). */
export function getSiginfo(pid: number): Buffer {
  const buf = Buffer.alloc(SIGINFO_SIZE);
  ptraceRequest(PTRACE.GETSIGINFO, pid, 0, buf);
  return buf;
}

/** Replace the siginfo of the current stop (128 bytes). */
export function setSiginfo(pid: number, siginfo: Buffer): void {
  if (siginfo.length < SIGINFO_SIZE) throw new Error(`setSiginfo needs ${SIGINFO_SIZE} bytes, got ${siginfo.length}`);
  ptraceRequest(PTRACE.SETSIGINFO, pid, 0, siginfo);
}

/** The task's blocked-signal mask (bit n-1 = signal n). */
export function getSigmask(pid: number): bigint {
  const buf = Buffer.alloc(8);
  ptraceRequest(PTRACE.GETSIGMASK, pid, 8, buf);
  return readU64(buf, 0);
}

/** Set the task's blocked-signal mask (bit n-1 = signal n). */
export function setSigmask(pid: number, mask: bigint): void {
  const buf = Buffer.alloc(8);
  writeU64(buf, mask, 0);
  ptraceRequest(PTRACE.SETSIGMASK, pid, 8, buf);
}

/**
 * Read queued signals without dequeuing them: up to `count` siginfos starting at `offset` in the
 * thread's queue, or the process-wide queue when `shared`. Returns one 128-byte Buffer per signal.
 */
export function peekSiginfo(pid: number, offset: number, count: number, shared: boolean): Buffer[] {
  const args = Buffer.alloc(16); // struct ptrace_peeksiginfo_args { u64 off; u32 flags; s32 nr; }
  writeU64(args, BigInt(offset), 0);
  const flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0;
  writeU32(args, flags, 8);
  writeI32(args, count, 12);
  const out = Buffer.alloc(SIGINFO_SIZE * count);
  const n = Number(ptraceRequest(PTRACE.PEEKSIGINFO, pid, args, out, shared ? 'shared' : 'private'));
  return Array.from({ length: n }, (_, i) => out.subarray(i * SIGINFO_SIZE, (i + 1) * SIGINFO_SIZE));
}

/** The task's registered rseq area (struct ptrace_rseq_configuration). rseqAbiPointer 0 = none. */
export interface RseqConfiguration {
  rseqAbiPointer: bigint;
  rseqAbiSize: number;
  signature: number;
  flags: number;
}

export function getRseqConfiguration(pid: number): RseqConfiguration {
  const buf = Buffer.alloc(32);
  ptraceRequest(PTRACE.GET_RSEQ_CONFIGURATION, pid, buf.length, buf);
  const u32 = (off: number) => readU32(buf, off);
  return { rseqAbiPointer: readU64(buf, 0), rseqAbiSize: u32(8), signature: u32(12), flags: u32(16) };
}

/** The classic-BPF program of the task's seccomp filter `index` (0 = most recently installed), as sock_filter[] bytes (8 each). */
export function seccompGetFilter(pid: number, index: number): Buffer {
  const count = Number(ptraceRequest(PTRACE.SECCOMP_GET_FILTER, pid, index, 0, `filter ${index}`));
  const buf = Buffer.alloc(count * 8);
  const got = Number(ptraceRequest(PTRACE.SECCOMP_GET_FILTER, pid, index, buf, `filter ${index}`));
  return buf.subarray(0, got * 8);
}

/** Resume for one instruction, delivering signal `sig` (0 = none). */
export function singleStep(pid: number, sig = 0): void {
  ptraceRequest(PTRACE.SINGLESTEP, pid, 0, sig);
}

/** Resume until the next syscall entry or exit (PTRACE_SYSCALL), delivering `sig`. */
export function syscallStep(pid: number, sig = 0): void {
  ptraceRequest(PTRACE.SYSCALL, pid, 0, sig);
}

/** Resume, delivering `sig` (0 = none). */
export function cont(pid: number, sig = 0): void {
  ptraceRequest(PTRACE.CONT, pid, 0, sig);
}

/** Detach, letting the task run on, delivering `sig` (0 = none). */
export function detach(pid: number, sig = 0): void {
  ptraceRequest(PTRACE.DETACH, pid, 0, sig);
}

/** The message of the last ptrace event (new PID for fork/clone, exit status for EXIT, ...). */
export function getEventMsg(pid: number): bigint {
  const buf = Buffer.alloc(8);
  ptraceRequest(PTRACE.GETEVENTMSG, pid, 0, buf);
  return readU64(buf, 0);
}

/** Read one machine word (8 bytes) of the task's memory at `addr`. */
export function peekData(pid: number, addr: bigint): bigint {
  const buf = Buffer.alloc(8);
  ptraceRequest(PTRACE.PEEKDATA, pid, addr, buf, `0x${addr.toString(16)}`);
  return readU64(buf, 0);
}

/** Write one machine word (8 bytes, native byte order) into the task's memory at `addr`. */
export function pokeData(pid: number, addr: bigint, word: bigint): void {
  ptraceRequest(PTRACE.POKEDATA, pid, addr, BigInt.asUintN(64, word), `0x${addr.toString(16)}`);
}
