// Probes on another process: ptrace and its requests, clone3 set_tid, pidfd, kcmp, process_vm_*.
import { closeSync, existsSync, readFileSync } from 'node:fs';
import { readMaps } from '../proc/index.js';
import {
  KCMP_VM, SysError, getpid, kcmp, pidfdGetfd, pidfdOpen, processVmReadv, processVmWritev, ptrace,
} from '../sys/index.js';
import { release, startChild, type ProbeChild } from './child.js';
import { missing, ok, probe } from './result.js';
import type { CheckResult } from './types.js';

const PTRACE = 'ptrace';
const SIGNALS = 'ptrace GETSIGMASK/PEEKSIGINFO';
const RSEQ = 'ptrace GET_RSEQ_CONFIGURATION';
const SECCOMP = 'ptrace SECCOMP_GET_FILTER';

const NO_PTRACE = 'cryo seizes every task it dumps or restores: nothing works without it';

/** Everything that needs a seized child, in one child's life. */
export function taskProbes(): CheckResult[] {
  let child: ProbeChild;
  try {
    child = startChild();
  } catch (e) {
    return [missing(PTRACE, true, `cannot start a child to try it on: ${NO_PTRACE}`, e)];
  }
  try {
    return child.traced ? tracedProbes(child.pid) : [
      missing(PTRACE, true, NO_PTRACE, child.traceError),
      ...[SIGNALS, RSEQ, SECCOMP].map((name) => missing(name, name !== SECCOMP, 'not tried: ptrace does not work')),
      ...untracedProbes(child.pid),
    ];
  } finally {
    release(child.pid);
  }
}

function tracedProbes(pid: number): CheckResult[] {
  return [
    ok(PTRACE, true, 'PTRACE_SEIZE with PTRACE_O_EXITKILL, PTRACE_INTERRUPT'),
    probe(SIGNALS, true, 'cryo cannot read blocked and pending signals', () => {
      ptrace.getSigmask(pid);
      ptrace.peekSiginfo(pid, 0, 1, false);
      ptrace.peekSiginfo(pid, 0, 1, true);
    }),
    probe(RSEQ, true, 'cryo cannot dump tasks that registered rseq (glibc 2.35+ does in every thread)', () => {
      ptrace.getRseqConfiguration(pid);
    }),
    seccompFilterProbe(pid),
    ...untracedProbes(pid),
  ];
}

/**
 * The kernel answers EINVAL for a task without a filter when it supports the request, EIO when it
 * does not know it (CONFIG_CHECKPOINT_RESTORE off), EACCES without CAP_SYS_ADMIN.
 */
function seccompFilterProbe(pid: number): CheckResult {
  const meaning = 'tasks under a seccomp filter cannot be dumped';
  try {
    ptrace.ptrace(ptrace.PTRACE.SECCOMP_GET_FILTER, pid, 0, 0, 'filter 0');
    return ok(SECCOMP, false);
  } catch (e) {
    return e instanceof SysError && e.code === 'EINVAL' ? ok(SECCOMP, false) : missing(SECCOMP, false, meaning, e);
  }
}

function untracedProbes(pid: number): CheckResult[] {
  return [
    probe('pidfd_open/pidfd_getfd', true, 'cryo cannot copy a task\'s descriptors to read its files and pipes', () => {
      const pidfd = pidfdOpen(pid);
      try {
        closeSync(pidfdGetfd(pidfd, 0));
      } finally {
        closeSync(pidfd);
      }
    }),
    probe('kcmp', false, 'cryo cannot tell which tasks share files, memory or fs state', () => {
      kcmp(getpid(), pid, KCMP_VM);
    }),
    probe('process_vm_readv/writev', true, 'cryo cannot read or write a task\'s memory quickly', () => {
      const stack = readMaps(pid).find((v) => v.name === '[stack]');
      if (stack === undefined) throw new Error(`task ${pid} has no [stack] mapping to try it on`);
      const at = stack.end - 64n;
      const bytes = processVmReadv(pid, at, 64);
      if (bytes.length !== 64) throw new Error(`process_vm_readv(${pid}) read ${bytes.length} of 64 bytes`);
      processVmWritev(pid, at, bytes); // the same bytes back
    }),
  ];
}

/** clone3 with set_tid: a child started with a chosen, free PID. */
export function cloneSetTidProbe(): CheckResult {
  const name = 'clone3 set_tid';
  const meaning = 'restore cannot give a task its PID back';
  for (let tries = 0; ; tries++) {
    const want = freePid();
    let pid: number | undefined;
    try {
      pid = startChild(want).pid;
      return pid === want ? ok(name, true) : missing(name, true, `${meaning} (asked for PID ${want}, got ${pid})`);
    } catch (e) {
      if (e instanceof SysError && e.code === 'EEXIST' && tries < 3) continue; // someone took it meanwhile
      return missing(name, true, meaning, e);
    } finally {
      if (pid !== undefined) release(pid);
    }
  }
}

/** A PID nobody uses now: some distance above the last one handed out, below pid_max. */
function freePid(): number {
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  for (let p = last + 1000 + Math.floor(Math.random() * 1000); ; p += 7) {
    if (p >= pidMax) p = 300 + (p % 1000);
    if (!existsSync(`/proc/${p}`)) return p;
  }
}
