/**
 * x86_64 thread state that ptrace gives outside the regsets and thread_info holds: the three GDT
 * TLS slots and the shadow-stack status (Arch.readThreadExtras).
 */
import { hostCpuid, ptrace, readU32, readU64, SysError, type HostCpuid } from '../../sys/index.js';
import type { ThreadExtras, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';

const PTRACE_GET_THREAD_AREA = 25;
const PTRACE_SET_THREAD_AREA = 26;
const PTRACE_ARCH_PRCTL = 30;
const ARCH_SHSTK_STATUS = 0x5005;
/** GDT_ENTRY_TLS_MIN .. GDT_ENTRY_TLS_MAX on x86_64. */
const X86_TLS_SLOTS = [12, 13, 14];
/** CPUID.(EAX=7,ECX=0):ECX bit 7, CET_SS: the CPU has shadow stacks. */
const CPUID7_ECX_CET_SS = 1 << 7;

function x86Tls(pid: number): ImageRecord[] {
  return X86_TLS_SLOTS.map((idx) => {
    const d = Buffer.alloc(16); // struct user_desc
    ptrace.ptrace(PTRACE_GET_THREAD_AREA, pid, idx, d, `GET_THREAD_AREA ${idx}`);
    const bits = readU32(d, 12);
    return {
      entry_number: readU32(d, 0), base_addr: readU32(d, 4), limit: readU32(d, 8),
      seg_32bit: (bits & 1) !== 0, contents_h: (bits & 4) !== 0, contents_l: (bits & 2) !== 0,
      read_exec_only: (bits & 8) !== 0, limit_in_pages: (bits & 16) !== 0, seg_not_present: (bits & 32) !== 0,
      usable: (bits & 64) !== 0,
    };
  });
}

/** Whether the CPU has shadow stacks (CET_SS). */
export function cpuHasShadowStack(cpu: Pick<HostCpuid, 'cpuid'> | undefined): boolean {
  if (!cpu || cpu.cpuid(0, 0).eax >>> 0 < 7) return false;
  return (cpu.cpuid(7, 0).ecx & CPUID7_ECX_CET_SS) !== 0;
}

/** cpuHasShadowStack of this CPU, asked once: cpuid traps to the hypervisor in a VM (~13 us, twice a thread). */
let cpuShadowStack: boolean | undefined;
export const hostHasShadowStack = (): boolean => (cpuShadowStack ??= cpuHasShadowStack(hostCpuid()));

/**
 * arch_prctl(ARCH_SHSTK_STATUS) of the thread, or undefined on a CPU without shadow stacks: CRIU
 * writes xsave.cet only where the CPU has them (and its restore warns about a "shadow stack on a
 * non-CET machine" when it finds one elsewhere). A kernel without shadow-stack support says
 * EINVAL: no features enabled.
 */
function x86ShstkStatus(pid: number): bigint | undefined {
  if (!hostHasShadowStack()) return undefined;
  const features = Buffer.alloc(8);
  try {
    ptrace.ptrace(PTRACE_ARCH_PRCTL, pid, features, ARCH_SHSTK_STATUS, 'ARCH_SHSTK_STATUS');
  } catch (e) {
    if (e instanceof SysError && e.code === 'EINVAL') return 0n;
    throw e;
  }
  return readU64(features, 0);
}

/** The GDT TLS entries and (on a CPU with shadow stacks) the shadow-stack status of stopped thread `tid`. */
export function readThreadExtras(tid: number): ThreadExtras {
  const shstkStatus = x86ShstkStatus(tid);
  return shstkStatus === undefined ? { tls: x86Tls(tid) } : { tls: x86Tls(tid), shstkStatus };
}

/** struct user_desc of one image TLS entry (the inverse of x86Tls). */
function userDesc(e: ImageRecord): Buffer {
  const d = Buffer.alloc(16);
  d.writeUInt32LE(Number(e.entry_number) >>> 0, 0);
  d.writeUInt32LE(Number(e.base_addr) >>> 0, 4);
  d.writeUInt32LE(Number(e.limit) >>> 0, 8);
  const bit = (v: unknown, b: number) => (v === true ? b : 0);
  d.writeUInt32LE(bit(e.seg_32bit, 1) | bit(e.contents_l, 2) | bit(e.contents_h, 4) | bit(e.read_exec_only, 8)
    | bit(e.limit_in_pages, 16) | bit(e.seg_not_present, 32) | bit(e.usable, 64), 12);
  return d;
}

/** Restore: the thread's GDT TLS slots as the image has them (set before rt_sigreturn loads selectors that use them). */
export function writeThreadExtras(tid: number, ti: ThreadInfo): void {
  for (const e of (ti.tls as ImageRecord[] | undefined) ?? []) {
    const idx = Number(e.entry_number);
    if (!X86_TLS_SLOTS.includes(idx)) throw new Error(`thread_info.tls names GDT entry ${idx}, not a TLS slot (${X86_TLS_SLOTS.join(', ')}): the image is damaged`);
    ptrace.ptrace(PTRACE_SET_THREAD_AREA, tid, idx, userDesc(e), `SET_THREAD_AREA ${idx}`);
  }
}
