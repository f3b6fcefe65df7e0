// The s390x register tables: both directions agree on big-endian buffers, the signal frame, the
// svc ABI, restart rules and the facility checks (pure; test/cross/s390x-layout.test.ts proves the
// offsets and byte order against C compiled for s390x).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createS390x } from '../../src/arch/s390x/index.js';
import {
  NT_PRFPREG, NT_PRSTATUS, NT_S390_GS_BC, NT_S390_GS_CB, NT_S390_RI_CB, NT_S390_SYSTEM_CALL, NT_S390_VXRS_HIGH,
  NT_S390_VXRS_LOW, PSW_MASK_BA, PSW_MASK_EA, PSW_MASK_RI, REGSETS,
} from '../../src/arch/s390x/regs.js';
import { ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ERESTARTSYS } from '../../src/arch/s390x/restart.js';
import { hwcapNames } from '../../src/arch/s390x/cpu.js';
import { ARCHES } from '../../src/arch/index.js';
import type { ImageRecord } from '../../src/arch/regtable.js';
import type { Regsets, ThreadInfo } from '../../src/arch/types.js';

const USER_PSW = 0x0705000180000000n; // DAT, IO, EXT, key 0, PSTATE, EA|BA: a 64-bit task's mask
const HWCAP_ALL = (1n << 23n) - 1n;
const arch = createS390x({ hwcap: HWCAP_ALL, facilities: [64, 129, 133] });

function randomRegsets(): Regsets {
  const m: Regsets = new Map(REGSETS.map((r) => [r.nt, randomBytes(r.size)]));
  const prs = m.get(NT_PRSTATUS)!;
  // A real PSW: the kernel keeps the mask a user PSW; RI on or off at random.
  prs.writeBigUInt64BE(USER_PSW | (prs[3]! & 1 ? PSW_MASK_RI : 0n), 0);
  m.get(NT_PRFPREG)!.writeUInt32BE(0, 4); // the pad after fpc
  return m;
}

test('s390x is registered for process.arch s390x and is big-endian', () => {
  assert.equal(ARCHES.s390x?.name, 's390x');
  const a = ARCHES.s390x!.create();
  assert.equal(a.byteOrder, 'BE');
  assert.equal(a.criuMarch, 'S390');
  assert.equal(a.threadInfoField, 'ti_s390');
});

test('regsets -> thread_info -> regsets is the identity, big-endian, every regset', () => {
  for (let i = 0; i < 50; i++) {
    const rs = randomRegsets();
    const ti = arch.threadInfoFromRegsets(rs, { clearTidAddr: 0x1234n });
    const back = arch.regsetsFromThreadInfo(ti);
    for (const r of REGSETS) assert.deepEqual(back.get(r.nt), rs.get(r.nt), r.name);
  }
});

test('the image holds the values a big-endian reader sees (gprs[15], acrs[3], fpc, high vector halves)', () => {
  const rs = randomRegsets();
  const prs = rs.get(NT_PRSTATUS)!;
  const ti = arch.threadInfoFromRegsets(rs);
  const gp = ti.gpregs as ImageRecord;
  assert.equal((gp.gprs as bigint[])[15], prs.readBigUInt64BE(16 + 15 * 8));
  assert.equal((gp.acrs as number[])[3], prs.readUInt32BE(144 + 12));
  assert.equal(gp.orig_gpr2, prs.readBigUInt64BE(208));
  assert.equal(gp.system_call, rs.get(NT_S390_SYSTEM_CALL)!.readUInt32BE(0));
  assert.equal((ti.fpregs as ImageRecord).fpc, rs.get(NT_PRFPREG)!.readUInt32BE(0));
  assert.equal(((ti.vxrs_high as ImageRecord).regs as bigint[]).length, 32);
  assert.equal(((ti.vxrs_high as ImageRecord).regs as bigint[])[31], rs.get(NT_S390_VXRS_HIGH)!.readBigUInt64BE(248));
  assert.equal((ti.ri_cb as ImageRecord).ri_on, (prs.readBigUInt64BE(0) & PSW_MASK_RI) !== 0n ? 1 : 0);
  // Little-endian reading of the same bytes gives other values: the check can fail.
  assert.notEqual((gp.gprs as bigint[])[15], prs.readBigUInt64LE(16 + 15 * 8));
});

