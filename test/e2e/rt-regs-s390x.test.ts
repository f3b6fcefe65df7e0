// s390x registers come back exactly as they were: test/programs/rt-regs-s390x.c holds known values
// in r0..r14, all 16 access registers, the FPC and all 32 vector registers (the FPRs are the
// leftmost halves of v0..v15), once spinning without a syscall and once inside pause(). Edited
// core images prove each check notices a difference. Runs on s390x only (in a guest elsewhere).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage, nothingLeftBehind } from '../helpers/restore-env.js';
import { imagesCopy } from '../helpers/round-trip.js';
import { restoreTask } from '../helpers/cryo-ops.js';
import { hostFacilities } from '../../src/proc/cpu-caps.js';
import { dumpInSyscall } from '../helpers/dump-in-syscall.js';
import { onlyOn } from '../helpers/arch-only.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const skip = onlyOn(['s390x'], 's390x registers (npm run test:arch -- s390x runs it in a guest)');
const NR_PAUSE = 29;
const dumps: Dumped[] = [];
after(() => dumps.forEach((d) => cleanupDumped(d)));

const ti = (e: MessageValue[]) => e[0]!.ti_s390 as MessageValue;
const part = (e: MessageValue[], f: string) => ti(e)[f] as MessageValue;
const edit = (d: Dumped, f: (e: MessageValue[]) => void) => (dir: string) => editImage(dir, `core-${d.pid}.img`, f);

async function checks(d: Dumped, inSyscall?: number): Promise<void> {
  const rt = (f?: (e: MessageValue[]) => void) => restoreAndFinish(d, f && edit(d, f), inSyscall === undefined ? {} : { inSyscall });
  assert.equal(await rt(), 'PASS');
  assert.match(await rt((e) => { (part(e, 'gpregs').gprs as bigint[])[7] = 0x42n; }), /^FAIL: r7 = 0x42, want 0x47505207a1b2c307/);
  assert.match(await rt((e) => { (part(e, 'gpregs').acrs as number[])[5] = 0x99; }), /^FAIL: a5 = 0x99, want 0xac055a5a/);
  assert.match(await rt((e) => { (part(e, 'fpregs').fprs as bigint[])[3] = 0x1234n; }), /^FAIL: v3 word 0 = 0, want 0x56030000 \(the FPR\)/);
  assert.match(await rt((e) => { (part(e, 'vxrs_low').regs as bigint[])[4] = 0x77n; }), /^FAIL: v4 word 2 = 0, want 0x56040002 \(a vector half\)/);
  // v20 = vxrs_high regs[8] (leftmost) and regs[9] (rightmost).
  assert.match(await rt((e) => { (part(e, 'vxrs_high').regs as bigint[])[9] = 0x55n; }), /^FAIL: v20 word 2 = 0, want 0x56140002/);
  assert.match(await rt((e) => { part(e, 'fpregs').fpc = 0; }), /^FAIL: FPC = 0, want 0x1/);
}

test('s390x registers while spinning: every GPR, access register, FPR, vector register and the FPC', { skip }, async () => {
  const d = await startAndDump('rt-regs-s390x', ['spin']);
  dumps.push(d);
  await checks(d);
});

test('s390x registers inside pause(): the same, and pause() restarted once', { skip }, async () => {
  const d = await dumpInSyscall('rt-regs-s390x', ['pause'], NR_PAUSE);
  dumps.push(d);
  await checks(d, NR_PAUSE);
  // Resumed after the svc with -EINTR instead of restarting it: pause() returns without a signal.
  assert.match(await restoreAndFinish(d, edit(d, (e) => {
    const gp = part(e, 'gpregs');
    gp.psw_addr = (gp.psw_addr as bigint) + 2n;
    (gp.gprs as bigint[])[2] = (1n << 64n) - 4n;
    // SIGTERM only once it is back in pause(): sent before it ran, the handler would run first and
    // the early return would count as SIGTERM's (CI saw PASS so on 2026-12-05).
  }), { inSyscall: NR_PAUSE }), /^FAIL: pause\(\) returned 2 times, want once/);
});

// qemu's TCG CPU has neither guarded storage (facility 133) nor runtime instrumentation (64): an
// image whose task used one is refused there before anything starts, naming the facility.
const LACKING = [
  { facility: 133, name: 'guarded storage', add: (t: MessageValue) => { t.gs_cb = { regs: [0n, 0x1000n, 0n, 0n] }; } },
  { facility: 64, name: 'runtime instrumentation', add: (t: MessageValue) => { t.ri_cb = { ri_on: 0, regs: [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n] }; } },
];
for (const f of LACKING) {
  const why = skip || (hostFacilities()?.includes(f.facility) !== false ? `this CPU has ${f.name} (or does not say)` : false);
  test(`a task that used ${f.name}, which this CPU lacks, is refused naming it`, { skip: why }, async () => {
    const d = dumps[0] ?? await startAndDump('rt-regs-s390x', ['spin']);
    if (!dumps.includes(d)) dumps.push(d);
    const dir = imagesCopy(d, edit(d, (e) => f.add(ti(e))));
    await assert.rejects(restoreTask({ dir }), (e: unknown) => {
      assert.match(String((e as Error).message), new RegExp(`the task used ${f.name} \\(\\w+ in the image\\) and this CPU lacks it`));
      return true;
    });
    assert.equal(nothingLeftBehind(d.pid), undefined);
  });
}
