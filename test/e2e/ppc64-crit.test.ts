// cryo's ppc64 images read by Debian's crit 3.17: a core image with every register state cryo
// writes (GPRs, FP, VMX, VSX and a suspended transaction's tmstate) and the cpuinfo image decode
// with crit to the same JSON cryo gives, field for field: the field numbers are CRIU's.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createPpc64 } from '../../src/arch/ppc64/index.js';
import { GP_REGS, GP_REGS_SIZE, MSR, NT_PPC_TM_SPR, NT_PPC_VMX, NT_PPC_VSX, NT_PRFPREG, NT_PRSTATUS, STATE_REGSETS } from '../../src/arch/ppc64/regs.js';
import { critJsonText, decodeImageFile, writeImageFile } from '../../src/images/image.js';
import type { MessageValue } from '../../src/images/value.js';
import type { Regsets } from '../../src/arch/types.js';

const CRIT = '/usr/bin/crit';
const haveCrit = existsSync(CRIT);
if (!haveCrit && process.env.CI === 'true') throw new Error(`${CRIT} is required in CI (Debian package criu)`);
const skip = haveCrit ? false : `${CRIT} (Debian's crit 3.17) is not installed`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cryo-ppc64-crit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function state(msr: bigint): Buffer[] {
  const gp = Buffer.alloc(GP_REGS_SIZE);
  for (const r of GP_REGS) randomBytes(8 * (r.count ?? 1)).copy(gp, r.offset);
  gp.writeBigUInt64LE(msr, 33 * 8);
  const vmx = randomBytes(34 * 16);
  vmx.fill(0, 33 * 16 + 4);
  return [gp, randomBytes(33 * 8), vmx, randomBytes(32 * 8)];
}

const crit = (file: string) => {
  const r = spawnSync(CRIT, ['decode', '-i', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as unknown;
};

for (const tm of [false, true]) {
  test(`crit 3.17 decodes cryo's ppc64 core image${tm ? ' with a transaction (tmstate)' : ''} to cryo's own JSON`, { skip }, () => {
    const arch = createPpc64({ hwcap: 0xdc0065c2n, hwcap2: 0xaee00000n });
    const live = state(tm ? 0x800000000280f033n | MSR.TM | MSR.TS_S : 0x800000000000d033n);
    const regsets: Regsets = new Map([[NT_PRSTATUS, live[0]!], [NT_PRFPREG, live[1]!], [NT_PPC_VMX, live[2]!], [NT_PPC_VSX, live[3]!]]);
    if (tm) {
      const ck = state(0x800000000280f033n);
      STATE_REGSETS.forEach((r, k) => regsets.set(r.checkpointed, ck[k]!));
      regsets.set(NT_PPC_TM_SPR, randomBytes(24));
    }
    const ti = arch.threadInfoFromRegsets(regsets, { clearTidAddr: 0x7fff12345678n });
    const file = path.join(tmp, `core-${tm ? 2 : 1}.img`);
    writeImageFile(file, 'CORE', [{ mtype: arch.criuMarch, [arch.threadInfoField]: ti as MessageValue }]);
    const ours = JSON.parse(critJsonText(decodeImageFile(file), false)) as unknown;
    assert.deepEqual(crit(file), ours);
    // The check can fail: crit's JSON carries the register values (one changed -> different JSON).
    const doc = crit(file) as { entries: { ti_ppc64: { gpregs: { gpr: string[] }; tmstate?: unknown } }[] };
    assert.equal(doc.entries[0]!.ti_ppc64.gpregs.gpr.length, 32);
    assert.equal(doc.entries[0]!.ti_ppc64.tmstate !== undefined, tm);
  });
}

test('crit 3.17 decodes cryo\'s ppc64 cpuinfo image (endian, AT_HWCAP, AT_HWCAP2)', { skip }, () => {
  const arch = createPpc64({ hwcap: 0xdc0065c2n, hwcap2: 0xaee00000n });
  const file = path.join(tmp, 'cpuinfo.img');
  writeImageFile(file, 'CPUINFO', [arch.cpuinfo!() as MessageValue]);
  const doc = crit(file) as { entries: { ppc64_entry: { endian: string; hwcap: number[] }[] }[] };
  assert.deepEqual(doc.entries[0]!.ppc64_entry, [{ endian: 'LITTLEENDIAN', hwcap: [0xdc0065c2, 0xaee00000] }]);
  assert.deepEqual(doc, JSON.parse(critJsonText(decodeImageFile(file), false)));
});
