/**
 * The vDSO's unused tail as a place for a few hundred bytes of cryo's code (issue 15). The first
 * call of a dump into a process maps cryo's call-ending area, and the last unmaps it: neither can
 * run on that area, and killed inside them cryo used to leave the task running on with cryo's
 * registers. The vDSO is an ELF image padded to whole pages; past its headers and sections the
 * bytes are zero and nothing reads or runs them. cryo writes Arch.callThenRestore's code there
 * (through /proc/PID/mem, which copies the page for this task alone, as a debugger's breakpoint
 * does) for each of those two calls, and writes the old bytes back once the thread holds its own
 * registers again: the dumped pages, read in between, are the task's own. Killed while the code is
 * there, the task keeps a copy of its vDSO page with unused bytes changed.
 */
import { processVmReadv } from '../sys/index.js';
import type { Vma } from '../proc/index.js';
import { writeForced } from './proc-mem.js';

export interface VdsoSpare {
  /** Where the code is. */
  readonly at: bigint;
  /** Writes the zeros back; false where the kernel refused. */
  erase(): boolean;
  /** Writes the code again (after erase); false where the kernel refused. */
  write(): boolean;
}

/** The end of what the ELF image `b` uses (headers, segments, sections); undefined if it is no ELF image. */
export function elfExtent(b: Buffer): number | undefined {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const wide = b[4] === 2;
  const le = b[5] === 1;
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (o: number) => (wide ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(o));
  const [phoff, shoff] = wide ? [word(0x20), word(0x28)] : [word(0x1c), word(0x20)];
  const [phentsize, phnum, shentsize, shnum] = wide ? [u16(0x36), u16(0x38), u16(0x3a), u16(0x3c)] : [u16(0x2a), u16(0x2c), u16(0x2e), u16(0x30)];
  let end = Math.max(wide ? 64 : 52, phoff + phentsize * phnum, shoff + shentsize * shnum);
  if (end > b.length) return undefined;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    const [off, filesz] = wide ? [word(p + 8), word(p + 32)] : [u32(p + 4), u32(p + 16)];
    end = Math.max(end, off + filesz);
  }
  const SHT_NOBITS = 8;
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shentsize;
    if (u32(s + 4) === SHT_NOBITS) continue;
    const [off, size] = wide ? [word(s + 24), word(s + 32)] : [u32(s + 16), u32(s + 20)];
    end = Math.max(end, off + size);
  }
  return end <= b.length ? end : undefined;
}

/**
 * Writes `code` at the end of the vDSO (`vdsoName` in `maps`) of task `pid`, 16-byte aligned, past
 * what its ELF image uses; undefined where there is no room or the write is refused.
 */
export function writeInVdsoSpare(pid: number, maps: readonly Vma[], vdsoName: string, code: Buffer): VdsoSpare | undefined {
  const vdso = maps.find((v) => v.name === vdsoName && v.exec);
  if (vdso === undefined) return undefined;
  let image: Buffer;
  try {
    image = processVmReadv(pid, vdso.start, Number(vdso.end - vdso.start));
  } catch {
    return undefined;
  }
  const used = elfExtent(image);
  const offset = (image.length - code.length) & ~15;
  if (used === undefined || offset < used + 16) return undefined;
  const at = vdso.start + BigInt(offset);
  // Put back as found: zeros, or what a cryo killed during an earlier dump left there.
  const was = Buffer.from(image.subarray(offset, offset + code.length));
  if (!writeForced(pid, at, code)) return undefined;
  return { at, erase: () => writeForced(pid, at, was), write: () => writeForced(pid, at, code) };
}
