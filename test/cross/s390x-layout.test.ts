// The s390x tables against C compiled for s390x: test/cross/s390x-layout.c fills the kernel's
// regset structs and an rt_sigframe field by field with known values and prints their bytes (run
// under qemu-s390x). cryo must read those values out of them, write the same bytes back, and
// build the same signal frame from the image: offsets and byte order are the compiler's, not ours.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createS390x } from '../../src/arch/s390x/index.js';
import { REGSETS } from '../../src/arch/s390x/regs.js';
import { regtableFor, type ImageRecord } from '../../src/arch/regtable.js';
import type { Regsets } from '../../src/arch/types.js';
import { repoRoot } from '../helpers/paths.js';

const CC = 's390x-linux-gnu-gcc';
const QEMU = 'qemu-s390x';

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = !has(CC, ['--version']) ? `no ${CC} (apt-get install gcc-s390x-linux-gnu libc6-dev-s390x-cross)`
  : !has(QEMU, ['--version']) ? `no ${QEMU} (apt-get install qemu-user)` : false;

/** The C program's output: name -> bytes. */
function cStructs(): Map<string, Buffer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cryo-s390x-'));
  try {
    const bin = path.join(dir, 'layout');
    execFileSync(CC, ['-static', '-O1', '-Wall', '-Werror', '-o', bin, path.join(repoRoot, 'test', 'cross', 's390x-layout.c')]);
    const out = execFileSync(QEMU, [bin], { encoding: 'utf8' });
    return new Map(out.trim().split('\n').filter((l) => !l.startsWith('sizes')).map((l) => {
      const [name, hex] = l.split(' ');
      return [name!, Buffer.from(hex!, 'hex')];
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The C program's values (see its header comment).
const v64 = (t: number, i: number) => (BigInt(t) << 56n) | (BigInt(i) << 48n) | 0xa1b2c3d4e5f6n;
const v32 = (t: number, i: number) => ((t << 24) | (i << 16) | 0xc3d4) >>> 0;
const seq = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));

const EXPECTED: Record<string, ImageRecord> = {
  gpregs: {
    psw_mask: v64(1, 0), psw_addr: v64(2, 0), gprs: seq(16, (i) => v64(3, i)), acrs: seq(16, (i) => v32(4, i)),
    orig_gpr2: v64(5, 0), system_call: v32(6, 0),
  },
  fpregs: { fpc: v32(7, 0), fprs: seq(16, (i) => v64(8, i)) },
  vxrs_low: { regs: seq(16, (i) => v64(9, i)) },
  vxrs_high: { regs: seq(32, (i) => v64(10, i)) },
  gs_cb: { regs: seq(4, (i) => v64(11, i)) },
  gs_bc: { regs: seq(4, (i) => v64(12, i)) },
  // v64(1, 0) has the PSW's RI bit (0x80 in its fourth byte) set.
  ri_cb: { ri_on: 1, regs: seq(8, (i) => v64(13, i)) },
};

test('s390x regsets: cryo reads the values C put in them and writes the same bytes back', { skip }, () => {
  const c = cStructs();
  const arch = createS390x();
  const regsets: Regsets = new Map(REGSETS.map((r) => [r.nt, c.get(r.name)!]));
  for (const r of REGSETS) assert.equal(c.get(r.name)?.length, r.size, `${r.name}: C's size`);
  const ti = arch.threadInfoFromRegsets(regsets, { clearTidAddr: 0n });
  assert.deepEqual({ ...ti, clear_tid_addr: undefined }, { ...EXPECTED, clear_tid_addr: undefined });
  const back = arch.regsetsFromThreadInfo(ti);
  for (const r of REGSETS) assert.deepEqual(back.get(r.nt), c.get(r.name), r.name);
});

test('s390x rt_sigframe: cryo builds the bytes C lays out (save area, svc, ucontext_extended)', { skip }, () => {
  const c = cStructs();
  const arch = createS390x();
  const ti = { clear_tid_addr: 0n, ...EXPECTED };
  const f = arch.buildSigframe(ti, {
    sigmask: v64(16, 0), altstack: { sp: v64(14, 0), flags: 1, size: v64(15, 0) }, addressOfFrame: 0x3ffffff0000n,
  });
  const want = c.get('RT_SIGFRAME')!;
  assert.equal(f.frame.length, want.length);
  const diff = [...want.keys()].filter((i) => want[i] !== f.frame[i]);
  assert.deepEqual(diff.slice(0, 8), [], `${diff.length} bytes differ, first at ${diff[0]}`);
});

test('the checks can fail: C bytes read little-endian give other values', { skip }, () => {
  const c = cStructs();
  const le = regtableFor('LE');
  const gp = le.decodeTable(REGSETS[0]!.rows, c.get('NT_PRSTATUS')!);
  assert.notEqual(gp.psw_addr, EXPECTED.gpregs!.psw_addr);
  assert.notDeepEqual(gp.gprs, EXPECTED.gpregs!.gprs);
});
