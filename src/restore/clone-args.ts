// clone3's struct clone_args (CLONE_ARGS_SIZE_VER2) as restore writes it: a process or thread of a
// given PID, each clone_args with its one-entry set_tid array right after it (a slot), in batches
// written to the scratch area.
import { writeU64 } from '../sys/index.js';
import { writeI32 } from '../sys/native-endian.js';

export const CLONE_FILES = 0x400n;
/**
 * Traced by cryo from its start (seized as its maker is, it stops before its first instruction),
 * with no fork or clone event stop of its maker's as PTRACE_O_TRACEFORK/TRACECLONE make.
 */
const CLONE_PTRACE = 0x2000n;
/** Field offsets: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup. */
export const CLONE_ARGS = { size: 88, flags: 0, exitSignal: 32, setTid: 64, setTidSize: 72 } as const;
/** A clone_args and its set_tid array. */
export const CLONE_SLOT = CLONE_ARGS.size + 8;
/** Where batched clone_args go in the scratch area (clear of task-state's offsets). */
export const SCRATCH_CLONE_ARGS = 8192;
/** The end of the scratch area is the injector's (argument blocks). */
export const SCRATCH_RESERVED = 64;

/** The slot of `pid` (clone `flags`, CLONE_PTRACE added) at `off` of `b`, its set_tid array at address `setTidAt`. */
export function writeCloneSlot(b: Buffer, off: number, pid: number, flags: bigint, exitSignal: number, setTidAt: bigint): void {
  writeU64(b, flags | CLONE_PTRACE, off + CLONE_ARGS.flags);
  writeU64(b, BigInt(exitSignal), off + CLONE_ARGS.exitSignal);
  writeU64(b, setTidAt, off + CLONE_ARGS.setTid);
  writeU64(b, 1n, off + CLONE_ARGS.setTidSize);
  writeI32(b, pid, off + CLONE_ARGS.size);
}
