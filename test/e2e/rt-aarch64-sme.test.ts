// aarch64 SME state comes back exactly (runs in the arm64 guest on a kernel with SME, npm run test:arch --
// aarch64 --kernel bpo): test/programs/arm64/rt-aarch64-sme.c sets a streaming vector length of 32 bytes,
// enters streaming mode with ZA on, loads the streaming Z and P registers, every row of ZA (and SME2's
// ZT0 where the CPU has it) and spins; restored, it checks SVCR, the streaming vector length and them
// all on SIGTERM. The dump keeps them in cryo-core-PID.img (CRIU has no field); edited copies of it
// prove each check notices a difference. A dump that leaves it running gives streaming mode back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MessageValue } from '../../src/images/value.js';
import { readCryoCore, writeCryoCore } from '../../src/images/cryo-core.js';
import { sleepSync } from '../../src/sys/index.js';
import { becomeSubreaper, waitGone } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';
import { hwcapSkip } from '../helpers/cpu.js';

const HWCAP2_SME = 1n << 23n;
const skip = onlyOn(['arm64'], 'aarch64 SME') || hwcapSkip(2, HWCAP2_SME, 'this CPU or kernel has no SME (AT_HWCAP2; Debian builds 6.1 and 6.12 without it)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

const VL = 32;

function editSme(dir: string, pid: number, edit: (sme: MessageValue) => void): void {
  const e = readCryoCore(dir, pid)!;
  edit((e.ti_aarch64 as MessageValue).sme as MessageValue);
  writeCryoCore(dir, pid, e);
}
const editByte = (pid: number, key: 'ssve' | 'za' | 'zt0', off: number, v: number) => (dir: string) =>
  editSme(dir, pid, (s) => { const b = Buffer.from(s[key] as Uint8Array); b[off] = v; s[key] = b; });

test('SME: streaming mode, its registers, ZA (and ZT0) of a spinning thread', { skip }, async () => {
  becomeSubreaper();
  const target = startTarget('rt-aarch64-sme', [String(VL)]);
  const images = path.join(target.dir, 'images');
  try {
    sleepSync(1000); // READY is written just before the asm block enters streaming mode
    await dumpTask({ pid: target.pid, dir: images });
    if (!waitGone(target.pid)) throw new Error(`dumped task ${target.pid} is still there`);
  } catch (e) {
    target.cleanup();
    throw e;
  }
  d = { target, pid: target.pid, images, readyLine: readFileSync(target.outFile, 'utf8').split('\n')[0]! };
  const { pid } = d;
  const zt = /zt0=1/.test(d.readyLine);
  const sme = (readCryoCore(images, pid)?.ti_aarch64 as MessageValue | undefined)?.sme as MessageValue | undefined;
  assert.equal(sme?.vl, VL, 'cryo-core holds the streaming vector length');
  assert.equal((sme?.ssve as Uint8Array | undefined)?.length, 32 * VL + 17 * (VL / 8), 'and the streaming registers');
  assert.equal((sme?.za as Uint8Array | undefined)?.length, VL * VL, 'and ZA');
  assert.equal((sme?.zt0 as Uint8Array | undefined)?.length, zt ? 64 : undefined, 'and ZT0 where the CPU has SME2');
  assert.equal(await restoreAndFinish(d), 'PASS');

  // Above the low 128 bits of z5: those are V5, which rt_sigreturn takes from the frame's fpsimd record.
  assert.match(await restoreAndFinish(d, editByte(pid, 'ssve', 5 * VL + 20, 0xee)), /^FAIL: z5 byte 20 = 0xee, want 0x8a/);
  assert.match(await restoreAndFinish(d, editByte(pid, 'ssve', 32 * VL + 3 * (VL / 8) + 1, 0x77)), /^FAIL: p3 byte 1 = 0x77, want 0x3a/);
  assert.match(await restoreAndFinish(d, editByte(pid, 'za', 3 * VL + 5, 0xee)), /^FAIL: za row 3 byte 5 = 0xee, want 0x69/);
  assert.match(await restoreAndFinish(d, editByte(pid, 'za', (VL - 1) * VL + VL - 1, 0x01)), /^FAIL: za row 31 byte 31 = 0x1, want 0x/);
  if (zt) assert.match(await restoreAndFinish(d, editByte(pid, 'zt0', 63, 0x00)), /^FAIL: zt0 byte 63 = 0, want 0x/);
  // Without the streaming registers the thread comes back out of streaming mode; without ZA, with ZA off.
  assert.match(await restoreAndFinish(d, (dir) => editSme(dir, pid, (s) => { delete s.ssve; })), /^FAIL: SVCR = 0x2, want SM and ZA on/);
  assert.match(await restoreAndFinish(d, (dir) => editSme(dir, pid, (s) => { delete s.za; delete s.zt0; })), /^FAIL: SVCR = 0x1, want SM and ZA on/);
});

test('SME: a thread left running after its dump is still in streaming mode with its registers and ZA', { skip }, async () => {
  becomeSubreaper();
  const target = startTarget('rt-aarch64-sme', [String(VL)]);
  try {
    sleepSync(1000); // READY is written just before the asm block enters streaming mode
    // Every injected syscall leaves streaming mode: the injector writes NT_ARM_SSVE back (keptRegsets).
    await dumpTask({ pid: target.pid, dir: path.join(target.dir, 'images'), leaveRunning: true });
    assert.equal(target.finish(), 'PASS');
  } finally {
    target.cleanup();
  }
});