test('optional regsets the kernel did not give stay out of the image, and out of the restore', () => {
  const rs = randomRegsets();
  for (const nt of [NT_S390_VXRS_LOW, NT_S390_VXRS_HIGH, NT_S390_GS_CB, NT_S390_GS_BC, NT_S390_RI_CB]) rs.delete(nt);
  const ti = arch.threadInfoFromRegsets(rs);
  for (const f of ['vxrs_low', 'vxrs_high', 'gs_cb', 'gs_bc', 'ri_cb']) assert.equal(ti[f], undefined, f);
  assert.deepEqual([...arch.regsetsFromThreadInfo(ti).keys()].sort(), [NT_PRSTATUS, NT_PRFPREG, NT_S390_SYSTEM_CALL].sort());
  // Without an RI block the PSW's RI bit cannot be restored (the kernel refuses it): it is cleared.
  const prs = arch.regsetsFromThreadInfo(ti).get(NT_PRSTATUS)!;
  assert.equal(prs.readBigUInt64BE(0) & PSW_MASK_RI, 0n);
});

test('a 31-bit task is refused at dump and at restore, saying so', () => {
  const rs = randomRegsets();
  rs.set(NT_PRSTATUS, randomBytes(148)); // s390_compat_regs
  assert.throws(() => arch.threadInfoFromRegsets(rs), /31-bit \(compat\)/);
  const ti = arch.threadInfoFromRegsets(randomRegsets());
  assert.equal(arch.unrestorableMode(ti), undefined);
  const gp = ti.gpregs as ImageRecord;
  const ti31 = { ...ti, gpregs: { ...gp, psw_mask: (gp.psw_mask as bigint) & ~PSW_MASK_EA } };
  assert.match(arch.unrestorableMode(ti31) ?? '', /31-bit/);
  assert.equal((gp.psw_mask as bigint) & PSW_MASK_BA, PSW_MASK_BA);
});

test('the signal frame: registers where _sigregs/_sigregs_ext keep them, r15 points at it', () => {
  const ti = arch.threadInfoFromRegsets(randomRegsets());
  const gp = ti.gpregs as ImageRecord;
  const f = arch.buildSigframe(ti, { sigmask: 0x8000000000000001n, addressOfFrame: 0x3fff000n });
  assert.equal(f.frame.length, 1320);
  assert.equal(f.sp, 0x3fff000n);
  const mc = 296 + 40;
  assert.equal(f.frame.readBigUInt64BE(mc), gp.psw_mask);
  assert.equal(f.frame.readBigUInt64BE(mc + 8), gp.psw_addr);
  assert.equal(f.frame.readBigUInt64BE(mc + 16 + 7 * 8), (gp.gprs as bigint[])[7]);
  assert.equal(f.frame.readUInt32BE(mc + 144 + 4 * 15), (gp.acrs as number[])[15]);
  assert.equal(f.frame.readUInt32BE(mc + 208), (ti.fpregs as ImageRecord).fpc);
  assert.equal(f.frame.readBigUInt64BE(296 + 384), 0x8000000000000001n);
  assert.equal(f.frame.readBigUInt64BE(296), 2n); // UC_VXRS
  assert.equal(f.frame.readBigUInt64BE(296 + 512 + 128 + 16 * 8), ((ti.vxrs_high as ImageRecord).regs as bigint[])[16]);
  assert.equal(f.frame.readUInt32BE(296 + 16 + 8), 2); // SS_DISABLE without an alternate stack
  // No vector registers in the image: a zero vector area and no UC_VXRS.
  const { vxrs_low: _l, vxrs_high: _h, ...novx } = ti;
  const g = arch.buildSigframe(novx, { sigmask: 0n, addressOfFrame: 0x1000n });
  assert.equal(g.frame.readBigUInt64BE(296), 0n);
  assert.ok(g.frame.subarray(296 + 512, 296 + 512 + 384).equals(Buffer.alloc(384)));
  assert.throws(() => arch.buildSigframe({ ...ti, vxrs_high: undefined }, { sigmask: 0n, addressOfFrame: 0n }), /vxrs_low without vxrs_high/);
});

