// The vDSO trampoline's pure parts: the plan from two vDSO images (every entry point of the old
// one jumps to the same name in the new one; a name the new one lacks is refused, naming it) and
// the patch bytes of each architecture, decoded back (x86_64 movabs/jmp, ppc64's two steps, aarch64's
// literal load and branch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { VDSO_TRAMPOLINE } from '../../src/arch/x86_64/vdso-trampoline.js';
import { vdsoTrampoline } from '../../src/arch/ppc64/vdso-trampoline.js';
import { vdsoTrampoline as a64Trampoline } from '../../src/arch/aarch64/vdso-trampoline.js';
import { elfFunctions } from '../../src/restore/vdso-symbols.js';
import { patchOverwriting, patchedVdso, planVdsoTrampoline } from '../../src/restore/vdso-trampoline.js';
import { renameSymbol, shiftedVdso } from '../helpers/vdso-image.js';

function ownVdso(): Buffer {
  const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith('[vdso]'))!;
  const [a, b] = line.split(' ')[0]!.split('-').map((h) => BigInt(`0x${h}`));
  const buf = Buffer.alloc(Number(b! - a!));
  const fd = openSync('/proc/self/mem', 'r');
  try { readSync(fd, buf, 0, buf.length, Number(a)); } finally { closeSync(fd); }
  return buf;
}

test('every entry point of the old vDSO jumps to the same name in the new one', () => {
  const mine = ownVdso();
  const old = shiftedVdso(mine, 4096);
  const tr = { ...VDSO_TRAMPOLINE, shared: undefined };
  const plan = planVdsoTrampoline(old, mine, tr);
  const here = new Map(elfFunctions(mine).map((f) => [f.name, f.offset]));
  const names = new Set(elfFunctions(old).map((f) => f.name));
  assert.deepEqual(new Set(plan.entries.flatMap((e) => e.names)), names);
  for (const e of plan.entries) for (const n of e.names) assert.equal(e.to, here.get(n)!, n);
  for (const e of plan.entries) assert.equal(e.at, e.to + 4096, 'the shifted image has each entry one page further');
  const out = patchedVdso(old, plan, VDSO_TRAMPOLINE, 0x7000_0000_0000n, 0x7100_0000_0000n);
  for (const e of plan.entries) {
    const p = out.subarray(e.at, e.at + VDSO_TRAMPOLINE.entrySize);
    assert.deepEqual([...p.subarray(0, 2)], [0x49, 0xbb], 'movabs $imm64, %r11');
    assert.equal(p.readBigUInt64LE(2), 0x7100_0000_0000n + BigInt(e.to));
    assert.deepEqual([...p.subarray(10)], [0x41, 0xff, 0xe3], 'jmp *%r11');
  }
  // The ELF header and symbol tables stay as they were: a lookup by name still finds the entries.
  assert.deepEqual(elfFunctions(out), elfFunctions(old));
  // With shared code (ppc64's): it goes once, 8-aligned, clear of every entry's patch.
  const pp = vdsoTrampoline('LE');
  const two = planVdsoTrampoline(old, mine, pp);
  assert.ok(two.shared !== undefined && two.shared % 8 === 0);
  for (const e of two.entries) assert.ok(two.shared + pp.shared!.length <= e.at || two.shared >= e.at + pp.entrySize, `clear of ${e.names[0]}`);
  // A name the new vDSO lacks is refused, naming it.
  const f = elfFunctions(old)[0]!.name;
  const renamed = Buffer.from(old);
  renameSymbol(renamed, f, 'Q');
  assert.throws(() => planVdsoTrampoline(renamed, mine, tr), new RegExp(`this kernel's vDSO has no ${f.slice(0, -1)}Q,`));
});

