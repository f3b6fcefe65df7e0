/** The raw syscall entry by name, with SysError on failure. Everything else in src/sys is built on it. */
import { SysError } from './errno.js';
import { native, type NativeError, type SysArg } from './native.js';
import { syscallNumber } from './syscall-table.js';

export type { SysArg } from './native.js';

/** How an argument appears in an error message: numbers in decimal, bigints in hex, buffers by size. */
function describeArg(a: SysArg): string {
  if (typeof a === 'bigint') return `0x${(a < 0n ? a + (1n << 64n) : a).toString(16)}`;
  if (typeof a === 'number') return String(a);
  if (a === null || a === undefined) return '0';
  return `<${a.byteLength} bytes>`;
}

/** Turns an error thrown by the addon into a SysError naming `call`; rethrows anything else. */
export function toSysError(err: unknown, call: string): never {
  const e = err as NativeError;
  if (e && typeof e.errno === 'number') throw new SysError(e.errno, call);
  throw err;
}

/**
 * Calls a syscall by name through the host's table, e.g. rawSyscall('getpid').
 * Up to six arguments; a Buffer/TypedArray passes the address of its data. Returns the result as a
 * signed bigint. Throws SysError `ENAME from name(args)`; `callText` replaces the generated call text.
 */
export function rawSyscall(name: string, ...args: SysArg[]): bigint {
  return syscallAs(`${name}(${args.map(describeArg).join(', ')})`, name, ...args);
}

/** Like rawSyscall, with the call text for errors given explicitly (e.g. 'ptrace(SEIZE, 1234)'). */
export function syscallAs(callText: string, name: string, ...args: SysArg[]): bigint {
  if (args.length > 6) throw new RangeError(`${name}: a syscall takes at most 6 arguments, got ${args.length}`);
  const nr = syscallNumber(name);
  try {
    return native().syscall(nr, ...args);
  } catch (err) {
    return toSysError(err, callText);
  }
}

/**
 * mmap in cryo's own process. Not rawSyscall('mmap'): that call's convention is the
 * architecture's (s390x's takes a pointer to a block of its six arguments), libc's mmap knows it.
 */
export function mmapOwn(addr: SysArg, len: SysArg, prot: SysArg, flags: SysArg, fd: SysArg, offset: SysArg): bigint {
  try {
    return native().mmap(addr, len, prot, flags, fd, offset);
  } catch (err) {
    return toSysError(err, `mmap(${[addr, len, prot, flags, fd, offset].map(describeArg).join(', ')})`);
  }
}

/** The address of a Buffer's data in this process, for building structs that point at buffers. */
export function addressOf(buf: ArrayBufferView | ArrayBuffer): bigint {
  return native().addressOf(buf);
}
