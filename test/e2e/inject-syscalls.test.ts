// src/inject against a real process: syscalls run on the vdso's own instruction, a scratch page
// comes and goes, and after the undo list the task runs on with its registers and mask intact.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { hostArch } from '../../src/arch/index.js';
import { mapScratch } from '../../src/inject/index.js';
import { readMaps } from '../../src/proc/index.js';
import { processVmReadv } from '../../src/sys/index.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { injectAndUndo, seizeStopped } from '../helpers/injected.js';

let t: Target;
before(() => { t = startTarget('dump-state'); });
after(() => t?.cleanup());

test('injected syscalls return the task\'s own answers and everything is undone', async () => {
  const arch = await hostArch();
  const pid = t.pid;
  const mapsBefore = readFileSync(`/proc/${pid}/maps`, 'utf8');
  seizeStopped(pid);
  injectAndUndo(pid, arch, (inj, undo) => {
    const vdso = readMaps(pid).find((v) => v.name === '[vdso]')!;
    assert.ok(inj.site >= vdso.start && inj.site < vdso.end, 'the syscall instruction is in the vdso');
    assert.equal(inj.call('getpid'), BigInt(pid));
    assert.equal(inj.call('gettid'), BigInt(pid));
    const scratch = mapScratch(inj, undo, readMaps(pid), arch.pageSize);
    assert.ok(readFileSync(`/proc/${pid}/maps`, 'utf8').includes(scratch.addr.toString(16)), 'scratch page is mapped');
    // rt_sigaction(SIGUSR1, NULL, scratch, 8): the handler the program installed.
    inj.call('rt_sigaction', 10, 0, scratch.addr, 8);
    const act = scratch.read(0, 32);
    assert.equal(`0x${act.readBigUInt64LE(0).toString(16)}`, t.ready.handler);
    inj.call('sigaltstack', 0, scratch.addr);
    assert.equal(`0x${scratch.read(0, 8).readBigUInt64LE(0).toString(16)}`, t.ready.altstack);
    // A failing call is an error naming the errno, the call and the task.
    assert.throws(() => inj.call('close', 9999), /EBADF from close\(9999\) injected into task \d+/);
    // The task's memory can still be read (process_vm_readv) while it is stopped.
    assert.equal(processVmReadv(pid, BigInt(t.ready.region!), 1)[0], 1);
  });
  assert.equal(readFileSync(`/proc/${pid}/maps`, 'utf8'), mapsBefore, 'maps are as before');
  assert.equal(t.finish(), 'PASS');
});
