// aarch64 (arm64, Linux's 64-bit ABI) for cryo: the Arch built from the tables in this directory.

import type { Arch, ArchFactory, CpuProbe, Regsets, RegsetSpec, ThreadExtras, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import { BYTE_ORDER, decodeTable, encodeTable } from './byte-order.js';
import { NT_ARM_TLS, NT_PRFPREG, NT_PRSTATUS, REGSET_TABLES, TLS_MAX_SIZE, TLS_REGS, TPIDR2_REGS } from './regs.js';
import { buildSigframe, NOT_RESTORED_BY_SIGRETURN } from './sigframe.js';
import { decodeSve, encodeSve, NT_ARM_SVE, SVE_MAX_SIZE } from './sve.js';
import { decodeSme, encodeZaHeader, NT_ARM_ZA, SME_REGSETS } from './sme.js';
import { CALL_THEN_SIGRETURN, syscallAbi } from './syscall-abi.js';
import { fixSyscallRestart, stoppedCall } from './restart.js';
import { cpuReport, cryoCpuEntry, HWCAP_BITS, missingFeatures } from './cpu.js';
import { mteSpec } from './mte.js';
import { btiSpec } from './bti.js';
import { vdsoTrampoline } from './vdso-trampoline.js';
import { UNSAVABLE, unsavableState } from './unsavable.js';
import { singleAbi } from '../single-abi.js';
import { KERNEL_ABI, MMAP_TOP, RED_ZONE, SIGFRAME_ALIGN } from './kernel-abi.js';

/** 4 KiB unless the kernel says otherwise (16 and 64 KiB kernels exist; the probe reads AT_PAGESZ). */
const DEFAULT_PAGE_SIZE = 4096;

export const REGSETS: readonly RegsetSpec[] = [
  ...REGSET_TABLES.map((r) => ({ nt: r.nt, name: r.name, maxSize: r.maxSize, required: r.required })),
  // Its size follows the vector length: src/arch/aarch64/sve.ts reads and writes it.
  { nt: NT_ARM_SVE, name: 'NT_ARM_SVE', maxSize: SVE_MAX_SIZE, required: false },
  // Their sizes follow the streaming vector length: src/arch/aarch64/sme.ts reads and writes them.
  ...SME_REGSETS,
  // Read only to refuse a thread that uses them (unsavable.ts).
  ...UNSAVABLE.map((row) => row.spec),
];

/** The record at `path` in thread_info (made on the way when `make`). */
function recordAt(ti: ThreadInfo, path: readonly string[], make: boolean): ImageRecord | undefined {
  let rec: ImageRecord = ti;
  for (const k of path) {
    if (rec[k] === undefined) {
      if (!make) return undefined;
      rec[k] = {};
    }
    rec = rec[k] as ImageRecord;
  }
  return rec;
}

const big = (v: unknown): bigint => BigInt(v as bigint | number);

export function createAarch64(probe?: CpuProbe): Arch {
  const host = [probe?.hwcap ?? 0n, probe?.hwcap2 ?? 0n];
  const hostHas = (name: string) => { const b = HWCAP_BITS.find((x) => x.name === name)!; return (host[b.word - 1]! & b.bit) !== 0n; };
  const arch: Arch = {
    name: 'aarch64',
    abi: 'aarch64',
    wordSize: 8,
    nodeArch: 'arm64',
    criuMarch: 'AARCH64',
    threadInfoField: 'ti_aarch64',
    pageSize: probe?.pageSize ?? DEFAULT_PAGE_SIZE,
    regsets: REGSETS,
    redZone: RED_ZONE,
    sigframeAlign: SIGFRAME_ALIGN,
    mmapTop: MMAP_TOP,
    kernelAbi: KERNEL_ABI,
    byteOrder: BYTE_ORDER,

    readThreadExtras: (): ThreadExtras => ({}),

    threadInfoFromRegsets(regsets: Regsets, extras: ThreadExtras = {}): ThreadInfo {
      const ti: ThreadInfo = { clear_tid_addr: extras.clearTidAddr ?? 0n };
      for (const r of REGSET_TABLES) {
        const buf = regsets.get(r.nt);
        if (buf === undefined && !r.required) continue;
        if (buf === undefined) throw new Error(`${r.name} is missing: cannot dump a thread without it`);
        if (buf.length < r.size) throw new Error(`${r.name} has ${buf.length} bytes, not aarch64's ${r.size}`);
        Object.assign(recordAt(ti, r.path, true)!, decodeTable(r.table, buf));
      }
      const sve = regsets.get(NT_ARM_SVE);
      if (sve !== undefined) ti.sve = decodeSve(sve);
      const sme = decodeSme(regsets);
      if (sme !== undefined) ti.sme = sme;
      const tls = regsets.get(NT_ARM_TLS);
      if (tls !== undefined && tls.length >= TLS_MAX_SIZE) {
        const { tpidr2 } = decodeTable(TPIDR2_REGS, tls);
        if (big(tpidr2) !== 0n) ti.tpidr2 = tpidr2;
      }
      return ti;
    },

    regsetsFromThreadInfo(ti: ThreadInfo): Regsets {
      const out: Regsets = new Map();
      for (const r of REGSET_TABLES) {
        const rec = recordAt(ti, r.path, false);
        // A regset kept in thread_info itself (path []) is absent when none of its fields is there.
        if (!r.required && (rec === undefined || r.table.every((f) => rec[f.name] === undefined))) continue;
        const where = ['thread_info', ...r.path].join('.');
        if (rec === undefined) throw new Error(`${where} is missing: the image is damaged`);
        const buf = Buffer.alloc(r.size);
        encodeTable(r.table, rec, buf, 0, where);
        out.set(r.nt, buf);
      }
      if (ti.tpidr2 !== undefined) {
        const tls = Buffer.alloc(TLS_MAX_SIZE);
        encodeTable(TLS_REGS, ti, tls, 0, 'thread_info');
        encodeTable(TPIDR2_REGS, ti, tls, 0, 'thread_info');
        out.set(NT_ARM_TLS, tls);
      }
      if (ti.sve !== undefined) out.set(NT_ARM_SVE, encodeSve(ti.sve as ImageRecord, ti.fpsimd as ImageRecord, 'thread_info.sve'));
      // The streaming vector length only (ZA off): the signal frame brings streaming mode, ZA and ZT0.
      if (ti.sme !== undefined) out.set(NT_ARM_ZA, encodeZaHeader(ti.sme as ImageRecord, 'thread_info.sme'));
      return out;
    },

    unrestorableMode: () => undefined,
    buildSigframe: (ti, opts) => buildSigframe(ti, opts),
    notRestoredBySigreturn: NOT_RESTORED_BY_SIGRETURN,
    callThenSigreturn: () => CALL_THEN_SIGRETURN,
    // NT_ARM_SVE and NT_ARM_ZA first: they set the vector lengths the frame's sve_context and za_context must match.
    regsetsBeforeSigreturn: [NT_ARM_SVE, NT_ARM_ZA, ...REGSET_TABLES.filter((r) => r.nt !== NT_PRSTATUS && r.nt !== NT_PRFPREG).map((r) => r.nt)],
    calibrate: () => undefined,

    ...singleAbi(() => arch, syscallAbi, fixSyscallRestart, stoppedCall),

    missingCpuFeatures: (ti, _cpuinfo, cryoCpu) => missingFeatures(ti, cryoCpu, host, probe),
    cryoCpu: () => cryoCpuEntry(host),
    unsavableState,

    threadPointers(ti: ThreadInfo) {
      const gp = ti.gpregs as ImageRecord;
      return { ip: big(gp.pc), sp: big(gp.sp) };
    },

    memoryTags: mteSpec(hostHas('HWCAP2_MTE')),
    protVmFlags: [btiSpec(hostHas('HWCAP2_BTI'))],
    vdso: { areas: ['[vdso]', '[vvar]', '[vvar_vclock]'], vdso: '[vdso]', trampoline: vdsoTrampoline(BYTE_ORDER) },
    cpuReport: () => cpuReport(probe),
  };
  return arch;
}

export const aarch64: ArchFactory = { name: 'aarch64', nodeArch: 'arm64', kernelAbi: KERNEL_ABI, create: createAarch64 };
