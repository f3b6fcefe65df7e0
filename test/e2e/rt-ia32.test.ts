// 32-bit x86 (ia32) processes through the same round trips as the 64-bit ones: test programs
// built with i686-linux-gnu-gcc (NAME.ia32, see scripts/build-test-programs.mjs) are dumped by
// the 64-bit cryo, restored and check themselves on SIGTERM. Registers, x87/SSE, the GDT TLS
// slots, signal handlers, threads, timers, pipes, files, a call in progress, and a 64-bit parent
// with an ia32 child in one tree. Edited images prove the checks notice; crit reads the images;
// preflight refuses an ia32 image where the kernel cannot run ia32 programs (a simulated answer:
// the tests run only where the kernel can) and a dump of another machine, before anything starts.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { MessageValue } from '../../src/images/value.js';
import { decodeImageFile } from '../../src/images/index.js';
import { archFor } from '../../src/arch/index.js';
import { ia32Unsupported } from '../../src/arch/x86_64/ia32-probe.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { dump } from '../../src/dump/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { __WALL, hostCpuid, kill, sleepSync, waitpid } from '../../src/sys/index.js';
import { editImage, nothingLeftBehind } from '../helpers/restore-env.js';
import { programsBinDir } from '../helpers/paths.js';
import { onlyOn } from '../helpers/arch-only.js';
import { dumpInSyscall } from '../helpers/dump-in-syscall.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));
const have = existsSync(path.join(programsBinDir, 'rt-regs.ia32'));
const skip = onlyOn(['x64'], 'ia32 tasks exist on x86_64') || (have ? false : 'no i686 cross compiler (gcc-i686-linux-gnu): ia32 test programs not built') || (ia32Unsupported() ?? false);
const CI = process.env.CI === 'true';
if (CI && process.arch === 'x64') assert.ok(have, 'CI must build the ia32 test programs (.ci/run installs gcc-i686-linux-gnu)');
// The x86_64 guest (scripts/test-arch.mjs) is there to run these: a kernel that skips them there fails.
if (process.env.CRYO_GUEST === '1' && process.arch === 'x64') {
  assert.ok(have, 'the x86_64 guest has the ia32 test programs (the host builds them with gcc-i686-linux-gnu)');
  assert.equal(ia32Unsupported(), undefined, "the x86_64 guest's kernel runs ia32 programs");
}

async function dumped(name: string, args: string[] = []): Promise<Dumped> {
  const d = await startAndDump(`${name}.ia32`, args);
  all.push(d);
  return d;
}

/** rt-regs sits in pause (i386 number 29): SIGTERM only once it is back inside, or it would wait on. */
const inPause = { inSyscall: 29 };
const core = (d: Dumped) => `core-${d.pid}.img`;
const threadInfo = (e: MessageValue[]) => e[0]!.thread_info as MessageValue;

test('ia32: registers, x87/SSE and both GDT TLS slots; images say COMPAT and crit reads them', { skip }, async () => {
  const d = await dumped('rt-regs');
  const c = decodeImageFile(path.join(d.images, core(d))).entries[0]!.value;
  const gp = threadInfo([c]).gpregs as MessageValue;
  assert.equal(gp.mode, 'COMPAT');
  assert.equal(BigInt(gp.cs as bigint), 0x23n);
  const tls = threadInfo([c]).tls as MessageValue[];
  const slot = Number(d.target.ready.fsidx);
  assert.deepEqual(tls.map((t) => Number(t.entry_number)), [12, 13, 14]);
  assert.ok(tls.some((t) => Number(t.entry_number) === slot && t.seg_not_present === false), 'the set_thread_area slot is in the image');
  const sigactions = (c.tc as MessageValue).sigactions as MessageValue[];
  assert.ok(sigactions.every((a) => a.compat_sigaction === true), 'every action is marked compat');
  const crit = spawnSync('crit', ['decode', '-i', path.join(d.images, core(d))], { encoding: 'utf8' });
  if (crit.error === undefined) {
    assert.equal(crit.status, 0, crit.stderr);
    assert.match(crit.stdout, /"mode": "COMPAT"/);
    assert.match(crit.stdout, /"compat_sigaction": true/);
  } else assert.ok(!CI, 'crit is installed in CI');

  assert.equal(await restoreAndFinish(d, undefined, inPause), 'PASS');
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core(d), (e) => {
    const t = (threadInfo(e).tls as MessageValue[]).find((x) => Number(x.entry_number) === slot)!;
    t.base_addr = Number(t.base_addr) + 4;
  }), inPause), /^FAIL: the set_thread_area slot through %fs reads 0x0/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core(d), (e) => {
    const g = threadInfo(e).gpregs as MessageValue;
    g.si = 0x05050506n;
  }), inPause), /^FAIL: general register 3 is 0x5050506/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core(d), (e) => {
    const fp = threadInfo(e).fpregs as MessageValue;
    (fp.xmm_space as number[])[5 * 4 + 2] = 0x12345678;
  }), inPause), /^FAIL: xmm5 word 2 is 0x12345678/);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core(d), (e) => {
    const fp = threadInfo(e).fpregs as MessageValue;
    fp.cwd = 0x37f;
  }), inPause), /^FAIL: x87 control word 0x37f/);
});

