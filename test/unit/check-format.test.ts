// cryo check's formatting and its pure decisions (exit status, capability and xsave lines).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capabilityLines, rootlessLine } from '../../src/check/caps.js';
import { xsaveLines, xcr0Names } from '../../src/arch/x86_64/cpu-report.js';
import { exitStatus, formatReport, formatResult, summaryLine } from '../../src/check/format.js';
import type { CheckResult } from '../../src/check/types.js';

const okLine: CheckResult = { name: 'ptrace', ok: true, required: true };
const optionalMissing: CheckResult = { name: 'soft-dirty', ok: false, required: false, meaning: 'no incremental pre-dump' };
const requiredMissing: CheckResult = {
  name: 'clone3 set_tid', ok: false, required: true, error: 'EPERM from clone3(set_tid=[4000])', meaning: 'restore cannot give a task its PID back',
};

test('a line is name: ok, name: ok (detail) or name: missing (error: meaning)', () => {
  assert.equal(formatResult(okLine), 'ptrace: ok');
  assert.equal(formatResult({ ...okLine, name: 'vdso', detail: '[vdso] 8 KiB' }), 'vdso: ok ([vdso] 8 KiB)');
  assert.equal(formatResult(optionalMissing), 'soft-dirty: missing (no incremental pre-dump)');
  assert.equal(formatResult(requiredMissing),
    'clone3 set_tid: missing (EPERM from clone3(set_tid=[4000]): restore cannot give a task its PID back)');
  assert.equal(formatResult({ name: 'x', ok: false, required: false }), 'x: missing');
});

test('only a missing required feature makes the exit status 1', () => {
  assert.equal(exitStatus([okLine]), 0);
  assert.equal(exitStatus([okLine, optionalMissing]), 0);
  assert.equal(exitStatus([okLine, optionalMissing, requiredMissing]), 1);
});

test('the summary names what is missing', () => {
  assert.equal(summaryLine([okLine]), 'Looks good: everything cryo needs to dump and restore is here.');
  assert.equal(summaryLine([okLine, optionalMissing]),
    'Looks good: everything cryo needs to dump and restore is here (1 optional feature missing).');
  assert.equal(summaryLine([okLine, optionalMissing, { ...optionalMissing, name: 'uffd' }]),
    'Looks good: everything cryo needs to dump and restore is here (2 optional features missing).');
  assert.equal(summaryLine([requiredMissing, { ...requiredMissing, name: 'ptrace' }, optionalMissing]),
    'Not ready: cryo cannot dump and restore here without clone3 set_tid, ptrace.');
});

test('the report is one line per result, then the summary', () => {
  const text = formatReport([okLine, optionalMissing]);
  assert.deepEqual(text.split('\n'), [
    'ptrace: ok',
    'soft-dirty: missing (no incremental pre-dump)',
    'Looks good: everything cryo needs to dump and restore is here (1 optional feature missing).',
    '',
  ]);
});

test('a capability missing from the bounding set is told apart from one that is only not effective', () => {
  const all = (1n << 41n) - 1n;
  const noResource = all & ~(1n << 24n);
  const lines = capabilityLines(noResource, noResource);
  const res = lines.find((l) => l.name === 'CAP_SYS_RESOURCE');
  assert.ok(res && !res.ok && !res.required);
  assert.equal(formatResult(res),
    'CAP_SYS_RESOURCE: missing (not in the bounding set: restoring rlimits above the hard limit and some prctl(PR_SET_MM) fields will fail)');
  assert.ok(lines.filter((l) => l.name !== 'CAP_SYS_RESOURCE').every((l) => l.ok));
  const notEffective = capabilityLines(noResource, all).find((l) => l.name === 'CAP_SYS_RESOURCE');
  assert.match(formatResult(notEffective!), /^CAP_SYS_RESOURCE: missing \(not in the effective set/);
});

test('xsave lines name the features XCR0 enables, from the architecture table', () => {
  assert.deepEqual(xcr0Names(0x7n), ['x87 FPU', 'SSE', 'AVX']);
  // AVX-512 needs all three of its components (opmask, ZMM_Hi256, Hi16_ZMM).
  assert.deepEqual(xcr0Names(0x67n), ['x87 FPU', 'SSE', 'AVX']);
  const lines = xsaveLines(0x2e7n, 2696);
  assert.equal(formatResult({ ...lines[0]!, ok: true, required: false }), 'xsave: ok (XCR0 0x2e7, 2696-byte area: x87 FPU, SSE, AVX, AVX-512, protection keys (PKRU))');
  const byName = new Map(lines.map((l) => [l.name, l]));
  assert.equal(byName.get('AVX-512')?.present, true);
  assert.equal(byName.get('MPX')?.present, false);
  assert.match(byName.get('MPX')?.meaning ?? '', /cannot be restored here/);
  // Features CRIU's image cannot hold are listed only when present, with that warning.
  assert.equal(byName.has('AMX'), false);
  const amx = xsaveLines(0x602e7n).find((l) => l.name === 'AMX');
  assert.ok(amx?.present);
  assert.match(amx.detail ?? '', /cannot be dumped/);
});

test('rootless: with CAP_CHECKPOINT_RESTORE dump and restore, without it dump only and how to grant it', () => {
  const withCap = rootlessLine(1000, 1n << 40n, '/usr/local/lib/cryo/node');
  assert.equal(withCap.ok, true);
  assert.match(formatResult(withCap), /^rootless: ok \(uid 1000 with CAP_CHECKPOINT_RESTORE: dump and restore of this user's own processes, not processes of other users/);
  const without = rootlessLine(1000, 0n, '/usr/local/lib/cryo/node');
  assert.equal(without.ok, false);
  assert.equal(without.required, false);
  assert.match(formatResult(without), /uid 1000 without CAP_CHECKPOINT_RESTORE: dump of this user's own processes works .* restore does not .* `setcap cap_checkpoint_restore\+ep \/usr\/local\/lib\/cryo\/node`/);
});