test('guarded storage and RI are set by ptrace before rt_sigreturn, not by the frame', () => {
  assert.deepEqual([...(arch.regsetsBeforeSigreturn ?? [])].sort(), [NT_S390_GS_CB, NT_S390_GS_BC, NT_S390_RI_CB].sort());
  for (const f of ['gs_cb', 'gs_bc', 'ri_cb', 'orig_gpr2']) assert.ok(arch.notRestoredBySigreturn.includes(f), f);
});

test('svc ABI: number in r1, arguments r2..r7, result r2, PSW address at the svc', () => {
  const prs = randomRegsets().get(NT_PRSTATUS)!;
  const out = arch.syscall.prepare(prs, 0x10000n, 20, [1n, 2n, 3n, 4n, 5n, -1n], 0x7ff000n);
  assert.equal(out.readBigUInt64BE(16 + 8), 20n);
  for (let i = 0; i < 5; i++) assert.equal(out.readBigUInt64BE(16 + (2 + i) * 8), BigInt(i + 1));
  assert.equal(out.readBigUInt64BE(16 + 7 * 8), (1n << 64n) - 1n);
  assert.equal(out.readBigUInt64BE(8), 0x10000n);
  assert.equal(arch.syscall.sp(out), 0x7ff000n);
  assert.equal(out.readBigUInt64BE(0), prs.readBigUInt64BE(0), 'the PSW mask is left alone');
  out.writeBigInt64BE(-14n, 16 + 16);
  assert.equal(arch.syscall.result(out), -14n);
  assert.deepEqual(arch.syscall.instruction, Buffer.from([0x0a, 0x00]));
  assert.equal(arch.syscall.ipAfter(0x10000n), 0x10002n);
  assert.equal(arch.syscall.rtSigreturnNr, 173);
  // While cryo injects, the kernel must see no interrupted syscall.
  assert.deepEqual(arch.syscall.sideRegsets?.map((r) => [r.nt, r.whileInjecting]), [[NT_S390_SYSTEM_CALL, Buffer.alloc(4)]]);
});

test('mmap is old_mmap: a big-endian block of six longs', () => {
  const c = arch.syscall.mmapCall(0x1000n, 0x2000n, 3n, 0x22n, -1n, 0n);
  assert.equal(c.name, 'mmap');
  assert.deepEqual(c.args, []);
  const b = c.argStruct!;
  assert.equal(b.length, 48);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => b.readBigUInt64BE(i * 8)), [0x1000n, 0x2000n, 3n, 0x22n, (1n << 64n) - 1n, 0n]);
});

function inSyscall(err: number, nr = 3, ilc = 2): ThreadInfo {
  const ti = arch.threadInfoFromRegsets(randomRegsets());
  const gp = ti.gpregs as ImageRecord;
  const gprs = [...(gp.gprs as bigint[])];
  gprs[2] = BigInt.asUintN(64, BigInt(-err));
  return { ...ti, gpregs: { ...gp, gprs, orig_gpr2: 7n, psw_addr: 0x1002n, system_call: (ilc << 16) | nr } };
}

test('restart: -ERESTARTSYS/-ERESTARTNOHAND go back over the svc with r2 = orig_gpr2', () => {
  for (const err of [ERESTARTSYS, ERESTARTNOHAND]) {
    const fix = arch.fixSyscallRestart(inSyscall(err));
    assert.equal(fix.action, 'restart');
    const gp = fix.threadInfo.gpregs as ImageRecord;
    assert.equal((gp.gprs as bigint[])[2], 7n);
    assert.equal(gp.psw_addr, 0x1000n);
  }
  // A 4-byte svc (EXecuted) goes back 4.
  assert.equal((arch.fixSyscallRestart(inSyscall(ERESTARTSYS, 3, 4)).threadInfo.gpregs as ImageRecord).psw_addr, 0x0ffen);
});

test('the call stopped at the return of: the int_code\'s number, r2 its result, orig_gpr2 its first argument', () => {
  const ti = inSyscall(4, 426);
  const call = arch.stoppedCall(ti)!;
  assert.deepEqual([call.nr, call.result, call.args[0]], [426, -4n, 7n]);
  assert.deepEqual([((call.again().gpregs as ImageRecord).gprs as bigint[])[2], (call.again().gpregs as ImageRecord).psw_addr], [7n, 0x1000n]);
  assert.equal(arch.stoppedCall({ ...ti, gpregs: { ...(ti.gpregs as ImageRecord), system_call: 0 } }), undefined);
});