for (const name of ['rt-mem', 'rt-sig', 'rt-thread', 'rt-threads', 'rt-task-timers', 'rt-files-pipe', 'rt-files-reg']) {
  test(`ia32: ${name} round trip`, { skip }, async () => {
    const d = await dumped(name);
    assert.equal(await restoreAndFinish(d), 'PASS');
  });
}

test('ia32: signal handlers come back for 32-bit frames (a changed handler flag is noticed)', { skip }, async () => {
  const d = all.find((x) => x.target.dir.includes('rt-sig.ia32')) ?? await dumped('rt-sig');
  const idx = 8; // SIGUSR1 (SIGKILL has no entry)
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, core(d), (e) => {
    const a = ((e[0]!.tc as MessageValue).sigactions as MessageValue[])[idx]!;
    a.flags = BigInt(a.flags as bigint) & ~0x10000000n;
  })), /^FAIL: signal 10 action differs/);
});

/** Registers edited to leave the syscall with `result` instead of restarting it (32-bit values). */
const returnWith = (pid: number, result: bigint) => (dir: string) => editImage(dir, `core-${pid}.img`, (e) => {
  const gp = threadInfo(e).gpregs as MessageValue;
  if ((gp.ax as bigint) === (gp.orig_ax as bigint)) gp.ip = (gp.ip as bigint) + 2n; // rewound for a restart
  gp.ax = BigInt.asUintN(32, result);
});

test('ia32: dumped inside nanosleep (i386 number 162): EINTR with the time left, as the kernel would', { skip }, async () => {
  const NR_NANOSLEEP_IA32 = 162;
  const d = await dumpInSyscall('rt-restart.ia32', ['nanosleep'], NR_NANOSLEEP_IA32);
  all.push(d);
  // SIGTERM once it sleeps in rt_wait_term (glibc's clock_nanosleep, i386 number 267): its EINTR came before.
  assert.equal(await restoreAndFinish(d, undefined, { inSyscall: 267 }), 'PASS');
  assert.match(await restoreAndFinish(d, returnWith(d.pid, 0n)), /^FAIL: nanosleep returned 0/); // (SIGTERM may land first)
});

test('ia32: dumped inside a pipe read (i386 number 3): restarted, it returns what is written after restore', { skip }, async () => {
  const NR_READ_IA32 = 3;
  const d = await dumpInSyscall('rt-restart.ia32', ['read'], NR_READ_IA32);
  all.push(d);
  const gp = threadInfo(decodeImageFile(path.join(d.images, core(d))).entries.map((e) => e.value)).gpregs as MessageValue;
  assert.equal(BigInt(gp.orig_ax as bigint), BigInt(NR_READ_IA32), 'stopped in read');
  assert.equal(BigInt(gp.ax as bigint), BigInt(NR_READ_IA32), 'rewound to restart it');
  const writeFinish = async (edit?: (dir: string) => void): Promise<string> => {
    const dir = imagesCopy(d, edit);
    truncateSync(d.target.outFile, Buffer.byteLength(d.readyLine) + 1);
    try {
      await restore({ dir, detach: true });
      sleepSync(30); // let it sit in the restarted read a while
      writeFileSync(`/proc/${d.pid}/fd/16`, 'hello');
      sleepSync(20);
      return d.target.finish();
    } finally {
      try { kill(d.pid, 9); waitpid(d.pid, __WALL); } catch { /* gone */ }
      rmSync(dir, { recursive: true, force: true });
      assert.equal(nothingLeftBehind(d.pid), undefined);
    }
  };
  assert.equal(await writeFinish(), 'PASS');
  assert.match(await writeFinish(returnWith(d.pid, -4n)), /^FAIL: read returned -1 \(Interrupted system call\) before SIGTERM/);
});

