// ppc64 registers through a real dump and restore (runs on ppc64 only, e.g. in the guest runner):
// test/programs/ppc64/rt-ppc64-regs.c holds known values in every GPR, FPR, VR and VSX doubleword
// and VRSAVE, spinning or inside pause(); after restore it checks them, and its SIGTERM handler
// checks that the kernel put the vector registers into the signal frame (MSR_VEC/MSR_VSX: the
// restore marked them used, seed 002). Edited core images prove each check notices a difference.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { dumpInSyscall } from '../helpers/dump-in-syscall.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';

const skip = onlyOn(['ppc64'], 'ppc64 registers (npm run test:arch -- ppc64le runs it in a guest)');
const NR_PAUSE = 29;
const dumps: Dumped[] = [];
after(() => dumps.forEach(cleanupDumped));

function editTi(dir: string, pid: number, edit: (ti: MessageValue) => void): void {
  editImage(dir, `core-${pid}.img`, (e) => edit(e[0]!.ti_ppc64 as MessageValue));
}
const gp = (ti: MessageValue) => ti.gpregs as MessageValue;

test('ppc64 registers spinning: r3-r12, r15-r31, 64 VSRs (FPRs, VSX, VRs), VRSAVE, and the signal frame after restore', { skip }, async () => {
  const d = await startAndDump('rt-ppc64-regs', ['spin']);
  dumps.push(d);
  assert.equal(await restoreAndFinish(d), 'PASS');
  const { pid } = d;
  assert.match(await restoreAndFinish(d, (dir) => editTi(dir, pid, (ti) => { (gp(ti).gpr as bigint[])[7] = 0x42n; })),
    /^FAIL: r7 = 0x42, want 0x5a00070001234567/);
  assert.match(await restoreAndFinish(d, (dir) => editTi(dir, pid, (ti) => { ((ti.fpstate as MessageValue).fpregs as bigint[])[5] = 0x77n; })),
    /^FAIL: vsr5 doubleword 0 = 0x77, want/);
  assert.match(await restoreAndFinish(d, (dir) => editTi(dir, pid, (ti) => { ((ti.vsxstate as MessageValue).vsxregs as bigint[])[9] = 0x99n; })),
    /^FAIL: vsr9 doubleword 1 = 0x99, want 0xc0de000900000001/);
  assert.match(await restoreAndFinish(d, (dir) => editTi(dir, pid, (ti) => { (ti.vrstate as MessageValue).vrsave = 1; })),
    /^FAIL: vrsave = 0x1, want 0xfeedf00d/);
  assert.match(await restoreAndFinish(d, (dir) => editTi(dir, pid, (ti) => {
    const v = (ti.vrstate as MessageValue).vrregs as bigint[];
    v[2 * 12] = v[2 * 12]! ^ 0xff00n;
  })), /^FAIL: vsr44 doubleword \d = 0x/);
});

test('ppc64 registers in a blocking syscall: r15-r31, 64 VSRs, VRSAVE; pause() restarted once', { skip }, async () => {
  const d = await dumpInSyscall('rt-ppc64-regs', ['syscall'], NR_PAUSE);
  dumps.push(d);
  const restoreIn = (edit?: (dir: string) => void) => restoreAndFinish(d, edit, { inSyscall: NR_PAUSE });
  assert.equal(await restoreIn(), 'PASS');
  const { pid } = d;
  assert.match(await restoreIn((dir) => editTi(dir, pid, (ti) => { (gp(ti).gpr as bigint[])[20] = 0x42n; })),
    /^FAIL: r20 = 0x42, want 0x5a00140001234567/);
  // Without the vector state in the image, the kernel has none to load (zeros) and no used_vr to save.
  assert.match(await restoreIn((dir) => editTi(dir, pid, (ti) => { delete ti.vrstate; delete ti.vsxstate; })),
    /^FAIL: vsr(3[2-9]|[4-6]\d|\d) doubleword \d = 0x0, want/);
});
