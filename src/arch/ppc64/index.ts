// ppc64 (64-bit, ELFv2, either byte order; Debian's ppc64el is little-endian) for cryo: the Arch
// built from the tables in this directory.

import type { Arch, ArchFactory, CpuProbe, MissingFeature, Regsets, RegsetSpec, ThreadExtras, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import { BYTE_ORDER, decodeTable, encodeTable, readField } from './byte-order.js';
import {
  GP_REGS_SIZE, MSR, msrTmActive, NT_PPC_TM_CGPR, NT_PPC_TM_SPR, NT_PRSTATUS, STATE_REGSETS, TM_SPR_REGS, TM_SPR_SIZE,
} from './regs.js';
import { buildSigframe, NOT_RESTORED_BY_SIGRETURN } from './sigframe.js';
import { CALL_THEN_SIGRETURN, syscallAbi } from './syscall-abi.js';
import { vdsoTrampoline } from './vdso-trampoline.js';
import { fixSyscallRestart, stoppedCall } from './restart.js';
import { cpuinfoEntry, cpuReport, imageByteOrder, missingFeatures, type ByteOrder } from './cpu.js';
import { KERNEL_ABI, addressSpace, RED_ZONE, SIGFRAME_ALIGN } from './kernel-abi.js';
import { singleAbi } from '../single-abi.js';

/** Debian's ppc64el kernels use 64 KiB pages; the probe (AT_PAGESZ) says what this kernel uses. */
const DEFAULT_PAGE_SIZE = 65536;

/** Every regset, live state first; the TM ones exist only while a transaction is active or suspended. */
export const REGSETS: readonly RegsetSpec[] = [
  ...STATE_REGSETS.map((r) => ({ nt: r.live, name: liveName(r.live), maxSize: r.size, required: r.live === NT_PRSTATUS })),
  ...STATE_REGSETS.map((r) => ({ nt: r.checkpointed, name: tmName(r.checkpointed), maxSize: r.size, required: false })),
  { nt: NT_PPC_TM_SPR, name: 'NT_PPC_TM_SPR', maxSize: TM_SPR_SIZE, required: false },
];

function liveName(nt: number): string {
  return ({ 1: 'NT_PRSTATUS', 2: 'NT_PRFPREG', 0x100: 'NT_PPC_VMX', 0x102: 'NT_PPC_VSX' } as Record<number, string>)[nt]!;
}
function tmName(nt: number): string {
  return ({ 0x108: 'NT_PPC_TM_CGPR', 0x109: 'NT_PPC_TM_CFPR', 0x10a: 'NT_PPC_TM_CVMX', 0x10b: 'NT_PPC_TM_CVSX' } as Record<number, string>)[nt]!;
}

const big = (v: unknown): bigint => BigInt(v as bigint | number);

/** One state's regsets -> its image messages (gpregs, fpstate, vrstate, vsxstate). */
function stateFromRegsets(regsets: Regsets, which: 'live' | 'checkpointed'): ImageRecord {
  const out: ImageRecord = {};
  for (const r of STATE_REGSETS) {
    const buf = regsets.get(r[which]);
    if (buf !== undefined) out[r.field] = decodeTable(r.table, buf);
  }
  const gp = out.gpregs as ImageRecord;
  // Like CRIU: the MSR in the image says which vector state it holds, so that whoever builds the
  // signal frame from it (cryo or CRIU) has the kernel load that state and mark it used.
  gp.msr = big(gp.msr) | (out.vrstate ? MSR.VEC : 0n) | (out.vsxstate ? MSR.VSX : 0n);
  return out;
}

/** One state's image messages -> its regsets. */
function stateToRegsets(state: ImageRecord, which: 'live' | 'checkpointed', out: Regsets, what: string): void {
  for (const r of STATE_REGSETS) {
    const rec = state[r.field] as ImageRecord | undefined;
    if (rec === undefined) continue;
    const buf = Buffer.alloc(r.size);
    encodeTable(r.table, rec, buf, 0, `${what}.${r.field}`);
    out.set(r[which], buf);
  }
}

/** A thread in a transaction whose checkpointed registers the kernel does not give: it cannot be dumped. */
function tmUnsavable(regsets: Regsets): MissingFeature[] {
  const prs = regsets.get(NT_PRSTATUS);
  if (prs === undefined) return [];
  const msr = readField(prs, STATE_REGSETS[0]!.table.find((r) => r.name === 'msr')!) as bigint;
  if (!msrTmActive(msr) || (regsets.has(NT_PPC_TM_CGPR) && regsets.has(NT_PPC_TM_SPR))) return [];
  const state = (msr & MSR.TS_S) !== 0n ? 'a suspended' : 'an active';
  return [{
    name: 'transactional memory', bits: [],
    message: `the thread is in ${state} transaction (MSR 0x${msr.toString(16)}) and this kernel does not give its checkpointed `
      + 'registers (NT_PPC_TM_CGPR/NT_PPC_TM_SPR, Linux 4.8 and later with CONFIG_PPC_TRANSACTIONAL_MEM): it cannot be dumped on this kernel',
  }];
}

export function createPpc64(probe?: CpuProbe): Arch {
  const order: ByteOrder = BYTE_ORDER;
  const pageSize = probe?.pageSize ?? DEFAULT_PAGE_SIZE;
  const host = [probe?.hwcap ?? 0n, probe?.hwcap2 ?? 0n];
  const arch: Arch = {
    name: 'ppc64',
    abi: 'ppc64',
    wordSize: 8,
    nodeArch: 'ppc64',
    criuMarch: 'PPC64',
    threadInfoField: 'ti_ppc64',
    pageSize,
    regsets: REGSETS,
    redZone: RED_ZONE,
    sigframeAlign: SIGFRAME_ALIGN,
    ...addressSpace(pageSize),
    kernelAbi: KERNEL_ABI,
    byteOrder: order,

    readThreadExtras: (): ThreadExtras => ({}),

    threadInfoFromRegsets(regsets: Regsets, extras: ThreadExtras = {}): ThreadInfo {
      const prs = regsets.get(NT_PRSTATUS);
      if (prs === undefined) throw new Error('NT_PRSTATUS is missing: cannot dump a thread without its registers');
      if (prs.length < GP_REGS_SIZE) throw new Error(`NT_PRSTATUS has ${prs.length} bytes, not ppc64's ${GP_REGS_SIZE}`);
      const live = stateFromRegsets(regsets, 'live');
      const clear_tid_addr = extras.clearTidAddr ?? 0n;
      const msr = big((live.gpregs as ImageRecord).msr);
      if (!msrTmActive(msr)) return { clear_tid_addr, ...live };
      const bad = tmUnsavable(regsets);
      if (bad.length > 0) throw new Error(bad[0]!.message);
      // CRIU's layout: the checkpointed state at the top (what a TM-unaware handler sees), the live
      // (transactional) one in tmstate, TFHAR/TEXASR/TFIAR beside the checkpointed registers.
      const ck = stateFromRegsets(regsets, 'checkpointed');
      Object.assign(ck.gpregs as ImageRecord, decodeTable(TM_SPR_REGS, regsets.get(NT_PPC_TM_SPR)!));
      return { clear_tid_addr, ...ck, tmstate: live };
    },

    regsetsFromThreadInfo(ti: ThreadInfo): Regsets {
      const out: Regsets = new Map();
      if (ti.gpregs === undefined) throw new Error('thread_info has no gpregs: the image is damaged');
      const tm = ti.tmstate as ImageRecord | undefined;
      if (tm === undefined) {
        stateToRegsets(ti, 'live', out, 'thread_info');
        return out;
      }
      if (tm.gpregs === undefined) throw new Error('thread_info.tmstate has no gpregs: the image is damaged');
      stateToRegsets(tm, 'live', out, 'thread_info.tmstate');
      stateToRegsets(ti, 'checkpointed', out, 'thread_info');
      const spr = Buffer.alloc(TM_SPR_SIZE);
      encodeTable(TM_SPR_REGS, ti.gpregs as ImageRecord, spr, 0, 'thread_info.gpregs');
      out.set(NT_PPC_TM_SPR, spr);
      return out;
    },

    unrestorableMode: () => undefined,
    buildSigframe: (ti, opts) => buildSigframe(ti, opts),
    notRestoredBySigreturn: NOT_RESTORED_BY_SIGRETURN,
    // Not for a thread in a transaction: its frame would have rt_sigreturn recheckpoint state read
    // while the kernel held it reclaimed, which no guest here can run (TCG has no TM) to prove.
    callThenSigreturn: (ti) => (ti.tmstate === undefined ? CALL_THEN_SIGRETURN : undefined),
    calibrate: () => undefined,

    ...singleAbi(() => arch, syscallAbi, fixSyscallRestart, stoppedCall),

    missingCpuFeatures: (ti, cpuinfo) => missingFeatures(ti, cpuinfo, host),
    unsavableState: tmUnsavable,
    cpuinfo: () => cpuinfoEntry(host[0]!, host[1]!, order),
    imageByteOrder,

    threadPointers(ti: ThreadInfo) {
      const gp = ((ti.tmstate as ImageRecord | undefined)?.gpregs ?? ti.gpregs) as ImageRecord;
      return { ip: big(gp.nip), sp: big((gp.gpr as unknown[])[1]) };
    },

    vdso: { areas: ['[vdso]', '[vvar]'], vdso: '[vdso]', trampoline: vdsoTrampoline(BYTE_ORDER) },
    cpuReport: () => cpuReport(probe),
  };
  return arch;
}

export const ppc64: ArchFactory = { name: 'ppc64', nodeArch: 'ppc64', kernelAbi: KERNEL_ABI, create: createPpc64 };
