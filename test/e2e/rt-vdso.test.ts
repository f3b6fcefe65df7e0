// The vDSO across kernels: test/programs/rt-vdso.c calls time, gettimeofday, clock_gettime and
// sched_getcpu through libc's pointers into the vDSO, in a loop and in a SIGALRM handler, each
// checked against the system call. Restored with its own vDSO (the common case), and with a dump
// whose vDSO is edited to another one (test/helpers/vdso-image.ts: another size, every entry at
// another offset): restore puts the old vDSO back with each entry point jumping into this
// kernel's, and the program's calls and handlers go on giving right answers. Wrong images show
// the checks notice (two entry points swapped) and what restore refuses (an entry this kernel
// lacks, a thread dumped inside code a patch overwrites).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostArch } from '../../src/arch/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { becomeSubreaper, editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { dumpedVdso, editDumpedVdso, renameSymbol, swapSymbols } from '../helpers/vdso-image.js';
import { startTarget } from '../helpers/dump-target.js';
import { dump } from '../../src/dump/index.js';
import path from 'node:path';
import { elfFunctionSymbols } from '../../src/restore/vdso-symbols.js';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

/** The vDSO of process `pid` ('self': this one) as it is now. */
function vdsoOf(pid: number | 'self'): Buffer {
  const line = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').find((l) => l.endsWith('[vdso]'))!;
  const [a, b] = line.split(' ')[0]!.split('-').map((h) => BigInt(`0x${h}`));
  const buf = Buffer.alloc(Number(b! - a!));
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try { readSync(fd, buf, 0, buf.length, Number(a)); } finally { closeSync(fd); }
  return buf;
}

/** This machine's vDSO entry point named like `re` (x86_64: __vdso_time; ppc64: __kernel_time), and its offset. */
function entryAt(re: RegExp): [string, number] {
  const buf = vdsoOf('self');
  const found = [...elfFunctionSymbols(buf)].find(([n]) => re.test(n));
  assert.ok(found, `a vDSO entry like ${re}`);
  return found!;
}
const entry = (re: RegExp) => entryAt(re)[0];

test('vDSO: the same one comes back in place; another one is patched to jump into this kernel\'s', async () => {
  const arch = await hostArch();
  const page = arch.pageSize;
  d = await startAndDump('rt-vdso');
  const pid = d.pid;
  assert.equal(await restoreAndFinish(d), 'PASS', 'the same vDSO');
  assert.equal(await restoreAndFinish(d, (dir) => editDumpedVdso(dir, pid, page)), 'PASS', 'a vDSO of another layout');

  // The old entry points of gettimeofday and clock_gettime swapped: each call lands in the other
  // function. (Not time's: time(NULL) landing in gettimeofday takes whatever the second argument's
  // register holds for a timezone pointer.) gettimeofday(&tv, NULL) becomes clock_gettime of a clock
  // id that is an address: an error (x86_64's vDSO returns -EINVAL itself, libc calling it directly).
  const gtod = entry(/^__(vdso|kernel)_gettimeofday$/);
  const clock = entry(/^__(vdso|kernel)_clock_gettime$/);
  assert.match(await restoreAndFinish(d, (dir) => editDumpedVdso(dir, pid, page, (v) => swapSymbols(v, gtod, clock))), /^FAIL: gettimeofday\(\) gives -?[1-9]/);

  // An entry point this kernel's vDSO lacks: refused before anything starts, naming it.
  const getcpu = entry(/^__(vdso|kernel)_getcpu$/);
  const gone = `${getcpu.slice(0, -1)}Q`;
  await assert.rejects(restoreAndFinish(d, (dir) => editDumpedVdso(dir, pid, page, (v) => renameSymbol(v, getcpu, 'Q'))),
    new RegExp(`this kernel's vDSO has no ${gone}, which the dumped task's vDSO offers`));

  // A thread dumped where a patch overwrites the old vDSO's code (four bytes into clock_gettime's
  // entry, in the edited vDSO one page further) cannot go on there: refused, naming where it was.
  // (Old code no patch touches lets a thread go on: test/e2e/rt-vdso-cross, a thread the kernel
  // stopped at its signal trampoline.)
  const at = entryAt(/^__(vdso|kernel)_clock_gettime$/)[1];
  await assert.rejects(restoreAndFinish(d, (dir) => {
    editDumpedVdso(dir, pid, page);
    editImage(dir, `core-${pid}.img`, (e) => {
      const mm = readMm(dir, pid);
      const ti = e[0]![arch.threadInfoField] as MessageValue;
      const gp = ti.gpregs as MessageValue;
      const field = 'ip' in gp ? 'ip' : 'nip';
      gp[field] = mm + BigInt(page + at) + 4n;
    });
  }), new RegExp(`thread \\d+ was dumped inside the old vDSO at \\S+\\+0x4, which the patch of \\S+ overwrites`));
});