test('a thread may resume in old vDSO code, except inside the bytes a patch overwrites', () => {
  const mine = ownVdso();
  const old = shiftedVdso(mine, 4096);
  const pp = vdsoTrampoline('LE');
  const plan = planVdsoTrampoline(old, mine, pp);
  const e = plan.entries[0]!;
  assert.equal(patchOverwriting(plan, pp, e.at), undefined, 'an entry\'s first byte runs the whole patch');
  assert.equal(patchOverwriting(plan, pp, e.at + 4), `the patch of ${e.names[0]}`);
  assert.equal(patchOverwriting(plan, pp, e.at + pp.entrySize - 1), `the patch of ${e.names[0]}`);
  assert.equal(patchOverwriting(plan, pp, plan.shared!), 'the trampoline\'s shared code');
  assert.equal(patchOverwriting(plan, pp, plan.shared! + pp.shared!.length - 1), 'the trampoline\'s shared code');
  // Bytes no patch touches: the header, and the first byte past every patch and the shared code.
  assert.equal(patchOverwriting(plan, pp, 0), undefined);
  for (const x of plan.entries) if (x.at + pp.entrySize !== plan.shared) assert.equal(patchOverwriting(plan, pp, x.at + pp.entrySize), undefined);
  assert.equal(patchOverwriting(plan, pp, plan.shared! + pp.shared!.length), undefined);
});

test('ppc64: mflr r0; bl shared; .quad target at each entry, and the shared code once', () => {
  for (const order of ['LE', 'BE'] as const) {
    const tr = vdsoTrampoline(order);
    const u32 = (b: Buffer, o: number) => (order === 'LE' ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const fwd = tr.entry(0x1000n, 0x7fff_1234_5678n, 0x1100n);
    assert.equal(u32(fwd, 0), 0x7c0802a6, 'mflr r0');
    assert.equal(u32(fwd, 4), 0x48000001 + 0xfc, 'bl .+0xfc');
    assert.equal(order === 'LE' ? fwd.readBigUInt64LE(8) : fwd.readBigUInt64BE(8), 0x7fff_1234_5678n);
    assert.equal(u32(tr.entry(0x1000n, 0n, 0x800n), 4), 0x4bfff7fd, 'bl .-0x804');
    assert.throws(() => tr.entry(0x1000n, 0n, 0x1000n + (1n << 26n)), /out of a branch's reach/);
    const s = tr.shared!;
    assert.deepEqual([0, 4, 8, 12, 16].map((o) => u32(s, o)), [0x7d8802a6, 0x7c0803a6, 0xe98c0000, 0x7d8903a6, 0x4e800420],
      'mflr r12; mtlr r0; ld r12,0(r12); mtctr r12; bctr');
  }
});

test('aarch64: bti c; ldr x16, literal; br x16 at each entry, the literal 8-aligned', () => {
  const tr = a64Trampoline('LE');
  // Encodings as aarch64-linux-gnu-as gives them (bti c, ldr x16 .+12 / .+8, br x16, nop).
  const at8 = tr.entry(0x1000n, 0x7fff_1234_5678n, 0n);
  assert.deepEqual([0, 4, 8, 12].map((o) => at8.readUInt32LE(o)), [0xd503245f, 0x58000070, 0xd61f0200, 0xd503201f]);
  assert.equal(at8.readBigUInt64LE(16), 0x7fff_1234_5678n, 'literal at +16 (8-aligned)');
  const at4 = tr.entry(0x1004n, 0x7fff_1234_5678n, 0n);
  assert.deepEqual([0, 4, 8, 20].map((o) => at4.readUInt32LE(o)), [0xd503245f, 0x58000050, 0xd61f0200, 0xd503201f]);
  assert.equal(at4.readBigUInt64LE(12), 0x7fff_1234_5678n, 'literal at +12 (8-aligned)');
  assert.equal(at8.length, tr.entrySize);
  assert.deepEqual(tr.kernelOnly, ['__kernel_rt_sigreturn']);
  const be = a64Trampoline('BE').entry(0x1000n, 0x1122_3344_5566_7788n, 0n);
  assert.equal(be.readUInt32BE(0), 0xd503245f);
  assert.equal(be.readBigUInt64BE(16), 0x1122_3344_5566_7788n);
});