test('restart: -ERESTART_RESTARTBLOCK becomes -EINTR; outside a syscall nothing changes', () => {
  const fix = arch.fixSyscallRestart(inSyscall(ERESTART_RESTARTBLOCK));
  assert.equal(fix.action, 'eintr');
  assert.equal(((fix.threadInfo.gpregs as ImageRecord).gprs as bigint[])[2], BigInt.asUintN(64, -4n));
  // The call ending's frame (a task left running): the call again, r2 its first argument.
  const runOn = arch.fixSyscallRestart(inSyscall(ERESTART_RESTARTBLOCK), 'onRunOn');
  assert.equal(runOn.action, 'restart');
  assert.deepEqual([((runOn.threadInfo.gpregs as ImageRecord).gprs as bigint[])[2], (runOn.threadInfo.gpregs as ImageRecord).psw_addr], [7n, 0x1000n]);
  const out = inSyscall(ERESTARTSYS);
  (out.gpregs as ImageRecord).system_call = 0;
  const none = arch.fixSyscallRestart(out);
  assert.equal(none.action, 'none');
  assert.deepEqual(none.threadInfo.gpregs, out.gpregs);
});

test('facilities: an image that used vectors, guarded storage or RI is refused where the CPU lacks them, naming it', () => {
  const ti = arch.threadInfoFromRegsets(randomRegsets());
  assert.deepEqual(arch.missingCpuFeatures(ti), []);
  const noVx = createS390x({ hwcap: HWCAP_ALL & ~(1n << 11n), facilities: [64] });
  assert.match(noVx.missingCpuFeatures(ti).map((m) => m.message).join('\n'), /the task used the vector facility .*AT_HWCAP bit 11/);
  // Vector registers all zero: the task did not use them, nothing to refuse.
  const zero = { ...ti, vxrs_low: { regs: Array(16).fill(0n) }, vxrs_high: { regs: Array(32).fill(0n) }, gs_cb: undefined, gs_bc: undefined, ri_cb: undefined };
  assert.deepEqual(noVx.missingCpuFeatures(zero), []);
  const noGs = createS390x({ hwcap: HWCAP_ALL & ~(1n << 14n), facilities: [64] });
  assert.deepEqual(noGs.missingCpuFeatures(ti).map((m) => m.name), ['guarded storage']);
  const noRi = createS390x({ hwcap: HWCAP_ALL, facilities: [129] });
  assert.deepEqual(noRi.missingCpuFeatures(ti).map((m) => m.name), ['runtime instrumentation']);
  const unknown = createS390x({ hwcap: HWCAP_ALL });
  assert.match(unknown.missingCpuFeatures(ti)[0]!.message, /cannot tell whether this CPU has it/);
});

test('AT_HWCAP names: every bit, those the table does not know by number (31 and up too)', () => {
  assert.deepEqual(hwcapNames((1n << 11n) | (1n << 14n) | (1n << 40n)), ['vx', 'gs', 'bit 40']);
  const lines = createS390x({ hwcap: (1n << 2n) | (1n << 63n), facilities: [] }).cpuReport();
  assert.match(lines[0]!.detail ?? '', /^0x8000000000000004: stfle bit 63$/);
  assert.deepEqual(lines.slice(1).map((l) => [l.name, l.present]), [['the vector facility', false], ['guarded storage', false], ['runtime instrumentation', false]]);
});

test('cpuinfo.img: AT_HWCAP and AT_HWCAP2 of the dumping machine, every bit, as CRIU writes them', () => {
  const a = createS390x({ hwcap: (1n << 63n) | (1n << 31n) | (1n << 11n), hwcap2: 5n });
  assert.deepEqual(a.cpuinfo!(), { s390_entry: [{ hwcap: [(1n << 63n) | (1n << 31n) | (1n << 11n), 5n] }] });
  assert.equal(a.imageByteOrder!(a.cpuinfo!()), 'BE');
  assert.equal(a.imageByteOrder!({ x86_entry: [{}] }), undefined);
});

test("a dump's call ending is svc 0 (the number in r1), then svc 173 (rt_sigreturn by the immediate)", () => {
  assert.equal(arch.callThenSigreturn?.({})?.toString('hex'), '0a00' + '0aad');
});