// A dump runs its first and last calls on code it writes into the vDSO's spare tail
// (inject/vdso-spare.ts); the image holds the task's own vDSO, not that code.
test('vDSO: the dump holds the task\'s own bytes, not cryo\'s code in its spare tail', async () => {
  const arch = await hostArch();
  becomeSubreaper();
  const t = startTarget('rt-vdso');
  try {
    const dir = path.join(t.dir, 'images');
    await dump({ pid: t.pid, dir, leaveRunning: true });
    const start = readMm(dir, t.pid);
    const own = vdsoOf(t.pid);
    const { bytes } = dumpedVdso(dir, t.pid, arch.pageSize, start, start + BigInt(own.length));
    const differs = bytes.findIndex((b, i) => b !== own[i]);
    assert.equal(differs, -1, `the dumped vDSO differs from the task's at offset ${differs}`);
    assert.ok(own.equals(vdsoOf('self')), 'the task runs on with the vDSO of every process');
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

function readMm(dir: string, pid: number): bigint {
  let start = 0n;
  editImage(dir, `mm-${pid}.img`, (e) => {
    start = BigInt(((e[0]!.vmas as MessageValue[]).find((x) => Number(x.status) & (1 << 3))!).start as bigint);
  });
  return start;
}

// test/programs/rt-novdso.c: a child that unmapped its vDSO and data areas (zdtm's vdso02) comes
// back without them, and without the syscall page restore ran its calls on.
test('no vDSO: a process that unmapped its own comes back without one', async () => {
  const arch = await hostArch();
  const page = BigInt(arch.pageSize);
  const nd = await startAndDump('rt-novdso');
  try {
    const child = Number(nd.target.ready.child);
    const vmas = (e: MessageValue[]) => e[0]!.vmas as MessageValue[];
    let childVmas: MessageValue[] = [];
    editImage(nd.images, `mm-${child}.img`, (e) => { childVmas = vmas(e); });
    assert.equal(childVmas.filter((v) => Number(v.status) & ((1 << 3) | (1 << 12))).length, 0, 'no vDSO or vvar area in the dump');
    assert.equal(await restoreAndFinish(nd), 'PASS');

    // The checks notice: a mapping more than the dump had; the counting page made the child's own.
    assert.match(await restoreAndFinish(nd, (dir) => editImage(dir, `mm-${child}.img`, (e) => {
      const v = vmas(e);
      const i = v.findIndex((x, k) => k > 0 && BigInt(x.start as bigint) - BigInt(v[k - 1]!.end as bigint) >= 3n * page);
      const at = BigInt(v[i - 1]!.end as bigint) + page;
      v.splice(i, 0, { start: at, end: at + page, pgoff: 0n, shmid: 0n, prot: 1, flags: 0x22, status: 1 | (1 << 9), fd: -1n });
    })), /^FAIL: the child's mappings differ from line /);
    assert.match(await restoreAndFinish(nd, (dir) => editImage(dir, `mm-${child}.img`, (e) => {
      const shared = vmas(e).find((x) => Number(x.status) & (1 << 14))!;
      shared.flags = 0x2;
      shared.status = 1 | (1 << 6) | (1 << 14);
    })), /^FAIL: the child does not count after restore /);
  } finally {
    cleanupDumped(nd);
  }
});
