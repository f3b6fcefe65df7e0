// x86_64 for cryo: the Arch built from the tables in this directory.

import { VDSO_TRAMPOLINE } from './vdso-trampoline.js';
import type { Arch, ArchFactory, CpuProbe, MissingFeature, Regsets, ThreadExtras, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import { BYTE_ORDER, decodeTable, encodeTable, readField, writeField } from './byte-order.js';
import {
  ARCH_SHSTK_SHSTK, FXSAVE_SIZE, GP_REGS, GP_REGS_COMPAT, GP_REGS_COMPAT_SIZE, GP_REGS_SIZE, NT_PRFPREG,
  NT_PRSTATUS, NT_X86_SHSTK, NT_X86_XSTATE, REGS_MODE, SHSTK_REGSET_SIZE, SHSTK_SSP, XSAVE_COMPONENTS,
} from './regs.js';
import {
  defaultLayout, describeMissing, fpregsFromBuffer, fpregsToBuffer, layoutFromCpuid,
  swXfeatures, type XsaveLayout,
} from './xsave.js';
import { buildSigframe, FPSTATE_ALIGN, NOT_RESTORED_BY_SIGRETURN } from './sigframe.js';
import { CALL_THEN_SIGRETURN, syscallAbi } from './syscall-abi.js';
import { callThenRestore } from './call-then-restore.js';
import { fixSyscallRestart, RESTART_RULES, stoppedCall } from './restart.js';
import { cpuReport } from './cpu-report.js';
import { KERNEL_ABI, MMAP_TOP, RED_ZONE } from './kernel-abi.js';
import { hostHasShadowStack, readThreadExtras, writeThreadExtras } from './thread-extras.js';
import { ia32Arch } from './ia32.js';
import { ptrace } from '../../sys/index.js';
import { SIGACTION_LP64 } from '../asm-generic.js';

/** Biggest xsave area the SDM allows today (AMX tiles included) with room to spare. */
const XSTATE_MAX = 16384;

/** User-state components (XCR0 bits); supervisor components (XSS) never appear in a task's xstate_bv. */
const USER_COMPONENTS = XSAVE_COMPONENTS.reduce((m, c) => (c.supervisor ? m : m | (1n << BigInt(c.bit))), 0n);

/** Image-holdable user components: what dump can save. */
const SAVABLE = XSAVE_COMPONENTS.reduce((m, c) => (c.field || c.bit < 2 ? m | (1n << BigInt(c.bit)) : m), 0n);

function probeLayout(probe: CpuProbe | undefined): XsaveLayout | undefined {
  if (!probe?.cpuid || !probe.xgetbv) return undefined;
  let xcr0: bigint;
  try {
    xcr0 = probe.xgetbv(0);
  } catch {
    return undefined; // no OSXSAVE: fxsave only
  }
  return layoutFromCpuid(probe.cpuid, xcr0);
}

export interface X86_64Arch extends Arch {
  /** The xsave layout in use (undefined until known, or on a CPU without xsave). */
  readonly xsaveLayout: XsaveLayout | undefined;
}

export function createX86_64(probe?: CpuProbe): X86_64Arch {
  let layout = probeLayout(probe);
  /**
   * The last FP area decoded, and its record: a process's threads often hold the same bytes, decoded
   * once (and the frame's FP area built once from the record, sigframe.ts). Records are never
   * changed after decoding (the shadow-stack part goes on a copy, below).
   */
  let lastFp: { bytes: Buffer; layout: XsaveLayout | undefined; rec: ImageRecord } | undefined;
  const decodeFp = (bytes: Buffer, l: XsaveLayout | undefined): ImageRecord => {
    if (lastFp !== undefined && lastFp.layout === l && lastFp.bytes.equals(bytes)) return lastFp.rec;
    const rec = fpregsFromBuffer(bytes, l);
    lastFp = { bytes, layout: l, rec };
    return rec;
  };

  function layoutForRegset(buf: Buffer): XsaveLayout {
    const xf = swXfeatures(buf);
    if (xf === undefined) throw new Error('NT_X86_XSTATE has no xfeatures in its sw_reserved bytes: the kernel gave an xsave area cryo cannot read');
    if (layout && layout.xfeatures === xf && layout.size === buf.length) return layout;
    if (layout?.source === 'cpuid') {
      throw new Error(`NT_X86_XSTATE says xfeatures ${hex(xf)} in ${buf.length} bytes but CPUID says `
        + `${hex(layout.xfeatures)} in ${layout.size}: cryo does not handle per-task xsave sizes yet`);
    }
    layout = defaultLayout(xf, buf.length);
    return layout;
  }

  function requireLayout(): XsaveLayout {
    if (layout) return layout;
    throw new Error('the xsave layout of this CPU is unknown (no cpuid in the sys layer): '
      + 'read NT_X86_XSTATE of any thread and pass it to arch.calibrate() first');
  }

  const arch: X86_64Arch = {
    name: 'x86_64',
    abi: 'x86_64',
    nodeArch: 'x64',
    criuMarch: 'X86_64',
    threadInfoField: 'thread_info',
    pageSize: 4096,
    wordSize: 8,
    regsets: [
      { nt: NT_PRSTATUS, name: 'NT_PRSTATUS', maxSize: GP_REGS_SIZE, required: true },
      { nt: NT_X86_XSTATE, name: 'NT_X86_XSTATE', maxSize: XSTATE_MAX, required: false },
      // The xsave area's legacy region holds the same bytes (threadInfoFromRegsets takes xstate first).
      { nt: NT_PRFPREG, name: 'NT_PRFPREG', maxSize: FXSAVE_SIZE, required: false, skip: (read) => read.has(NT_X86_XSTATE) },
      // A CPU without shadow stacks fails it for every thread (ENODEV).
      { nt: NT_X86_SHSTK, name: 'NT_X86_SHSTK', maxSize: SHSTK_REGSET_SIZE, required: false, skip: () => !hostHasShadowStack() },
    ],
    redZone: RED_ZONE,
    sigframeAlign: FPSTATE_ALIGN,
    mmapTop: MMAP_TOP,
    kernelAbi: KERNEL_ABI,
    get xsaveLayout() {
      return layout;
    },

    threadInfoFromRegsets(regsets: Regsets, extras: ThreadExtras = {}): ThreadInfo {
      const prs = regsets.get(NT_PRSTATUS);
      if (prs === undefined) throw new Error('NT_PRSTATUS is missing: cannot dump a thread without its registers');
      let gpregs: ImageRecord;
      if (prs.length === GP_REGS_SIZE) {
        gpregs = { ...decodeTable(GP_REGS, prs), mode: REGS_MODE.NATIVE };
      } else if (prs.length === GP_REGS_COMPAT_SIZE) {
        const zero = Object.fromEntries(GP_REGS.map((r) => [r.name, 0n]));
        gpregs = { ...zero, ...decodeTable(GP_REGS_COMPAT, prs), mode: REGS_MODE.COMPAT };
      } else {
        throw new Error(`NT_PRSTATUS has ${prs.length} bytes, neither x86_64 (${GP_REGS_SIZE}) nor ia32 (${GP_REGS_COMPAT_SIZE})`);
      }
      const ti: ThreadInfo = { clear_tid_addr: extras.clearTidAddr ?? 0n, gpregs };
      const xstate = regsets.get(NT_X86_XSTATE);
      const fx = regsets.get(NT_PRFPREG);
      if (xstate !== undefined) ti.fpregs = decodeFp(xstate, layoutForRegset(xstate));
      else if (fx !== undefined) ti.fpregs = decodeFp(fx, undefined);
      const ssp = regsets.get(NT_X86_SHSTK);
      if (ti.fpregs && (ssp !== undefined || extras.shstkStatus !== undefined)) {
        const fp = ti.fpregs as ImageRecord;
        const xsave = fp.xsave as ImageRecord | undefined;
        if (xsave) ti.fpregs = { ...fp, xsave: { ...xsave, cet: { cet: extras.shstkStatus ?? 0n, ssp: ssp ? readField(ssp, SHSTK_SSP) : 0n } } };
      }
      ti.tls = extras.tls ?? [];
      return ti;
    },

    readThreadExtras,

    regsetsFromThreadInfo(ti: ThreadInfo): Regsets {
      const out: Regsets = new Map();
      const gp = ti.gpregs as ImageRecord | undefined;
      if (gp === undefined) throw new Error('thread_info has no gpregs: the image is damaged');
      const compat = gp.mode === REGS_MODE.COMPAT;
      const prs = Buffer.alloc(compat ? GP_REGS_COMPAT_SIZE : GP_REGS_SIZE);
      encodeTable(compat ? GP_REGS_COMPAT : GP_REGS, gp, prs, 0, 'gpregs');
      out.set(NT_PRSTATUS, prs);
      const fp = ti.fpregs as ImageRecord | undefined;
      if (fp !== undefined) {
        if (fp.xsave !== undefined) {
          const l = requireLayout();
          const buf = Buffer.alloc(l.size);
          fpregsToBuffer(fp, l, buf, 0, 'regset');
          out.set(NT_X86_XSTATE, buf);
        } else {
          const buf = Buffer.alloc(FXSAVE_SIZE);
          fpregsToBuffer(fp, undefined, buf, 0, 'regset');
          out.set(NT_PRFPREG, buf);
        }
        const cet = (fp.xsave as ImageRecord | undefined)?.cet as ImageRecord | undefined;
        if (cet && (BigInt(cet.cet as bigint) & ARCH_SHSTK_SHSTK) !== 0n) {
          const buf = Buffer.alloc(SHSTK_REGSET_SIZE);
          writeField(buf, SHSTK_SSP, cet.ssp, 0, 'fpregs.xsave.cet.ssp');
          out.set(NT_X86_SHSTK, buf);
        }
      }
      return out;
    },

    unrestorableMode(ti) {
      const mode = gpregsOf(ti).mode;
      // COMPAT (ia32) tasks have their own Arch (forThreadInfo), which says whether this kernel runs them.
      return mode === undefined || mode === REGS_MODE.NATIVE || mode === REGS_MODE.COMPAT ? undefined : `a task in mode ${String(mode)}`;
    },

    buildSigframe(ti, opts) {
      const fp = ti.fpregs as ImageRecord | undefined;
      return buildSigframe(ti, opts, fp?.xsave !== undefined ? requireLayout() : layout);
    },
    notRestoredBySigreturn: NOT_RESTORED_BY_SIGRETURN,
    callThenSigreturn(ti) {
      // A shadow stack's rt_sigreturn pops a restore token the thread's shadow stack does not hold.
      const cet = ((ti.fpregs as ImageRecord | undefined)?.xsave as ImageRecord | undefined)?.cet as ImageRecord | undefined;
      if (cet !== undefined && ((BigInt(cet.cet as bigint) & ARCH_SHSTK_SHSTK) !== 0n || BigInt(cet.ssp as bigint) !== 0n)) return undefined;
      return CALL_THEN_SIGRETURN;
    },
    callThenRestore,

    calibrate(regsets: Regsets) {
      const xstate = regsets.get(NT_X86_XSTATE);
      if (xstate !== undefined) layoutForRegset(xstate);
    },

    syscall: syscallAbi,
    taskSyscall: syscallAbi,
    sigaction: SIGACTION_LP64,
    robustList: 'outside',
    forTask(pid) {
      // A 32-bit task's NT_PRSTATUS is struct user_regs_struct32, whoever asks.
      return ptrace.getRegset(pid, NT_PRSTATUS, GP_REGS_SIZE).length === GP_REGS_COMPAT_SIZE ? ia32 : arch;
    },
    forThreadInfo(ti) {
      return (ti.gpregs as ImageRecord | undefined)?.mode === REGS_MODE.COMPAT ? ia32 : arch;
    },
    cannotRun: () => undefined,
    writeThreadExtras,
    restartRules: RESTART_RULES,
    fixSyscallRestart,
    stoppedCall,

    missingCpuFeatures(ti: ThreadInfo): MissingFeature[] {
      const xsave = (ti.fpregs as ImageRecord | undefined)?.xsave as ImageRecord | undefined;
      if (xsave === undefined) return [];
      // Every user component the saved state says is in use must be one this CPU has: the kernel
      // refuses a signal frame whose xstate_bv names a feature it did not enable.
      const used = BigInt(xsave.xstate_bv as bigint) & USER_COMPONENTS;
      const have = requireLayout().xfeatures;
      return describeMissing(used & ~have);
    },

    unsavableState(regsets: Regsets): MissingFeature[] {
      const xstate = regsets.get(NT_X86_XSTATE);
      if (xstate === undefined) return [];
      const bv = readField(xstate, { name: 'xstate_bv', offset: 512, image: 'u64' }) as bigint;
      return describeMissing(bv & ~SAVABLE).map((m) => ({
        ...m,
        message: `the task uses ${m.name} (xsave feature ${m.bits.length === 1 ? 'bit' : 'bits'} ${m.bits.join(', ')}) `
          + 'which CRIU\'s image format cannot hold: it cannot be dumped while it does',
      }));
    },

    byteOrder: BYTE_ORDER,
    threadPointers(ti: ThreadInfo) {
      const gp = gpregsOf(ti);
      return { ip: BigInt(gp.ip as bigint), sp: BigInt(gp.sp as bigint) };
    },

    vdso: { areas: ['[vdso]', '[vvar]', '[vvar_vclock]'], vdso: '[vdso]', trampoline: VDSO_TRAMPOLINE },
    cpuReport: () => cpuReport(probe),
  };
  const ia32 = ia32Arch(arch, () => layout, probe?.secondAbiUnsupported);
  return arch;
}

function gpregsOf(ti: ThreadInfo): ImageRecord {
  const gp = ti.gpregs as ImageRecord | undefined;
  if (gp === undefined) throw new Error('thread_info has no gpregs: the image is damaged');
  return gp;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export const x86_64: ArchFactory = { name: 'x86_64', nodeArch: 'x64', kernelAbi: KERNEL_ABI, create: createX86_64 };

