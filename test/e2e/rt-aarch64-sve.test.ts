// aarch64 SVE state comes back exactly (runs in the arm64 guest, npm run test:arch -- aarch64):
// test/programs/arm64/rt-aarch64-sve.c sets a vector length of 32 bytes (not the kernel's default),
// loads every Z and P register and FFR with known bytes and spins; restored, it checks them all and
// the vector length on SIGTERM. The dump keeps them in cryo-core-PID.img (CRIU has no field);
// edited copies of it prove each check notices a difference.
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

const HWCAP_SVE = 1n << 22n;
const skip = onlyOn(['arm64'], 'aarch64 SVE') || hwcapSkip(1, HWCAP_SVE, 'this CPU has no SVE (AT_HWCAP)');
let d: Dumped | undefined;
after(() => cleanupDumped(d));

const VL = 32;
const regsSize = (vl: number) => { const vq = vl / 16; return 32 * vq * 16 + 16 * vq * 2 + vq * 2; };

function editSve(dir: string, pid: number, edit: (sve: MessageValue) => void): void {
  const e = readCryoCore(dir, pid)!;
  edit((e.ti_aarch64 as MessageValue).sve as MessageValue);
  writeCryoCore(dir, pid, e);
}
/** The registers at vector length `vl` from those at 32: each register's bytes first, the rest zero. */
function widen(regs: Buffer, vl: number): Buffer {
  const out = Buffer.alloc(regsSize(vl));
  const z = (l: number) => l, p = (l: number) => l / 8;
  for (let n = 0; n < 32; n++) regs.copy(out, n * z(vl), n * z(VL), (n + 1) * z(VL));
  for (let n = 0; n < 17; n++) regs.copy(out, 32 * z(vl) + n * p(vl), 32 * z(VL) + n * p(VL), 32 * z(VL) + (n + 1) * p(VL));
  return out;
}

/** rt-aarch64-sve at vector length `vl`, dumped once its registers are loaded. */
async function dumpSpinning(vl: number): Promise<Dumped> {
  becomeSubreaper();
  const target = startTarget('rt-aarch64-sve', [String(vl)]);
  const images = path.join(target.dir, 'images');
  try {
    sleepSync(1000); // READY is written just before the asm block loads the registers
    await dumpTask({ pid: target.pid, dir: images });
    if (!waitGone(target.pid)) throw new Error(`dumped task ${target.pid} is still there`);
    return { target, pid: target.pid, images, readyLine: readFileSync(target.outFile, 'utf8').split('\n')[0]! };
  } catch (e) {
    target.cleanup();
    throw e;
  }
}

test('SVE: vector length, z0..z31, p0..p15 and FFR of a spinning thread', { skip }, async () => {
  d = await dumpSpinning(VL);
  const { pid, images } = d;
  const sve = (readCryoCore(images, pid)?.ti_aarch64 as MessageValue | undefined)?.sve as MessageValue | undefined;
  assert.equal(sve?.vl, VL, 'cryo-core holds the vector length');
  assert.equal(Number(sve?.flags) & 1, 1, 'and live SVE registers');
  assert.equal((sve?.regs as Uint8Array).length, regsSize(VL));
  assert.equal(await restoreAndFinish(d), 'PASS');

  const byte = (off: number, v: number) => (dir: string) => editSve(dir, pid, (s) => { const r = Buffer.from(s.regs as Uint8Array); r[off] = v; s.regs = r; });
  // Above the low 128 bits: those are V5, which rt_sigreturn takes from the frame's fpsimd record.
  assert.match(await restoreAndFinish(d, byte(5 * VL + 20, 0xee)), /^FAIL: z5 byte 20 = 0xee, want 0x65/);
  assert.match(await restoreAndFinish(d, byte(32 * VL + 3 * (VL / 8) + 1, 0x77)), /^FAIL: p3 byte 1 = 0x77, want 0x32/);
  assert.match(await restoreAndFinish(d, byte(32 * VL + 16 * (VL / 8), 0x3f)), /^FAIL: ffr byte 0 = 0x3f, want 0x1f/);
  assert.match(await restoreAndFinish(d, (dir) => editSve(dir, pid, (s) => { s.vl = 64; s.regs = widen(Buffer.from(s.regs as Uint8Array), 64); })),
    /^FAIL: vector length 64, want 32/);
});

test('SVE at vector length 256: the registers do not fit __reserved and come back through extra_context', { skip }, async () => {
  const d256 = await dumpSpinning(256);
  try {
    const sve = (readCryoCore(d256.images, d256.pid)?.ti_aarch64 as MessageValue | undefined)?.sve as MessageValue | undefined;
    assert.equal(sve?.vl, 256, 'cryo-core holds the vector length');
    assert.equal(await restoreAndFinish(d256), 'PASS');
    // z31's last byte and FFR lie far past the 4096 bytes of __reserved.
    const edit = (off: number, v: number) => (dir: string) => editSve(dir, d256.pid, (s) => { const r = Buffer.from(s.regs as Uint8Array); r[off] = v; s.regs = r; });
    assert.match(await restoreAndFinish(d256, edit(31 * 256 + 255, 0x5a)), /^FAIL: z31 byte 255 = 0x5a, want 0x/);
  } finally {
    cleanupDumped(d256);
  }
});
