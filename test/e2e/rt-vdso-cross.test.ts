// A restore on another kernel, for real: the guest runner's cross-kernel boots (scripts/test-arch.mjs
// --cross A:B) run this file twice. In the boot of kernel A (CRYO_CROSS=dump) rt-vdso is started and
// dumped, its images and scratch directory listed in CROSS_DIR for the runner to carry over; in the
// boot of kernel B (CRYO_CROSS=restore), with those files back in place, it is restored and must
// say PASS: its vDSO calls (libc's pointers into kernel A's vDSO) and signal handlers go on working
// with kernel B's vDSO; or, when kernel B's pages are larger than A's (ppc64el: 6.12 to 6.1) or its
// address space smaller (ppc64el: 6.1 to 6.12 with 4 KiB pages), be refused in one line. Skipped anywhere else (test/e2e/rt-vdso covers one kernel with an edited image).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { constants } from 'node:os';
import { startTarget, waitAsleep } from '../helpers/dump-target.js';
import { becomeSubreaper, nothingLeftBehind, waitGone } from '../helpers/restore-env.js';
import { hostArch } from '../../src/arch/index.js';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { dumpTask, restoreTask } from '../helpers/cryo-ops.js';
import { __WALL, kill, sleepSync, waitpid, WNOHANG } from '../../src/sys/index.js';

const CROSS_DIR = '/tmp/cryo-cross';
const mode = process.env.CRYO_CROSS;
interface Meta { pid: number; images: string; dir: string; outFile: string; readyLine: string; kernel: string; pageSize: number }

test('vDSO across kernels: the dump in the first boot', { skip: mode !== 'dump' && 'only in a guest runner\'s cross-kernel boots' }, async () => {
  becomeSubreaper();
  // The dumped PID must be free in the second boot, whose kernel threads and early processes take
  // PIDs of their own (6.12 starts more than 6.1): high above where a fresh boot's PIDs are.
  writeFileSync('/proc/sys/kernel/ns_last_pid', '20000');
  const t = startTarget('rt-vdso');
  // Carried files keep whole-second mtimes (tar): the output file the task holds open is checked
  // against the mtime the dump records, so it gets a whole second before the dump.
  const st = statSync(t.outFile);
  utimesSync(t.outFile, st.atime, new Date(Math.floor(st.mtimeMs / 1000) * 1000));
  const images = path.join(t.dir, 'images');
  await dumpTask({ pid: t.pid, dir: images });
  assert.ok(waitGone(t.pid), `dumped task ${t.pid} is gone`);
  const d = { pid: t.pid, images, target: t, readyLine: readFileSync(t.outFile, 'utf8').split('\n')[0]! };
  const outFile = t.outFile;
  mkdirSync(CROSS_DIR, { recursive: true });
  const meta: Meta = { pid: d.pid, images: d.images, dir: d.target.dir, outFile, readyLine: d.readyLine, kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), pageSize: (await hostArch()).pageSize };
  writeFileSync(path.join(CROSS_DIR, 'meta.json'), JSON.stringify(meta));
  writeFileSync(path.join(CROSS_DIR, 'carry'), `${CROSS_DIR}\n${d.target.dir}\n`);
  assert.ok(readdirSync(d.images).length > 0);
});

test('vDSO across kernels: the restore in the second boot', { skip: mode !== 'restore' && 'only in a guest runner\'s cross-kernel boots' }, async () => {
  const meta = JSON.parse(readFileSync(path.join(CROSS_DIR, 'meta.json'), 'utf8')) as Meta;
  const here = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  assert.notEqual(here, meta.kernel, 'the restore runs on another kernel than the dump');
  becomeSubreaper();
  // This boot hands out PIDs much as the first did: the processes started before the restore
  // (cryo's own) would take the dumped PID, so the counter moves past it while it is free.
  assert.ok(!existsSync(`/proc/${meta.pid}`), `PID ${meta.pid} is free`);
  writeFileSync('/proc/sys/kernel/ns_last_pid', String(meta.pid + 100));
  const arch = await hostArch();
  const pageSize = arch.pageSize;
  const top = (decodeImageFile(path.join(meta.images, `mm-${meta.pid}.img`)).entries[0]!.value.vmas as MessageValue[])
    .reduce((m, v) => (BigInt(v.end as bigint) > m ? BigInt(v.end as bigint) : m), 0n);
  // What cannot be restored here is refused, in one line, leaving nothing behind: smaller pages than
  // this kernel's (the dumped mappings need not be aligned to its pages; ppc64el: 6.12 has 4 KiB,
  // 6.1 64 KiB), or memory beyond its address space (ppc64 with 4 KiB pages ends at 64 TiB, where
  // 6.1's tasks live near 128 TiB).
  const refusal = meta.pageSize < pageSize
    ? `process ${meta.pid} was dumped with ${meta.pageSize}-byte pages, this kernel uses ${pageSize}: restore it on a kernel with pages of at most ${meta.pageSize} bytes`
    : arch.userTop !== undefined && top > arch.userTop
      ? `process ${meta.pid} has memory up to 0x${top.toString(16)}, beyond this kernel's user address space`
      : undefined;
  if (refusal !== undefined) {
    await assert.rejects(restoreTask({ dir: meta.images }), (e: Error) => {
      assert.ok(e.message.includes(refusal), e.message);
      assert.equal(e.message.trim().split('\n').length, 1, `one line: ${e.message}`);
      console.log(`refused as it should be: ${e.message}`);
      return true;
    });
    assert.equal(nothingLeftBehind(meta.pid), undefined);
    return;
  }
  const r = await restoreTask({ dir: meta.images });
  assert.equal(r.pid, meta.pid);
  waitAsleep(meta.pid);
  kill(meta.pid, constants.signals.SIGTERM);
  const deadline = Date.now() + 120_000;
  while (waitpid(meta.pid, WNOHANG | __WALL).pid !== meta.pid) {
    if (Date.now() > deadline) { kill(meta.pid, constants.signals.SIGKILL); assert.fail(`restored task ${meta.pid} did not end after SIGTERM`); }
    sleepSync(20);
  }
  const said = readFileSync(meta.outFile, 'utf8').split('\n').slice(1).join('\n').trim();
  assert.equal(said, 'PASS', `dumped on ${meta.kernel}, restored on ${here}`);
});
