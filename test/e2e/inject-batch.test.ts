// src/inject/batch.ts against a real process: the arch's batch runner runs a table of syscalls in
// one stop, their results are the task's own, the first failure stops the batch and is an error
// naming the call (runEach's calls run on after failures), and the task runs on unharmed (registers, mask, maps) afterwards.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hostArch } from '../../src/arch/index.js';
import { ia32Unsupported } from '../../src/arch/x86_64/ia32-probe.js';
import { SyscallBatch, mapScratch } from '../../src/inject/index.js';
import { readMaps } from '../../src/proc/index.js';
import { processVmWritev, processVmReadv } from '../../src/sys/index.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { injectAndUndo, seizeStopped } from '../helpers/injected.js';
import { programsBinDir } from '../helpers/paths.js';
import { readI64 } from '../../src/sys/native-endian.js';

let t: Target;
before(() => { t = startTarget('dump-state'); });
after(() => t?.cleanup());

const PROT_READ = 1;
const PROT_WRITE = 2;
const PROT_EXEC = 4;

test('a batch of injected syscalls runs in one stop and stops at the first failure', async (ctx) => {
  const arch = await hostArch();
  const code = arch.syscall.batchCode;
  if (!code) {
    ctx.skip(`${arch.name} has no batch runner: calls run one at a time`);
    return;
  }
  const pid = t.pid;
  const mapsBefore = readFileSync(`/proc/${pid}/maps`, 'utf8');
  seizeStopped(pid);
  injectAndUndo(pid, arch, (inj, undo) => {
    // Three pages: the runner's code (made read+exec), the table, a page to change protections of.
    const area = mapScratch(inj, undo, readMaps(pid), arch.pageSize, 3);
    const target = area.addr + 2n * BigInt(arch.pageSize);
    assert.equal(processVmWritev(pid, area.addr, code), code.length);
    inj.call('mprotect', area.addr, arch.pageSize, PROT_READ | PROT_EXEC);
    const place = { code: area.addr, table: area.addr + BigInt(arch.pageSize), tableSize: arch.pageSize };
    const batch = new SyscallBatch(() => inj, place);
    // Calls whose effect can be seen afterwards: protections of the target page.
    batch.add('getpid');
    batch.add('mprotect', target, arch.pageSize, PROT_READ | PROT_WRITE | PROT_EXEC);
    batch.add('mprotect', target, arch.pageSize, PROT_READ);
    batch.flush();
    const entry = readMaps(pid).find((v) => v.start === target)!;
    assert.ok(entry.read && !entry.write && !entry.exec, 'the last mprotect of the batch ran');
    const results = processVmReadv(pid, place.table, 3 * 64);
    assert.equal(readI64(results, 56), BigInt(pid), 'getpid answered in the table');
    // A failing call ends the batch: the error names it, the calls after it do not run.
    batch.add('getpid');
    batch.add('close', 9999);
    batch.add('mprotect', target, arch.pageSize, PROT_READ | PROT_WRITE);
    assert.throws(() => batch.flush(), /EBADF from close\(9999\) injected into task \d+/);
    assert.ok(!readMaps(pid).find((v) => v.start === target)!.write, 'the mprotect after the failure did not run');
    // runEach: every call runs, the failing ones too, each with its own result.
    const each = batch.runEach([
      { name: 'close', args: [9999] },
      { name: 'mprotect', args: [target, arch.pageSize, PROT_READ | PROT_WRITE] },
      { name: 'close', args: [9998] },
      { name: 'getpid', args: [] },
    ]);
    assert.deepEqual(each, [-9n, 0n, -9n, BigInt(pid)], 'EBADF, 0, EBADF, the pid');
    assert.ok(readMaps(pid).find((v) => v.start <= target && target < v.end)!.write, 'the mprotect after a failure ran');
  });
  assert.equal(readFileSync(`/proc/${pid}/maps`, 'utf8'), mapsBefore, 'maps are as before');
  assert.equal(t.finish(), 'PASS');
});

test("an ia32 task's batch runner: calls of its own ABI (int $0x80, i386 numbers, 32-bit structs) and 64-bit ones in one table", async (ctx) => {
  const host = await hostArch();
  if (!existsSync(path.join(programsBinDir, 'rt-sig.ia32'))) {
    ctx.skip(host.name === 'x86_64' ? 'no i686 cross compiler (gcc-i686-linux-gnu): ia32 test programs not built' : 'ia32 tasks exist on x86_64');
    return;
  }
  const cannot = ia32Unsupported();
  if (cannot) {
    ctx.skip(cannot);
    return;
  }
  const ia = startTarget('rt-sig.ia32');
  try {
    const pid = ia.pid;
    seizeStopped(pid);
    const arch = host.forTask(pid); // read from its registers: stopped first
    assert.ok(arch.taskSyscall !== arch.syscall && arch.syscall.batchCode !== undefined && arch.syscall.batchTaskCalls, 'an ia32 task: its own ABI, and a runner for both');
    injectAndUndo(pid, arch, (inj, undo) => {
      const area = mapScratch(inj, undo, readMaps(pid), arch.pageSize, 3);
      const code = arch.syscall.batchCode!;
      assert.equal(processVmWritev(pid, area.addr, code), code.length);
      inj.call('mprotect', area.addr, arch.pageSize, PROT_READ | PROT_EXEC);
      const act = area.addr + 2n * BigInt(arch.pageSize);
      assert.equal(processVmWritev(pid, act, Buffer.alloc(32, 0xaa)), 32);
      const batch = new SyscallBatch(() => inj, { code: area.addr, table: area.addr + BigInt(arch.pageSize), tableSize: arch.pageSize });
      // i386 getpid is 20 (x86_64's writev), x86_64's is 39 (i386's getpid too, by chance: so a
      // call of the 64-bit ABI goes first); the compat rt_sigaction writes a 20-byte struct (64-bit: 32).
      const results = batch.runEach([
        { name: 'gettid', args: [] },
        { name: 'getpid', args: [], task: true },
        { name: 'close', args: [9999], task: true },
        { name: 'rt_sigaction', args: [15, 0, act, 8], task: true },
      ]);
      assert.deepEqual(results, [BigInt(pid), BigInt(pid), -9n, 0n], '64-bit gettid, i386 getpid, i386 close(9999): EBADF, rt_sigaction');
      const got = processVmReadv(pid, act, 32);
      assert.notEqual(got.readUInt32LE(0), 0, "SIGTERM's handler, a 32-bit word");
      assert.deepEqual(got.subarray(20), Buffer.alloc(12, 0xaa), 'only the compat struct (20 bytes) was written');
      assert.throws(() => batch.runAll([{ name: 'getpid', args: [], task: true }, { name: 'close', args: [9999], task: true }, { name: 'getpid', args: [] }]),
        /EBADF from close\(9999\) injected into task \d+/);
    });
    assert.equal(ia.finish(), 'PASS', 'its signal actions as they were');
  } finally {
    ia.cleanup();
  }
});
