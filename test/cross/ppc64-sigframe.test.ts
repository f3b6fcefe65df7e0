// cryo's ppc64 signal frame, byte for byte against the kernel's layout: test/cross/ppc64-sigframe-ref.c
// fills the kernel's uapi structs (struct ucontext with its sigcontext, the kernel's rt_sigframe
// head with uc_transact) the way signal delivery does, from the same regsets cryo dumps; cryo's
// frame built from those regsets' image must be the same bytes. Runs natively on ppc64, elsewhere
// cross-compiled (gcc-powerpc64le-linux-gnu) under qemu-user (qemu-ppc64le); skipped, saying
// what to install, when neither is there. Both plain and transactional (uc_link) frames.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createPpc64 } from '../../src/arch/ppc64/index.js';
import {
  GP_REGS, GP_REGS_SIZE, MSR, NT_PPC_TM_SPR, NT_PPC_VMX, NT_PPC_VSX, NT_PRFPREG, NT_PRSTATUS, STATE_REGSETS,
} from '../../src/arch/ppc64/regs.js';
import type { Regsets } from '../../src/arch/types.js';
import { repoRoot } from '../helpers/paths.js';

const SRC = path.join(repoRoot, 'test', 'cross', 'ppc64-sigframe-ref.c');

function has(cmd: string, args: string[]): boolean {
  try { execFileSync(cmd, args, { stdio: 'ignore' }); return true; } catch { return false; }
}

/** How to build and run the reference here, or why not. */
function reference(): { run: (input: Buffer) => Buffer } | string {
  const native = process.arch === 'ppc64';
  const cc = native ? 'cc' : 'powerpc64le-linux-gnu-gcc';
  if (!has(cc, ['--version'])) return `no ${cc} (apt-get install gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross)`;
  if (!native && !has('qemu-ppc64le', ['--version'])) return 'no qemu-ppc64le (apt-get install qemu-user)';
  const dir = mkdtempSync(path.join(tmpdir(), 'cryo-ppc64-frame-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'ref');
  execFileSync(cc, ['-O2', '-Wall', '-Werror', '-static', '-o', bin, SRC], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { run: (input) => (native ? execFileSync(bin, { input }) : execFileSync('qemu-ppc64le', [bin], { input })) };
}

const ref = reference();
const skip = typeof ref === 'string' ? ref : false;
const arch = createPpc64({ hwcap: 0xdc0065c2n, hwcap2: 0xaee00000n });

/** One state's regsets: random where the image has a field, zero where it has none (dar, dsisr, result, softe). */
function state(msr: bigint): Buffer[] {
  const gp = Buffer.alloc(GP_REGS_SIZE);
  for (const r of GP_REGS) randomBytes(8 * (r.count ?? 1)).copy(gp, r.offset);
  gp.writeBigUInt64LE(msr, 33 * 8);
  const vmx = randomBytes(34 * 16);
  vmx.fill(0, 33 * 16 + 4);
  return [gp, randomBytes(33 * 8), vmx, randomBytes(32 * 8)];
}

const u64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };

for (const tm of [false, true]) {
  test(`ppc64 ${tm ? 'transactional (uc_link -> uc_transact)' : 'plain'} signal frame equals the kernel's layout byte for byte`, { skip }, () => {
    const run = (ref as Exclude<typeof ref, string>).run;
    for (let i = 0; i < 8; i++) {
      const base = 0x7fffee000000n + BigInt(i) * 0x10n * 37n;
      const sigmask = randomBytes(8).readBigUInt64LE();
      const live = state(tm ? 0x800000000280f033n | MSR.TM | MSR.TS_S : 0x800000000000d033n);
      const ck = tm ? state(0x800000000280f033n) : [];
      const regsets: Regsets = new Map([[NT_PRSTATUS, live[0]!], [NT_PRFPREG, live[1]!], [NT_PPC_VMX, live[2]!], [NT_PPC_VSX, live[3]!]]);
      if (tm) {
        STATE_REGSETS.forEach((r, k) => regsets.set(r.checkpointed, ck[k]!));
        regsets.set(NT_PPC_TM_SPR, randomBytes(24));
      }
      const ti = arch.threadInfoFromRegsets(regsets);
      const frame = arch.buildSigframe(ti, { sigmask, addressOfFrame: base }).frame;
      const input = Buffer.concat([u64(base), u64(sigmask), u64(tm ? 1n : 0n), ...live, ...ck]);
      const want = run(input);
      assert.equal(frame.length, want.length, 'frame size');
      const diff = [...frame].findIndex((b, k) => b !== want[k]);
      assert.equal(diff, -1, `first differing byte at frame offset ${diff}`);
      // The comparison can fail: the reference follows its input (one register changed -> other bytes).
      live[0]![5 * 8] ^= 0xff;
      assert.notDeepEqual(run(Buffer.concat([u64(base), u64(sigmask), u64(tm ? 1n : 0n), ...live, ...ck])), frame);
    }
  });
}
