// Pure parts of src/sys: errno table, SysError, wait-status decoders, syscall tables.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { test } from 'node:test';
import { ERRNO, SysError, errnoName } from '../../src/sys/errno.js';
import { SYSCALL_TABLES, syscallNumber, syscallTableFor } from '../../src/sys/syscall-table.js';
import * as ws from '../../src/sys/wait-status.js';
import { PTRACE_EVENT_EXEC, PTRACE_EVENT_STOP } from '../../src/sys/ptrace-constants.js';
import { ARCH_ABI } from '../helpers/arch-abi.js';

const S = constants.signals;

test('errno names round-trip through numbers (aliases never win)', () => {
  for (const [name, nr] of Object.entries(ERRNO)) {
    if (['EWOULDBLOCK', 'EDEADLOCK', 'ENOTSUP'].includes(name)) continue;
    assert.equal(errnoName(nr), name);
  }
  assert.equal(errnoName(11), 'EAGAIN');
  assert.equal(errnoName(95), 'EOPNOTSUPP');
  assert.equal(errnoName(4242), 'E4242');
});

test('errno table agrees with Node (libuv) where both know a name', () => {
  const node = constants.errno as Record<string, number>;
  let compared = 0;
  for (const [name, nr] of Object.entries(node)) {
    if (name in ERRNO) { assert.equal(ERRNO[name], nr, name); compared++; }
  }
  assert.ok(compared > 50, `only ${compared} names compared`);
});

test('SysError message names errno and call', () => {
  const e = new SysError(1, 'ptrace(SEIZE, 1234)');
  assert.equal(e.message, 'EPERM from ptrace(SEIZE, 1234)');
  assert.equal(e.code, 'EPERM');
  assert.equal(e.errno, 1);
  assert.equal(e.call, 'ptrace(SEIZE, 1234)');
  assert.ok(e instanceof Error);
});

test('wait status decoders', () => {
  const exit3 = 3 << 8;
  assert.ok(ws.exited(exit3) && !ws.signaled(exit3) && !ws.stopped(exit3));
  assert.equal(ws.exitCode(exit3), 3);

  const killed = S.SIGKILL;
  assert.ok(ws.signaled(killed) && !ws.exited(killed) && !ws.stopped(killed));
  assert.equal(ws.termSig(killed), S.SIGKILL);
  assert.ok(!ws.coreDump(killed));
  assert.ok(ws.coreDump(S.SIGSEGV | 0x80));

  const sigstop = (S.SIGSTOP << 8) | 0x7f;
  assert.ok(ws.stopped(sigstop) && !ws.signaled(sigstop));
  assert.equal(ws.stopSig(sigstop), S.SIGSTOP);
  assert.equal(ws.ptraceEvent(sigstop), 0);
  assert.ok(!ws.groupStop(sigstop), 'a plain signal-delivery stop is not a SEIZE group-stop');

  const group = (PTRACE_EVENT_STOP << 16) | (S.SIGTSTP << 8) | 0x7f;
  assert.ok(ws.groupStop(group) && !ws.interruptStop(group));
  const intr = (PTRACE_EVENT_STOP << 16) | (S.SIGTRAP << 8) | 0x7f;
  assert.ok(ws.interruptStop(intr) && !ws.groupStop(intr));
  assert.equal(ws.ptraceEvent((PTRACE_EVENT_EXEC << 16) | (S.SIGTRAP << 8) | 0x7f), PTRACE_EVENT_EXEC);

  assert.ok(ws.continued(0xffff) && !ws.exited(0xffff));
  assert.equal(ws.describeStatus(exit3), 'exited with code 3');
  assert.equal(ws.describeStatus(killed), 'killed by SIGKILL');
});

test('syscall tables: each architecture has the calls cryo needs, with the kernel numbers', () => {
  const expected: Record<string, Record<string, number>> = {
    x64: { read: 0, ptrace: 101, wait4: 61, process_vm_readv: 310, kcmp: 312, rt_sigreturn: 15 },
    arm64: { read: 63, ptrace: 117, wait4: 260, process_vm_readv: 270, kcmp: 272, rt_sigreturn: 139 },
    ppc64: { read: 3, ptrace: 26, wait4: 114, process_vm_readv: 351, kcmp: 354, rt_sigreturn: 172 },
    s390x: { read: 3, ptrace: 26, wait4: 114, process_vm_readv: 340, kcmp: 343, rt_sigreturn: 173 },
  };
  assert.deepEqual(Object.keys(SYSCALL_TABLES).sort(), Object.keys(expected).sort());
  const common = ['clone3', 'pidfd_open', 'pidfd_getfd', 'pidfd_send_signal', 'waitid', 'memfd_create', 'prctl',
    'ioctl', 'lseek', 'gettid', 'getpid', 'kill', 'tgkill', 'personality', 'process_vm_writev',
    'name_to_handle_at', 'open_by_handle_at', 'mmap', 'munmap', 'rseq', 'close_range'];
  for (const [arch, known] of Object.entries(expected)) {
    for (const [name, nr] of Object.entries(known)) assert.equal(syscallNumber(name, arch), nr, `${arch} ${name}`);
    for (const name of common) assert.equal(typeof syscallTableFor(arch)[name], 'number', `${arch} lacks ${name}`);
    assert.equal(syscallNumber('clone3', arch), 435); // unified numbering from 424 on
    assert.ok(Object.keys(syscallTableFor(arch)).length > 300, `${arch} table looks incomplete`);
  }
  assert.throws(() => syscallTableFor('mips'), /does not support the mips architecture/);
  assert.throws(() => syscallNumber('no_such_call', 'x64'), /no syscall named no_such_call on x64/);
});

// Cross-check the host table against the C library's headers where they are installed: only the host
// triplet's own header (a multiarch /usr/include may hold other architectures'; aarch64 has no unistd_64.h).
// test/cross/arch-abi-headers.test.ts checks every architecture's table with its cross compiler.
const unistd = (() => {
  const f = `/usr/include/${ARCH_ABI[process.arch]?.triplet}/asm/unistd_64.h`;
  return existsSync(f) ? f : undefined;
})();
test('host table agrees with the installed asm/unistd_64.h', { skip: unistd ? false : `no /usr/include/<${process.arch} triplet>/asm/unistd_64.h here` }, () => {
  const text = readFileSync(unistd!, 'utf8');
  const table = syscallTableFor(process.arch);
  let n = 0;
  for (const m of text.matchAll(/#define __NR_(\w+)\s+(\d+)/g)) {
    assert.equal(table[m[1]], Number(m[2]), `__NR_${m[1]}`);
    n++;
  }
  assert.ok(n > 300);
});
