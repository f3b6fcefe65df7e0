// s390x for cryo: the Arch built from the tables in this directory. The first big-endian
// architecture: every buffer goes through REGS_CODEC ('BE').

import type { Arch, ArchFactory, CpuProbe, Regsets, ThreadExtras, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import {
  BYTE_ORDER, NT_PRSTATUS, PRSTATUS_SIZE, PSW_MASK_EA, PSW_MASK_RI, REGS_CODEC, REGSETS, type S390Regset,
} from './regs.js';
import { buildSigframe, framePswMask } from './sigframe.js';
import { CALL_THEN_SIGRETURN, SP_GPR, syscallAbi } from './syscall-abi.js';
import { fixSyscallRestart, stoppedCall } from './restart.js';
import { cpuReport, missingFacilities } from './cpu.js';
import { KERNEL_ABI, MMAP_TOP, RED_ZONE, SHARED_MMAP_ALIGN, SIGFRAME_ALIGN } from './kernel-abi.js';
import { singleAbi } from '../single-abi.js';

const { decodeTable, encodeTable } = REGS_CODEC;

const gpregsOf = (ti: ThreadInfo): ImageRecord => {
  const gp = ti.gpregs as ImageRecord | undefined;
  if (gp === undefined) throw new Error('thread_info_s390 has no gpregs: the image is damaged');
  return gp;
};

/** Regset -> thread_info, every table (the inverse is regsetsFromThreadInfo). */
export function threadInfoFromRegsets(regsets: Regsets, extras: ThreadExtras = {}): ThreadInfo {
  const prs = regsets.get(NT_PRSTATUS);
  if (prs === undefined) throw new Error('NT_PRSTATUS is missing: cannot dump a thread without its registers');
  if (prs.length !== PRSTATUS_SIZE) {
    throw new Error(`NT_PRSTATUS has ${prs.length} bytes, not s390x's ${PRSTATUS_SIZE}: a 31-bit (compat) task, which cryo cannot dump`);
  }
  const ti: ThreadInfo = { clear_tid_addr: extras.clearTidAddr ?? 0n };
  for (const r of REGSETS) {
    const buf = regsets.get(r.nt);
    if (buf === undefined) continue;
    if (buf.length < r.size) throw new Error(`${r.name} has ${buf.length} bytes, expected ${r.size}`);
    ti[r.field] = { ...(ti[r.field] as ImageRecord | undefined), ...decodeTable(r.rows, buf) };
  }
  const gp = ti.gpregs as ImageRecord;
  gp.system_call ??= 0;
  const ri = ti.ri_cb as ImageRecord | undefined;
  if (ri) ti.ri_cb = { ri_on: (BigInt(gp.psw_mask as bigint) & PSW_MASK_RI) !== 0n ? 1 : 0, ...ri };
  return ti;
}

/** thread_info -> the regsets it holds (NT_PRSTATUS's PSW mask as the frame gives it). */
export function regsetsFromThreadInfo(ti: ThreadInfo): Regsets {
  const out: Regsets = new Map();
  const gp = gpregsOf(ti);
  for (const r of REGSETS) {
    const rec = r.field === 'gpregs' ? { ...gp, psw_mask: framePswMask(ti) } : ti[r.field] as ImageRecord | undefined;
    if (rec === undefined) continue;
    const buf = Buffer.alloc(r.size);
    encodeTable(r.rows, rec, buf, 0, r.field);
    out.set(r.nt, buf);
  }
  return out;
}

const BY_PTRACE: readonly S390Regset[] = REGSETS.filter((r) => r.byPtrace);

export function createS390x(probe?: CpuProbe): Arch {
  const arch: Arch = {
    name: 's390x',
    abi: 's390x',
    wordSize: 8,
    nodeArch: 's390x',
    criuMarch: 'S390',
    threadInfoField: 'ti_s390',
    pageSize: 4096,
    byteOrder: BYTE_ORDER,
    regsets: REGSETS.map((r) => ({ nt: r.nt, name: r.name, maxSize: r.size, required: r.required })),
    redZone: RED_ZONE,
    sigframeAlign: SIGFRAME_ALIGN,
    mmapTop: MMAP_TOP,
    sharedMmapAlign: SHARED_MMAP_ALIGN,
    kernelAbi: KERNEL_ABI,

    readThreadExtras: () => ({}),
    threadInfoFromRegsets,
    regsetsFromThreadInfo,
    threadPointers(ti) {
      const gp = gpregsOf(ti);
      return { ip: BigInt(gp.psw_addr as bigint), sp: BigInt((gp.gprs as (bigint | number)[])[SP_GPR]!) };
    },
    unrestorableMode(ti) {
      // A 31-bit task runs with the extended-addressing bit off.
      return (BigInt(gpregsOf(ti).psw_mask as bigint) & PSW_MASK_EA) === 0n ? 'a 31-bit (compat) s390 process' : undefined;
    },
    buildSigframe,
    // rt_sigreturn restores PSW, GPRs, access registers, FPRs and vector registers; these come by
    // ptrace (REGSETS' byPtrace: guarded storage, runtime instrumentation) before it runs.
    notRestoredBySigreturn: ['orig_gpr2', 'system_call', ...BY_PTRACE.map((r) => r.field)],
    regsetsBeforeSigreturn: BY_PTRACE.map((r) => r.nt),
    callThenSigreturn: () => CALL_THEN_SIGRETURN,
    calibrate() { /* nothing CPU-defined in s390x's layouts */ },

    ...singleAbi(() => arch, syscallAbi, fixSyscallRestart, stoppedCall),

    missingCpuFeatures: (ti) => missingFacilities(ti, probe),
    // CRIU's s390 cpuinfo image: AT_HWCAP and AT_HWCAP2 of the dumping machine, all 64 bits each.
    cpuinfo: () => ({ s390_entry: [{ hwcap: [probe?.hwcap ?? 0n, probe?.hwcap2 ?? 0n] }] }),
    imageByteOrder: (cpuinfo) => (cpuinfo.s390_entry !== undefined ? 'BE' : undefined),
    unsavableState: () => [],

    vdso: { areas: ['[vdso]', '[vvar]'], vdso: '[vdso]' },
    cpuReport: () => cpuReport(probe),
  };
  return arch;
}

export const s390x: ArchFactory = { name: 's390x', nodeArch: 's390x', kernelAbi: KERNEL_ABI, create: createS390x };
