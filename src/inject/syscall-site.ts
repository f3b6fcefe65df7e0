/**
 * Where in the task an injected system call runs: an existing copy of the architecture's syscall
 * instruction, so that dumping never writes to the task's memory. The [vdso] always has one (its
 * fallback paths call the kernel); any other executable mapping is the fallback.
 */
import { processVmReadv } from '../sys/index.js';
import { readMaps, type Vma } from '../proc/index.js';
import { InjectError } from './errors.js';

/** Bytes of one mapping, or undefined when it cannot be read (e.g. [vsyscall], execute-only). */
function readMapping(pid: number, vma: Vma): Buffer | undefined {
  try {
    const len = Number(vma.end - vma.start);
    const buf = processVmReadv(pid, vma.start, Math.min(len, 1 << 20));
    return buf.length > 0 ? buf : undefined;
  } catch {
    return undefined;
  }
}

/** The address of a syscall instruction in `pid`, preferring the vdso. */
export function findSyscallSite(pid: number, instruction: Buffer, vdsoName: string, maps: readonly Vma[] = readMaps(pid), align = 1): bigint {
  const exec = maps.filter((v) => v.exec && v.kind !== 'vsyscall');
  const ordered = [...exec.filter((v) => v.name === vdsoName), ...exec.filter((v) => v.name !== vdsoName)];
  for (const vma of ordered) {
    const bytes = readMapping(pid, vma);
    if (!bytes) continue;
    const at = alignedIndexOf(bytes, instruction, align);
    if (at >= 0) return vma.start + BigInt(at);
  }
  throw new InjectError('NO_SYSCALL_SITE', `task ${pid} has no readable syscall instruction in its executable mappings: cryo cannot run system calls in it`);
}

/** The first copy of `needle` in `bytes` at a multiple of `align` (mappings start page-aligned). */
function alignedIndexOf(bytes: Buffer, needle: Buffer, align: number): number {
  for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
    if (at % align === 0) return at;
  }
  return -1;
}
