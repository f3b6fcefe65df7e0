// Whether a task gets this kernel's vDSO where it had its own (the same vDSO: the common case) or
// its old vDSO's bytes back with every entry point patched to jump into this kernel's vDSO,
// mapped elsewhere (a vDSO that differs). Preflight asks with cryo's own vDSO, restore again with
// the stub's (the same kernel's); both refuse what cannot be patched, before anything starts.

import type { Arch, ThreadInfo } from '../arch/types.js';
import { PageReader, type PageRun } from '../images/pages.js';
import type { MessageValue } from '../images/value.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { RestoreError } from '../shared/restore-error.js';
import { VMA } from '../shared/vma-kinds.js';
import { elfFunctions, vdsoDifference } from './vdso-symbols.js';
import { elfExtent } from '../inject/vdso-spare.js';
import { dumpPageSize } from './page-size.js';
import { patchOverwriting, planVdsoTrampoline, type VdsoPlan } from './vdso-trampoline.js';

/** This kernel's vDSO as the restoring process sees it. */
export interface OwnVdso {
  size: bigint;
  /** Bytes of its data areas ([vvar] and kin) together. */
  dataSize: bigint;
  bytes(): Buffer;
}

export type VdsoChoice =
  | { kind: 'same' }
  | { kind: 'patched'; plan: VdsoPlan; dumped: Buffer; start: bigint; prot: number };

/** Far more than any kernel's vDSO (a few pages): a larger one is a damaged image, not memory to allocate. */
const MAX_VDSO = 16n << 20n;
const big = (v: unknown): bigint => BigInt(v as bigint | number);
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The runs of `reader` that overlap [start, end) (a sparse task has 100,000 runs, the vDSO a few pages). */
function* runsWithin(reader: PageReader, start: bigint, end: bigint, pageSize: number): Generator<PageRun> {
  const cols = reader.columns();
  const size = BigInt(pageSize);
  for (let i = 0; i < cols.count; i++) {
    const vaddr = cols.vaddr[i]!;
    if (vaddr < end && vaddr + BigInt(cols.nrPages[i]!) * size > start) yield reader.runAt(cols, i);
  }
}

/** The bytes the pages image holds for [start, end), or undefined when it does not hold them all. */
export function dumpedBytes(img: RestoreImages, start: bigint, end: bigint, pageSize: number): Buffer | undefined {
  const out = Buffer.alloc(Number(end - start));
  let have = 0;
  const reader = new PageReader(img.pagemapFile, undefined, pageSize);
  try {
    for (const run of runsWithin(reader, start, end, pageSize)) {
      const runEnd = run.vaddr + BigInt(run.nrPages * pageSize);
      if (run.offset < 0 || runEnd <= start || run.vaddr >= end) continue;
      const from = run.vaddr > start ? run.vaddr : start;
      const to = runEnd < end ? runEnd : end;
      reader.read(run.offset + Number(from - run.vaddr), Number(to - from), out.subarray(Number(from - start), Number(to - start)));
      have += Number(to - from);
    }
  } finally {
    reader.close();
  }
  return have === out.length ? out : undefined;
}

/** The last comparison (a tree's processes were dumped with one vDSO, and restore asks once per process). */
let lastCompared: { dumped: Buffer; mine: Buffer; diff: string | undefined } | undefined;

/**
 * The part of a dumped vDSO vdsoDifference reads: its ELF image (headers and sections), not the
 * spare bytes after it, where each process of a dump has its own (cryo's call-ending code:
 * inject/vdso-spare.ts); the whole of it where that end cannot be told.
 */
const elfPart = (b: Buffer): Buffer => b.subarray(0, elfExtent(b) ?? b.length);

/** How the dumped vDSO differs from this kernel's (undefined: not at all); the ELF parse is done once for the same ELF image. */
export function differenceOf(dumped: Buffer, mine: Buffer): string | undefined {
  if (lastCompared && lastCompared.dumped.length === dumped.length && elfPart(lastCompared.dumped).equals(elfPart(dumped)) && lastCompared.mine.equals(mine)) return lastCompared.diff;
  let diff: string | undefined;
  try {
    diff = vdsoDifference(dumped, mine);
  } catch (e) {
    diff = `the dumped one is not a readable ELF image: ${(e as Error).message}`;
  }
  lastCompared = { dumped, mine, diff };
  return diff;
}

