import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isVmaHeader, mapFilesName, parseMaps, parseSmaps, parseVmaLine, VM_FLAG_NAMES } from '../../src/proc/index.js';
import { repoRoot } from '../helpers/paths.js';

const fixture = (name: string) => readFileSync(path.join(repoRoot, 'test/unit/fixtures/proc', name), 'utf8');

test('maps: every VMA kind of the captured proc-state sample', () => {
  const vmas = parseMaps(fixture('maps.txt'));
  assert.equal(vmas.length, 31);
  const byStart = (hex: string) => vmas.find((v) => v.start === BigInt('0x' + hex))!;

  const exe = vmas[1]!;
  assert.deepEqual(
    { start: exe.start, end: exe.end, r: exe.read, w: exe.write, x: exe.exec, shared: exe.shared, offset: exe.offset, maj: exe.devMajor, min: exe.devMinor, ino: exe.inode, kind: exe.kind },
    { start: 0x55f2a6841000n, end: 0x55f2a6842000n, r: true, w: false, x: true, shared: false, offset: 0x2000n, maj: 0xfe, min: 0, ino: 5309119n, kind: 'file' },
  );
  assert.equal(exe.name, '/work/main/test/programs/bin/proc-state');

  assert.equal(byStart('55f2cf40a000').kind, 'heap');
  assert.equal(byStart('7e0000000000').kind, 'anonymous');
  assert.equal(byStart('7e0000000000').name, '');
  const none = byStart('7f991f319000');
  assert.deepEqual([none.read, none.write, none.exec, none.shared], [false, false, false, false]);

  const memfd = byStart('7f991f314000');
  assert.deepEqual([memfd.kind, memfd.label, memfd.deleted, memfd.shared, memfd.name], ['memfd', 'cryo test', true, true, '/memfd:cryo test']);
  const file = byStart('7f991f315000');
  assert.deepEqual([file.kind, file.name, file.deleted], ['file', '/tmp/proc state 4781.dat', true]);
  const zero = byStart('7f991f317000');
  assert.deepEqual([zero.kind, zero.deleted, zero.shared, zero.devMinor], ['dev-zero', true, true, 1]);

  assert.equal(byStart('7f991f31f000').kind, 'vvar');
  assert.equal(byStart('7f991f323000').kind, 'vvar_vclock');
  assert.equal(byStart('7f991f325000').kind, 'vdso');
  assert.equal(byStart('7ffe788c2000').kind, 'stack');
  const vsys = byStart('ffffffffff600000');
  assert.deepEqual([vsys.kind, vsys.end, vsys.exec, vsys.read], ['vsyscall', 0xffffffffff601000n, true, false]);
});

test('maps: escaped newline, names with spaces and brackets, SYSV shm, uprobes, anon names', () => {
  const v = parseVmaLine('7f0000000000-7f0000001000 rw-p 00000000 fe:00 12   /tmp/a\\012b (x) (deleted)');
  assert.deepEqual([v.name, v.deleted, v.kind], ['/tmp/a\nb (x)', true, 'file']);
  const live = parseVmaLine('7f0000000000-7f0000001000 r--p 00001000 fe:00 12  /tmp/dir with  two spaces/f');
  assert.deepEqual([live.name, live.deleted, live.offset], ['/tmp/dir with  two spaces/f', false, 0x1000n]);
  const shm = parseVmaLine('7f0000000000-7f0000001000 rw-s 00000000 00:01 32770  /SYSV0000abcd (deleted)');
  assert.deepEqual([shm.kind, shm.label], ['sysv-shm', '0000abcd']);
  // Shared anonymous memory mapped privately through a descriptor of it is still its shmem inode.
  assert.equal(parseVmaLine('7f0000000000-7f0000001000 rw-p 00001000 00:01 7  /dev/zero (deleted)').kind, 'dev-zero');
  assert.equal(parseVmaLine('7fffff000000-7fffff001000 r-xp 00000000 00:00 0  [uprobes]').kind, 'uprobes');
  const named = parseVmaLine('7f0000000000-7f0000001000 rw-p 00000000 00:00 0  [anon:my heap]');
  assert.deepEqual([named.kind, named.label], ['anon-named', 'my heap']);
  assert.equal(parseVmaLine('7f0000000000-7f0000001000 rw-s 00000000 00:01 5  [anon_shmem:x]').kind, 'anon-shmem-named');
  assert.equal(parseVmaLine('ffff0000-ffff1000 r-xp 00000000 00:00 0  [vectors]').kind, 'special');
  // Short addresses are printed padded to 8 digits; a 64-bit top address must not lose precision.
  const low = parseVmaLine('00400000-00401000 r-xp 00000000 08:01 7 /bin/x');
  assert.equal(low.start, 0x400000n);
  assert.throws(() => parseVmaLine('garbage'), /unexpected line in \/proc\/PID\/maps/);
});

test('smaps: sizes, THP, VmFlags merged per VMA', () => {
  const vmas = parseSmaps(fixture('smaps.txt'));
  assert.deepEqual(
    vmas.map((v) => v.start),
    parseMaps(fixture('maps.txt')).map((v) => v.start),
  );
  const thp = vmas.find((v) => v.start === 0x7f991ec00000n)!.smaps!;
  assert.equal(thp.anonHugePages, 2 * 1024 * 1024);
  assert.equal(thp.rss, 2 * 1024 * 1024);
  assert.equal(thp.thpEligible, true);
  assert.ok(thp.vmFlags.includes('hg'));
  const touched = vmas.find((v) => v.start === 0x7e0000000000n)!.smaps!;
  assert.equal(touched.rss, 6 * 4096);
  assert.equal(touched.sizes.Private_Dirty, 6 * 4096);
  assert.equal(touched.thpEligible, false);
  const stack = vmas.find((v) => v.kind === 'stack')!.smaps!;
  assert.ok(stack.vmFlags.includes('gd'));
  const vvar = vmas.find((v) => v.kind === 'vvar_vclock')!.smaps!;
  assert.deepEqual(vvar.vmFlags, ['rd', 'mr', 'pf', 'io', 'de', 'dd']);
  assert.equal(vvar.protectionKey, 0);
  for (const v of vmas) for (const f of v.smaps!.vmFlags) assert.ok(f in VM_FLAG_NAMES, `unknown VmFlag ${f}`);
});

test('smaps: header detection and map_files names', () => {
  assert.equal(isVmaHeader('7f0000000000-7f0000001000 rw-p 00000000 00:00 0 '), true);
  assert.equal(isVmaHeader('Rss:                   4 kB'), false);
  assert.equal(mapFilesName(0x7f991f314000n, 0x7f991f315000n), '7f991f314000-7f991f315000');
  assert.equal(mapFilesName(0x400000n, 0x401000n), '400000-401000');
});
