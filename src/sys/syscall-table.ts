/**
 * The host's syscall numbers: one table per architecture (src/sys/syscalls/<arch>.ts, generated
 * from the kernel's own tables), picked by process.arch through a lookup table. The numbers are the
 * syscall layer's own data (as libc's are libc's): every raw call of src/sys needs them, and the
 * architectures' code (src/arch, above sys) reads them from here.
 */
import { syscalls as x86_64 } from './syscalls/x86_64.js';
import { syscalls as aarch64 } from './syscalls/aarch64.js';
import { syscalls as ppc64 } from './syscalls/ppc64.js';
import { syscalls as s390x } from './syscalls/s390x.js';

export type SyscallTable = Readonly<Record<string, number>>;

/** process.arch -> that architecture's syscall table (64-bit ABIs only). */
export const SYSCALL_TABLES: Readonly<Record<string, SyscallTable>> = Object.freeze({
  x64: x86_64,
  arm64: aarch64,
  ppc64: ppc64,
  s390x: s390x,
});

/** The table for a process.arch value; throws a one-line error on an architecture cryo does not support. */
export function syscallTableFor(arch: string): SyscallTable {
  const table = SYSCALL_TABLES[arch];
  if (!table) {
    throw new Error(`cryo does not support the ${arch} architecture (supported: ${Object.keys(SYSCALL_TABLES).join(', ')})`);
  }
  return table;
}

/** The number of a syscall on an architecture (host by default); throws on an unknown name. */
export function syscallNumber(name: string, arch: string = process.arch): number {
  const nr = syscallTableFor(arch)[name];
  if (nr === undefined) throw new Error(`no syscall named ${name} on ${arch}`);
  return nr;
}