test('ia32: a 64-bit parent with an ia32 child, dumped and restored as one tree', { skip }, async () => {
  const d = await startAndDump('rt-mixed', [path.join(programsBinDir, 'rt-sig.ia32')]);
  all.push(d);
  const child = Number(d.target.ready.child);
  const mode = (pid: number) => (threadInfo(decodeImageFile(path.join(d.images, `core-${pid}.img`)).entries.map((e) => e.value)).gpregs as MessageValue).mode;
  assert.equal(mode(d.pid), 'NATIVE');
  assert.equal(mode(child), 'COMPAT');
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `core-${child}.img`, (e) => {
    const a = ((e[0]!.tc as MessageValue).sigactions as MessageValue[])[8]!; // SIGUSR1 (SIGKILL has no entry)
    a.flags = BigInt(a.flags as bigint) & ~0x10000000n;
  })), /^FAIL: the child said: FAIL: signal 10 action differs/);
});

test('ia32: an ia32 parent with a 64-bit child, dumped and restored as one tree', { skip }, async () => {
  const d = await startAndDump('rt-mixed.ia32', [path.join(programsBinDir, 'rt-sig')]);
  all.push(d);
  const child = Number(d.target.ready.child);
  const mode = (pid: number) => (threadInfo(decodeImageFile(path.join(d.images, `core-${pid}.img`)).entries.map((e) => e.value)).gpregs as MessageValue).mode;
  assert.equal(mode(d.pid), 'COMPAT');
  assert.equal(mode(child), 'NATIVE');
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `core-${child}.img`, (e) => {
    const a = ((e[0]!.tc as MessageValue).sigactions as MessageValue[])[8]!; // SIGUSR1 (SIGKILL has no entry)
    a.flags = BigInt(a.flags as bigint) & ~0x10000000n;
  })), /^FAIL: the child said: FAIL: signal 10 action differs/);
});

test('ia32: preflight refuses an ia32 image where the kernel runs no ia32 programs, and a dump of another machine', { skip }, async () => {
  const d = all.find((x) => x.target.dir.includes('rt-mem.ia32')) ?? await dumped('rt-mem');
  const cpu = hostCpuid();
  const probe = cpu ? { cpuid: cpu.cpuid.bind(cpu), xgetbv: cpu.xgetbv.bind(cpu) } : {};
  const noIa32 = archFor('x64', { ...probe, secondAbiUnsupported: () => 'this kernel does not run 32-bit x86 programs (simulated)' });
  const dir = imagesCopy(d);
  await assert.rejects(restore({ dir, detach: true, arch: noIa32 }), (e: unknown) => {
    assert.ok(e instanceof RestoreError);
    assert.equal(e.code, 'ARCH_MISMATCH');
    assert.match(e.message, new RegExp(`process ${d.pid} is an ia32 process and this kernel does not run 32-bit x86 programs \\(simulated\\)`));
    return true;
  });
  assert.equal(existsSync(`/proc/${d.pid}`), false, 'nothing was started');
  // The same arch restores a 64-bit process: the refusal is about the image's ABI.
  const other = imagesCopy(d, (x) => editImage(x, core(d), (e) => { e[0]!.mtype = 'AARCH64'; }));
  await assert.rejects(restore({ dir: other, detach: true }), /the dump is of a AARCH64 process and this machine is X86_64/);
  assert.equal(existsSync(`/proc/${d.pid}`), false, 'nothing was started');
});

test('ia32: where this kernel runs no ia32 programs, a restore of an ia32 process is refused before anything starts, saying why', {
  skip: onlyOn(['x64'], 'ia32 tasks exist on x86_64') || (ia32Unsupported() ? false : 'this kernel runs ia32 programs: the simulated refusal above covers it'),
}, async () => {
  // No ia32 task can run here to be dumped: a 64-bit dump whose registers say COMPAT stands for one.
  const d = await startAndDump('rt-mem');
  all.push(d);
  const err = await restoreRefused(d, (dir) => editImage(dir, core(d), (e) => { (threadInfo(e).gpregs as MessageValue).mode = 'COMPAT'; }));
  assert.match(err, new RegExp(`process ${d.pid} is an ia32 process and this kernel does not run 32-bit x86 programs \\(execve of one says ENOEXEC`));
  assert.equal(await restoreAndFinish(d), 'PASS', 'the unedited dump restores');
});

test("ia32: an io_uring ring dumped twice, the second dump looking for its personalities in batches of the task's runner (int $0x80 and 64-bit calls); the program's ring works on", { skip }, async () => {
  // The first dump (left running) moves the ring's personality cursor, so the second takes every
  // free id and gives them back, in the ring's thread: in batches, where once an ia32 task had no
  // batch runner and its ring was refused ("has or had registered personalities").
  const t = startTarget('rt-iouring-raw.ia32', ['200']);
  try {
    for (const k of [1, 2]) await dump({ pid: t.pid, dir: path.join(t.dir, `images-${k}`), leaveRunning: true });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
