/**
 * The per-task state of core-PID.img that cryo reads from outside the task: /proc, ptrace
 * (registers, signal mask, queued signals, rseq, seccomp filters) and syscalls on its PID
 * (scheduler, rlimits, robust futex list). Nothing here changes the task.
 */
import { rawSyscall, ptrace, SysError, readU64, readI32 } from '../sys/index.js';
import { readLimits, readStatus, type ProcStatus } from '../proc/index.js';
import type { Arch, Regsets } from '../arch/types.js';
import type { MessageValue } from '../images/index.js';
import { DumpError } from '../shared/dump-error.js';
import { faultPoint, uncounted } from '../fault.js';

const RLIM_NLIMITS = 16;
const SCHED_RESET_ON_FORK = 0x40000000;
const SCHED_FIFO = 1;
const SCHED_RR = 2;

/** Every regset the architecture lists; optional ones the kernel or CPU lacks are left out. */
export function readRegsets(pid: number, arch: Arch): Regsets {
  const out: Regsets = new Map();
  for (const spec of arch.regsets) {
    if (spec.skip?.(out)) continue;
    try {
      out.set(spec.nt, ptrace.getRegset(pid, spec.nt, spec.maxSize));
    } catch (e) {
      if (spec.required) throw e;
    }
  }
  return out;
}

export function readRlimits(pid: number): MessageValue[] {
  const out: MessageValue[] = [];
  const buf = Buffer.alloc(16);
  for (let r = 0; r < RLIM_NLIMITS; r++) {
    try {
      rawSyscall('prlimit64', pid, r, 0, buf);
    } catch (e) {
      // prlimit64 on a task of another user needs CAP_SYS_RESOURCE; /proc/PID/limits does not.
      if (e instanceof SysError && e.code === 'EPERM') return rlimitsFromProc(pid);
      throw e;
    }
    out.push({ cur: readU64(buf, 0), max: readU64(buf, 8) });
  }
  return out;
}

const RLIM_INFINITY = 0xffffffffffffffffn;

/** The same, from /proc/PID/limits (one line per resource, in resource order). */
function rlimitsFromProc(pid: number): MessageValue[] {
  const lines = readLimits(pid);
  if (lines.length < RLIM_NLIMITS) throw new DumpError('FAILED', `/proc/${pid}/limits has ${lines.length} limits, want ${RLIM_NLIMITS}`);
  return lines.slice(0, RLIM_NLIMITS).map((l) => ({ cur: l.soft ?? RLIM_INFINITY, max: l.hard ?? RLIM_INFINITY }));
}

export interface Sched {
  policy: number;
  prio?: number;
  nice: number;
}

export function readSched(pid: number): Sched {
  const policy = Number(rawSyscall('sched_getscheduler', pid));
  const s: Sched = { policy, nice: 0 };
  const base = policy & ~SCHED_RESET_ON_FORK;
  if (base === SCHED_FIFO || base === SCHED_RR) {
    const p = Buffer.alloc(4);
    rawSyscall('sched_getparam', pid, p);
    s.prio = readI32(p, 0);
  }
  // The raw syscall answers 20 - nice (1..40), never negative.
  s.nice = 20 - Number(rawSyscall('getpriority', 0, pid));
  return s;
}

export function readRobustList(pid: number): { head: bigint; len: number } {
  const head = Buffer.alloc(8);
  const len = Buffer.alloc(8);
  rawSyscall('get_robust_list', pid, head, len);
  return { head: readU64(head, 0), len: Number(readU64(len, 0)) };
}

/**
 * Queued signals (private to the thread, or shared by the process), as siginfo_entry values.
 * `pending`: that queue's set as status shows it (SigPnd, ShdPnd), read while frozen: a signal is
 * queued only with its bit set, so an empty set needs no PTRACE_PEEKSIGINFO.
 */