/**
 * Each process's last choice and the vDSO it was made with (`mine` undefined: a choice the own
 * vDSO did not enter): preflight's, which the stub's (the same kernel's vDSO) finds again without
 * reading the dumped one from the pages a second time.
 */
const chosen = new WeakMap<RestoreImages, { arch: Arch; mine: Buffer | undefined; dataSize: bigint; choice: VdsoChoice }>();

export function chooseVdso(img: RestoreImages, arch: Arch, own: OwnVdso): VdsoChoice {
  const had = chosen.get(img);
  if (had !== undefined && had.arch === arch && (had.mine === undefined || (had.dataSize === own.dataSize && had.mine.equals(own.bytes())))) return had.choice;
  let mine: Buffer | undefined;
  const choice = chooseAgainst(img, arch, own, () => (mine ??= own.bytes()));
  chosen.set(img, { arch, mine, dataSize: own.dataSize, choice });
  return choice;
}

function chooseAgainst(img: RestoreImages, arch: Arch, own: OwnVdso, ownBytes: () => Buffer): VdsoChoice {
  const vmas = (img.mm.vmas as MessageValue[] | undefined) ?? [];
  const vdso = vmas.find((v) => Number(v.status) & VMA.VDSO);
  const vvar = vmas.find((v) => Number(v.status) & VMA.VVAR);
  if (vdso === undefined) return { kind: 'same' }; // restore says that it needs one
  const start = big(vdso.start), end = big(vdso.end);
  if (end - start > MAX_VDSO) {
    throw new RestoreError('IMAGE_INCONSISTENT', `mm-${img.pid}.img: the vDSO mapping at ${hex(start)} is ${end - start} bytes, and no vDSO is larger than ${MAX_VDSO}: the images are damaged; restore from an intact copy`);
  }
  const dumped = dumpedBytes(img, start, end, dumpPageSize(img, arch.pageSize));
  // No contents in the image (CRIU may leave them out): only the sizes can be compared, as restore does.
  if (dumped === undefined) return { kind: 'same' };
  const mine = ownBytes();
  const dataSize = vvar === undefined ? 0n : big(vvar.end) - big(vvar.start);
  let diff = differenceOf(dumped, mine);
  if (diff === undefined && own.dataSize !== dataSize) diff = `its data pages are ${own.dataSize} bytes here, ${dataSize} in the dump`;
  if (diff === undefined) return { kind: 'same' };
  const what = `this kernel's vDSO is not the one process ${img.pid} was dumped with (${diff})`;
  const tr = arch.vdso.trampoline;
  if (tr === undefined) throw new RestoreError('UNSUPPORTED', `${what}: cryo cannot restore across different vDSOs on ${arch.name} yet; restore on the kernel it was dumped on`);
  let plan: VdsoPlan;
  try {
    plan = planVdsoTrampoline(dumped, mine, tr);
  } catch (e) {
    throw new RestoreError('UNSUPPORTED', `${what}, and ${(e as Error).message}`);
  }
  // A thread stopped in old vDSO code goes on running it (its bytes come back), unless a patch
  // overwrote the bytes it would resume at (the kernel stops threads at its signal trampoline too).
  const funcs = elfFunctions(dumped).sort((a, b) => b.offset - a.offset);
  for (const t of img.threads) {
    const ti = t.core[arch.threadInfoField] as ThreadInfo | undefined;
    if (ti === undefined) continue;
    const { ip } = arch.threadPointers(ti);
    if (ip < start || ip >= end) continue;
    const patch = patchOverwriting(plan, tr, Number(ip - start));
    if (patch === undefined) continue;
    const f = funcs.find((x) => BigInt(x.offset) <= ip - start);
    const where = f ? `${f.name}+${hex(ip - start - BigInt(f.offset))}` : hex(ip);
    throw new RestoreError('UNSUPPORTED', `${what}, and thread ${t.tid} was dumped inside the old vDSO at ${where}, which ${patch} overwrites: it cannot go on there; dump it again`);
  }
  return { kind: 'patched', plan, dumped, start, prot: Number(vdso.prot) };
}
