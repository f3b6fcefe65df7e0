// aarch64 registers come back exactly as they were: test/programs/rt-regs-aarch64.c holds known
// values in x4..x30, v0..v31, FPCR, FPSR and TPIDR_EL0, once spinning and once inside ppoll()
// (which the kernel had already rewound to its `svc` at the dump); restored, it checks every
// register on SIGTERM. Edited core images prove each check notices a difference.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MessageValue } from '../../src/images/value.js';
import { sleepSync } from '../../src/sys/index.js';
import { editImage, becomeSubreaper, waitGone } from '../helpers/restore-env.js';
import { dumpInSyscall } from '../helpers/dump-in-syscall.js';
import { startTarget } from '../helpers/dump-target.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';

const skip = onlyOn(['arm64'], 'aarch64 registers');

const NR_PPOLL = 73;
const dumps: Dumped[] = [];
after(() => dumps.forEach(cleanupDumped));

function editThreadInfo(dir: string, pid: number, edit: (ti: MessageValue) => void): void {
  editImage(dir, `core-${pid}.img`, (e) => edit(e[0]!.ti_aarch64 as MessageValue));
}
const gp = (ti: MessageValue) => ti.gpregs as MessageValue;
const fp = (ti: MessageValue) => ti.fpsimd as MessageValue;

test('aarch64 registers in a blocking syscall: x4..x30, v0..v31, FPCR, FPSR, TPIDR_EL0; ppoll() runs again once', { skip }, async () => {
  const d = await dumpInSyscall('rt-regs-aarch64', ['syscall'], NR_PPOLL);
  dumps.push(d);
  const { pid } = d;
  const roundTrip = (edit?: (dir: string) => void) => restoreAndFinish(d, edit, { inSyscall: NR_PPOLL });
  assert.equal(await roundTrip(), 'PASS');
  const want20 = 0x0101010101010101n * 20n ^ 0xa0a0000000000000n;
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (gp(ti).regs as bigint[])[20] = 0x42n; })),
    new RegExp(`^FAIL: x20 = 0x42, want 0x${want20.toString(16)}`));
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (gp(ti).regs as bigint[])[30] = 0x42n; })),
    /^FAIL: x30 = 0x42, want 0x/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (fp(ti).vregs as bigint[])[3 * 2] = 0xdeadbeefn; })),
    /^FAIL: v3 word 0 = 0xdeadbeef, want 0xa5030000/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { (fp(ti).vregs as bigint[])[31 * 2 + 1] = (0x1234n << 32n) | 0xa51f0002n; })),
    /^FAIL: v31 word 3 = 0x1234, want 0xa51f0003/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { fp(ti).fpcr = 0; })),
    /^FAIL: fpcr 0, want 0xc00000/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { fp(ti).fpsr = 0x10; })),
    /^FAIL: fpsr 0x10, want 0x800009f/);
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => { ti.tls = (ti.tls as bigint) + 16n; })),
    /^FAIL: tpidr_el0 0x[0-9a-f]+, want 0x/);
  // Resumed after the svc with EINTR instead of running ppoll() again: it returns without a signal.
  assert.match(await roundTrip((dir) => editThreadInfo(dir, pid, (ti) => {
    gp(ti).pc = (gp(ti).pc as bigint) + 4n;
    (gp(ti).regs as bigint[])[0] = (1n << 64n) - 4n;
  })), /^FAIL: ppoll\(\) returned 2 times, want once/);
});

test('aarch64 registers while spinning: x4..x30, v0..v31, FPCR, FPSR, TPIDR_EL0', { skip }, async () => {
  becomeSubreaper();
  const target = startTarget('rt-regs-aarch64', ['spin']);
  const images = path.join(target.dir, 'images');
  let d: Dumped;
  try {
    sleepSync(300); // READY is written just before the asm block loads the registers
    await dumpTask({ pid: target.pid, dir: images });
    if (!waitGone(target.pid)) throw new Error(`dumped task ${target.pid} is still there`);
    d = { target, pid: target.pid, images, readyLine: readFileSync(target.outFile, 'utf8').split('\n')[0]! };
    dumps.push(d);
  } catch (e) {
    target.cleanup();
    throw e;
  }
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.match(await restoreAndFinish(d, (dir) => editThreadInfo(dir, d.pid, (ti) => { (gp(ti).regs as bigint[])[7] = 7n; })),
    /^FAIL: x7 = 0x7, want 0x/);
  assert.match(await restoreAndFinish(d, (dir) => editThreadInfo(dir, d.pid, (ti) => { (fp(ti).vregs as bigint[])[0] = 0n; })),
    /^FAIL: v0 word 0 = 0, want 0xa5000000/);
});