export function readQueuedSignals(pid: number, shared: boolean, pending?: bigint): MessageValue {
  if (pending === 0n) return {};
  const signals: MessageValue[] = [];
  for (;;) {
    const got = ptrace.peekSiginfo(pid, signals.length, 32, shared);
    for (const si of got) signals.push({ siginfo: Buffer.from(si) });
    if (got.length < 32) break;
  }
  return signals.length > 0 ? { signals } : {};
}

/** The task's seccomp filters, oldest first (PTRACE_SECCOMP_GET_FILTER counts from the newest). */
export function readSeccompFilters(pid: number, count: number): Buffer[] {
  const newestFirst: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    try {
      newestFirst.push(ptrace.seccompGetFilter(pid, i));
    } catch (e) {
      if (e instanceof SysError && e.code === 'ENOENT') break;
      throw e;
    }
  }
  return newestFirst.reverse();
}

const capWords = (v: bigint): number[] => [Number(v & 0xffffffffn), Number(v >> 32n)];

export function credsFromStatus(st: ProcStatus, secbits: number): MessageValue {
  const c: MessageValue = {
    uid: st.uid[0], gid: st.gid[0], euid: st.uid[1], egid: st.gid[1],
    suid: st.uid[2], sgid: st.gid[2], fsuid: st.uid[3], fsgid: st.gid[3],
    cap_inh: capWords(st.capInh), cap_prm: capWords(st.capPrm), cap_eff: capWords(st.capEff), cap_bnd: capWords(st.capBnd),
    secbits,
  };
  if (st.groups.length > 0) c.groups = st.groups;
  if (st.noNewPrivs) c.no_new_privs = 1;
  c.cap_amb = capWords(st.capAmb);
  return c;
}

export function rseqEntry(pid: number): MessageValue | undefined {
  let conf;
  try {
    conf = ptrace.getRseqConfiguration(pid);
  } catch (e) {
    if (e instanceof SysError && (e.code === 'EIO' || e.code === 'EINVAL')) return undefined; // kernel without it
    throw e;
  }
  return { rseq_abi_pointer: conf.rseqAbiPointer, rseq_abi_size: conf.rseqAbiSize, signature: conf.signature };
}

/** A task cryo cannot dump as it is: one clear line saying why. */
export function checkDumpable(pid: number, st: ProcStatus): void {
  if (st.state === 'Z' || st.state === 'X') throw new DumpError('NO_PROCESS', `task ${pid} is a zombie: nothing left to dump`);
  // Kthread: since Linux 6.0; before, a kernel thread is the live task without a VmSize line.
  if (st.raw.Kthread === '1' || (st.raw.Kthread === undefined && st.raw.VmSize === undefined)) {
    throw new DumpError('UNSUPPORTED', `task ${pid} (${st.name}) is a kernel thread: only user processes can be dumped`);
  }
  if (st.tracerPid !== 0) throw new DumpError('BUSY', `task ${pid} is traced by process ${st.tracerPid}: detach that tracer first`);
}

/** The process a resident service (cryo service) runs the command for: its line is protected as cryo's own. */
let caller: number | undefined;
export function setCommandCaller(pid: number | undefined): void {
  caller = pid;
}

/** A tree with cryo in it (the process itself or an ancestor of cryo's, or of the service's caller) cannot be frozen by cryo. */
export function checkNotCryosLine(pid: number): void {
  // How many ancestors cryo (or its caller) has is not the task's state, and changes when one ends: one fault point.
  faultPoint("read cryo's ancestors' status");
  uncounted(() => {
    for (const [from, who] of [[process.pid, 'cryo'], ...(caller === undefined ? [] : [[caller, 'the cryo command (the service\'s caller)']])] as [number, string][]) {
      for (let at = from, depth = 0; at > 1 && depth < 4096; depth++) {
        if (at === pid) {
          const what = pid === from ? `is ${who} itself` : `is an ancestor of ${who} (pid ${from})`;
          throw new DumpError('UNSUPPORTED', `process ${pid} ${what}: cryo cannot freeze a tree it runs in; dump a process outside its line (start it with setsid, or from another shell)`);
        }
        try { at = readStatus(at).ppid; } catch { break; } // the caller gone meanwhile
      }
    }
  });
}
