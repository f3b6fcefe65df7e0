// Refusals of a restore from cryo's own dump (seed 003: restart must be as robust as execve):
// each is one line naming what is wrong, and nothing is left running (no process with the PID,
// no stopped or zombie child). PID taken, missing and resized files, corrupt images are tested
// against the CRIU fixture in restore-refusals.test.ts; these need what only a cryo dump has.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { restore, RestoreError } from '../../src/restore/index.js';
import { hostCpuid } from '../../src/sys/index.js';
import { XSAVE_COMPONENTS } from '../../src/arch/x86_64/regs.js';
import type { MessageValue } from '../../src/images/value.js';
import { runCryo } from '../helpers/cryo-cli.js';
import { editImage, nothingLeftBehind } from '../helpers/restore-env.js';
import { cleanupDumped, imagesCopy, startAndDump, type Dumped } from '../helpers/round-trip.js';

let reg: Dumped;
let ghost: Dumped;
before(async () => {
  reg = await startAndDump('rt-files-reg');
  ghost = await startAndDump('rt-files-ghost');
});
after(() => { cleanupDumped(reg); cleanupDumped(ghost); });

async function refused(d: Dumped, dir: string, code: string, message: RegExp): Promise<void> {
  await assert.rejects(restore({ dir }), (e: unknown) => {
    assert.ok(e instanceof RestoreError, `not a RestoreError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
  assert.equal(nothingLeftBehind(d.pid), undefined);
}

test('a file touched after the dump (same size): names the file and both mtimes (command line)', () => {
  const file = path.join(reg.target.dir, 'ro.txt');
  const before = statSync(file, { bigint: true }).mtimeNs;
  utimesSync(file, new Date('2001-02-03T04:05:06.789Z'), new Date('2001-02-03T04:05:06.789Z'));
  const dir = imagesCopy(reg);
  try {
    const r = runCryo(['restore', '-D', dir]);
    const err = r.stderr.toString().trim();
    assert.notEqual(r.status, 0);
    assert.equal(err.split('\n').length, 1, `one line: ${err}`);
    const was = `${new Date(Number(before / 1_000_000n)).toISOString().slice(0, 19)}.${(before % 1_000_000_000n).toString().padStart(9, '0')}Z`;
    assert.match(err, new RegExp(`${file.replace(/[.]/g, '\\.')} \\(fd 9\\) was modified after the dump \\(mtime 2001-02-03T04:05:06\\.789000000Z, it was ${was.replace(/[.]/g, '\\.')} at dump time\\)`));
    assert.equal(nothingLeftBehind(reg.pid), undefined);
  } finally {
    // Put the exact mtime back (Node's utimes rounds it): the other tests restore this dump too.
    execFileSync('touch', ['-m', '-d', `@${before / 1_000_000_000n}.${(before % 1_000_000_000n).toString().padStart(9, '0')}`, file]);
    assert.equal(statSync(file, { bigint: true }).mtimeNs, before);
  }
});

test('the old path of a deleted file is taken again, and the path beside it too', async () => {
  // Its old path alone taken, it comes back beside it (rt-files 'deleted files').
  const small = path.join(ghost.target.dir, 'small-ghost');
  writeFileSync(small, 'someone else');
  writeFileSync(`${small}.cryo-deleted`, 'someone else too');
  try {
    await refused(ghost, imagesCopy(ghost), 'FILE_CHANGED', /small-ghost\.cryo-deleted \(fd 4\) is in the way of the deleted file \S+small-ghost, whose own path is taken too/);
  } finally {
    renameSync(small, `${small}.moved`);
    renameSync(`${small}.cryo-deleted`, `${small}.moved2`);
  }
});

test('a file of the dump is missing (renamed away after the dump)', async () => {
  const file = path.join(reg.target.dir, 'wo.txt');
  renameSync(file, `${file}.away`);
  try {
    await refused(reg, imagesCopy(reg), 'FILE_MISSING', /wo\.txt \(fd 12\) cannot be found \(ENOENT\)/);
  } finally {
    renameSync(`${file}.away`, file);
  }
});

test('an image from a CPU with a feature this one lacks (edited xsave feature bits), through restore()', async (t) => {
  // Any user feature counts (AMX too, whose registers the image cannot hold: its bit alone makes the
  // kernel refuse the signal frame); a CPU that has them all is covered by the lesser-CPU preflight
  // test in restore-refusals.test.ts.
  const xcr0 = hostCpuid()!.xgetbv(0);
  // A user feature this CPU lacks; one with a field in the image gets data there too.
  const lacking = XSAVE_COMPONENTS.find((c) => !c.supervisor && !((xcr0 >> BigInt(c.bit)) & 1n));
  if (!lacking) return t.skip(`this CPU offers every user xsave feature (XCR0 0x${xcr0.toString(16)})`);
  const field = lacking.field;
  const dir = imagesCopy(ghost, (d) => editImage(d, `core-${ghost.pid}.img`, ([core]) => {
    const xsave = ((core!.thread_info as MessageValue).fpregs as MessageValue).xsave as MessageValue;
    xsave.xstate_bv = BigInt(xsave.xstate_bv as bigint) | (1n << BigInt(lacking.bit));
    if (field) xsave[field.name] = Array.from({ length: field.count }, () => (field.image === 'u64' ? 1n : 1));
  }));
  await refused(ghost, dir, 'CPU_FEATURE', new RegExp(`${lacking.feature.replace(/[()]/g, '.')}.*this CPU does not offer it`));
});
