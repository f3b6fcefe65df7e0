/**
 * The host's syscall numbers: one table per architecture (src/arch/<arch>/syscalls.ts, generated
 * from the kernel's own tables), picked by process.arch through a lookup table.
 */
import { syscalls as x86_64 } from '../arch/x86_64/syscalls.js';
import { syscalls as aarch64 } from '../arch/aarch64/syscalls.js';
import { syscalls as ppc64 } from '../arch/ppc64/syscalls.js';
import { syscalls as s390x } from '../arch/s390x/syscalls.js';

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
