// spawn (clone3 + set_tid + execve) against the real kernel.
import assert from 'node:assert/strict';
import { closeSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { test } from 'node:test';
import {
  P_PID, SysError, WEXITED, __WALL, exitCode, exited, kill, pidfdOpen, pidfdSendSignal, ptrace, rawSyscall, spawn, waitid, stopSig, stopped, waitForStop, waitpid,
} from '../../src/sys/index.js';

const S = constants.signals;
const TRUE = existsSync('/bin/true') ? '/bin/true' : '/usr/bin/true';

/**
 * A PID that is free now: some distance above the last one handed out, below pid_max, and neither a
 * process's nor a process group's or session's (a group outlives its leader and keeps the number).
 */
function freePid(): number {
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  const held = new Set<number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // stat: pid (comm) state ppid pgrp session ...
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      held.add(Number(f[2])).add(Number(f[3]));
    } catch { /* gone */ }
  }
  for (let p = last + 5000; ; p += 7) {
    if (p >= pidMax) p = 300 + (p % 1000);
    if (!existsSync(`/proc/${p}`) && !held.has(p)) return p;
  }
}

function reap(pid: number): number {
  const r = waitpid(pid, __WALL);
  assert.equal(r.pid, pid);
  return r.status;
}

test('spawn runs a program with any PID and reports its exit', () => {
  const pid = spawn({ path: '/bin/sh', argv: ['sh', '-c', 'exit 7'] });
  assert.ok(pid > 0);
  const st = reap(pid);
  assert.ok(exited(st));
  assert.equal(exitCode(st), 7);
});

test('spawn with setTid gives the child exactly that PID', () => {
  const want = freePid();
  const pid = spawn({ path: TRUE, setTid: [want] });
  assert.equal(pid, want);
  const st = reap(pid);
  assert.ok(exited(st) && exitCode(st) === 0);
});

test('setTid of a PID in use is EEXIST from clone3', () => {
  const taken = process.pid;
  assert.throws(() => spawn({ path: TRUE, setTid: [taken] }), (err: unknown) => {
    assert.ok(err instanceof SysError);
    assert.equal(err.code, 'EEXIST');
    assert.equal(err.message, `EEXIST from clone3(set_tid=[${taken}])`);
    return true;
  });
});

test('a failing execve is a SysError naming execve and the path', () => {
  assert.throws(() => spawn({ path: '/no/such/program' }), (err: unknown) => {
    assert.ok(err instanceof SysError);
    assert.equal(err.message, 'ENOENT from execve(/no/such/program)');
    return true;
  });
});

test('stopBeforeExec stops the child before it runs the program', () => {
  const pid = spawn({ path: '/bin/sh', argv: ['sh', '-c', 'exit 3'], stopBeforeExec: true });
  const st = waitpid(pid, 2 /* WUNTRACED */ | __WALL);
  assert.ok(stopped(st.status) && stopSig(st.status) === S.SIGSTOP, `status 0x${st.status.toString(16)}`);
  kill(pid, S.SIGCONT);
  const end = reap(pid);
  assert.ok(exited(end) && exitCode(end) === 3);
});

test('traceMe makes the child stop with SIGTRAP after execve, under our tracing', () => {
  const pid = spawn({ path: '/bin/sh', argv: ['sh', '-c', 'exit 5'], traceMe: true });
  const st = waitForStop(pid, { timeoutMs: 5000 });
  assert.equal(stopSig(st.status), S.SIGTRAP);
  ptrace.cont(pid);
  const end = reap(pid);
  assert.ok(exited(end) && exitCode(end) === 5);
});

test('the child starts clean: only keepFds open (not close-on-exec), no blocked or ignored signals', () => {
  const fds = new Int32Array(2);
  rawSyscall('pipe2', fds, 0o2000000 /* O_CLOEXEC: keepFds must still pass it on */);
  const [r, w] = [fds[0], fds[1]];
  try {
    // Stopped just before execve: everything the child set up is visible in /proc.
    const pid = spawn({ path: TRUE, keepFds: [0, 1, 2, w], stopBeforeExec: true });
    try {
      const st = waitpid(pid, 2 /* WUNTRACED */ | __WALL);
      assert.ok(stopped(st.status));
      const open = readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
      assert.deepEqual(open, [0, 1, 2, w].filter((fd) => existsSync(`/proc/self/fd/${fd}`)).sort((a, b) => a - b));
      const flags = Number.parseInt(readFileSync(`/proc/${pid}/fdinfo/${w}`, 'utf8').match(/flags:\s+(\d+)/)![1], 8);
      assert.equal(flags & 0o2000000, 0, 'kept fd is still close-on-exec');
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /SigBlk:\s+0+\n/);
      assert.match(status, /SigIgn:\s+0+\n/);
    } finally {
      kill(pid, S.SIGCONT);
    }
    const end = reap(pid);
    assert.ok(exited(end) && exitCode(end) === 0);
  } finally {
    closeSync(r);
    closeSync(w);
  }
});

test('pidfd_send_signal kills through a pidfd; waitid reports it', () => {
  const pid = spawn({ path: '/bin/sleep', argv: ['sleep', '30'] });
  const pidfd = pidfdOpen(pid);
  try {
    pidfdSendSignal(pidfd, S.SIGKILL);
    const r = waitid(P_PID, pid, WEXITED);
    assert.equal(r.pid, pid);
    assert.equal(r.code, 2 /* CLD_KILLED */);
    assert.equal(r.status, S.SIGKILL);
  } finally {
    closeSync(pidfd);
  }
});
