// mm-PID.img's mm_entry: the mm_* fields, auxv and VMAs of the address space.
import { readAuxv, type ProcStat } from '../proc/index.js';
import { type MessageValue } from '../images/index.js';
import { isAioRing, type DumpVma } from './vmas.js';
import { aioRequestFor, aioSlots } from '../shared/aio-ring.js';
import type { Range } from '../shared/ranges.js';
import { guardEntry } from './guards.js';

/**
 * mm_saved_auxv: the kernel's saved auxv as 64-bit words, as CRIU keeps it. A task with 32-bit
 * words (ia32) has two of its words in each, so the words written back at restore are its bytes.
 */
export function savedAuxvWords(pid: number, wordSize: 4 | 8): bigint[] {
  const entries = readAuxv(pid, wordSize);
  if (wordSize === 8) return entries.flatMap((e) => [BigInt(e.type), e.value]);
  return entries.map((e) => (e.value << 32n) | BigInt(e.type));
}

/**
 * The mm_entry: mm_* from /proc/PID/stat, brk from the task, auxv, VMAs (then the guard regions,
 * after them as CRIU 4.2 puts them), exe id, dumpable, THP.
 */
export function mmEntry(pid: number, stat: ProcStat, brk: bigint, exeFileId: number, vmas: readonly DumpVma[], guards: readonly Range[], dumpable: number, thpDisabled: boolean, wordSize: 4 | 8 = 8): MessageValue {
  return {
    mm_start_code: stat.startCode, mm_end_code: stat.endCode, mm_start_data: stat.startData, mm_end_data: stat.endData,
    mm_start_stack: stat.startStack, mm_start_brk: stat.startBrk, mm_brk: brk,
    mm_arg_start: stat.argStart, mm_arg_end: stat.argEnd, mm_env_start: stat.envStart, mm_env_end: stat.envEnd,
    exe_file_id: exeFileId,
    mm_saved_auxv: savedAuxvWords(pid, wordSize),
    vmas: [...vmas.map((d) => d.entry), ...guards.map(guardEntry)],
    dumpable,
    thp_disabled: thpDisabled,
    ...aioEntries(vmas),
  };
}

/** mm_entry.aios: each libaio ring's address (its context id), length and the io_setup() size that makes it again. */
function aioEntries(vmas: readonly DumpVma[]): { aios?: MessageValue[] } {
  const rings = vmas.filter(isAioRing);
  if (rings.length === 0) return {};
  return { aios: rings.map((d) => {
    const len = d.vma.end - d.vma.start;
    return { id: d.vma.start, nr_req: aioRequestFor(aioSlots(len)), ring_len: Number(len) };
  }) };
}
