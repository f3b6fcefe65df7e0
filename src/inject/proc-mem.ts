/** Writes into a task's memory through /proc/PID/mem, which (as for a debugger's breakpoints) writes where the task may not. */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Writes `bytes` at `addr` of task `pid`; false where the kernel refuses (proc_mem.force_override=never). */
export function writeForced(pid: number, addr: bigint, bytes: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r+');
  } catch {
    return false;
  }
  try {
    return writeSync(fd, bytes, 0, bytes.length, Number(addr)) === bytes.length;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
