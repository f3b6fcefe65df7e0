// Shared anonymous memory comes back shared: test/programs/rt-shmem.c (a MAP_SHARED|MAP_ANONYMOUS
// segment split into three VMAs with a page never touched, a second view of it through
// map_files, a shared /dev/zero mapping) is dumped, restored and checks itself on SIGTERM.
// The images say what CRIU 4.2's say; edited images prove the checks notice.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { flipShmemByte, shmemPageOffset } from '../helpers/shmem-pages.js';
import { flipDumpedByte, PAGE_SIZE } from '../helpers/dumped-memory.js';

const PAGE = BigInt(PAGE_SIZE);
const VMA_AREA_REGULAR = 1;
const VMA_FILE_PRIVATE = 1 << 6;
const VMA_FILE_SHARED = 1 << 7;
const VMA_ANON_SHARED = 1 << 8;
const VMA_AREA_MEMFD = 1 << 14;
const MAP_SHARED = 1;
const MAP_ANONYMOUS = 0x20;
const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);

test('shared anonymous memory: one segment in three VMAs and a second view, /dev/zero, untouched page', async () => {
  const d = await startAndDump('rt-shmem');
  all.push(d);
  const r = d.target.ready;
  const ino = BigInt(r.ino!);
  const shm = BigInt(r.shm!);
  const vmas = entries(d.images, `mm-${d.pid}.img`)[0]!.vmas as MessageValue[];
  // As CRIU 4.2 writes it: MEMFD mappings of one MEMFD file whose inode is the segment.
  const seg = vmas.filter((v) => BigInt(v.start as bigint) >= shm && BigInt(v.end as bigint) <= shm + 16n * PAGE);
  assert.equal(seg.length, 3);
  for (const v of seg) {
    assert.equal(Number(v.status), VMA_AREA_REGULAR | VMA_FILE_SHARED | VMA_AREA_MEMFD);
    assert.equal(Number(v.flags), MAP_SHARED);
    assert.equal(v.shmid, seg[0]!.shmid);
  }
  assert.deepEqual(seg.map((v) => BigInt(v.pgoff as bigint)), [0n, 10n * PAGE, 11n * PAGE]);
  const view = vmas.find((v) => BigInt(v.start as bigint) === BigInt(r.view!))!;
  assert.equal(view.shmid, seg[0]!.shmid, 'the second view is the same file');
  const file = entries(d.images, 'files.img').find((f) => Number(f.id) === Number(seg[0]!.shmid))!;
  assert.equal(file.type, 'MEMFD');
  const inode = entries(d.images, 'memfd.img').find((m) => Number(m.inode_id) === Number((file.memfd as MessageValue).inode_id))!;
  assert.equal(inode.name, '/dev/zero');
  assert.equal(BigInt(inode.shmid as number), ino);
  assert.equal(BigInt(inode.size as bigint), 16n * PAGE);
  // Only pages the segment has are saved: the untouched one is not.
  assert.equal(shmemPageOffset(d.images, ino, 5n * PAGE), undefined, 'the untouched page is not saved');
  assert.ok(shmemPageOffset(d.images, ino, 4n * PAGE), 'a written page is');

  assert.equal(await restoreAndFinish(d), 'PASS');
  // The same segment as older CRIU versions (and unprivileged dumps) write it: VMA_ANON_SHARED, shmid = inode.
  const asAnon = await restoreAndFinish(d, (dir) => editImage(dir, `mm-${d.pid}.img`, (e) => {
    for (const v of e[0]!.vmas as MessageValue[]) {
      if (!(Number(v.status) & VMA_AREA_MEMFD)) continue;
      const f = entries(dir, 'files.img').find((x) => Number(x.id) === Number(v.shmid))!;
      const m = entries(dir, 'memfd.img').find((x) => Number(x.inode_id) === Number((f.memfd as MessageValue).inode_id))!;
      v.status = VMA_AREA_REGULAR | VMA_ANON_SHARED;
      v.flags = MAP_SHARED | MAP_ANONYMOUS;
      v.shmid = BigInt(m.shmid as number);
      delete v.fdflags;
    }
  }));
  assert.equal(asAnon, 'PASS');
  // A changed byte in the segment's pages is found.
  assert.match(await restoreAndFinish(d, (dir) => flipShmemByte(dir, ino, 3n * PAGE + 10n)), /^FAIL: shm byte 10 of page 3 /);
});

// test/programs/rt-shmem-fd.c: descriptors of shared anonymous memory (one of a mapped segment,
// one of a segment left unmapped and truncated) and a private mapping through the first.
test('shared anonymous memory through descriptors and a private mapping of it', async () => {
  const d = await startAndDump('rt-shmem-fd');
  all.push(d);
  const r = d.target.ready;
  const ino = BigInt(r.ino!);
  const ino2 = BigInt(r.ino2!);
  // As CRIU 4.2 writes them: MEMFD descriptors of memfd inodes named /dev/zero.
  const inodes = entries(d.images, 'memfd.img');
  const inodeOf = (shmid: bigint) => inodes.find((m) => BigInt(m.shmid as number) === shmid)!;
  assert.equal(inodeOf(ino).name, '/dev/zero');
  assert.equal(BigInt(inodeOf(ino2).size as bigint), 12n);
  const fds = entries(d.images, 'files.img').filter((f) => f.type === 'MEMFD' && BigInt((f.memfd as MessageValue).pos as bigint) === 3n);
  assert.equal(fds.length, 1);
  const priv = (entries(d.images, `mm-${d.pid}.img`)[0]!.vmas as MessageValue[]).find((v) => BigInt(v.start as bigint) === BigInt(r.priv!))!;
  assert.equal(Number(priv.status), VMA_AREA_REGULAR | VMA_FILE_PRIVATE | VMA_AREA_MEMFD);
  assert.equal(BigInt(priv.pgoff as bigint), PAGE);

  assert.equal(await restoreAndFinish(d), 'PASS');
  const editInode = (dir: string, shmid: bigint, edit: (m: MessageValue) => void) =>
    editImage(dir, 'memfd.img', (e) => edit(e.find((m) => BigInt(m.shmid as number) === shmid)!));
  // Each check notices: the segment's pages, the private copy, the size, the position, the kind.
  assert.match(await restoreAndFinish(d, (dir) => flipShmemByte(dir, ino, 10n)), /^FAIL: segment byte 10 /);
  assert.match(await restoreAndFinish(d, (dir) => flipDumpedByte(dir, d.pid, BigInt(r.priv!) + PAGE + 7n)), /^FAIL: private page byte 7 /);
  assert.match(await restoreAndFinish(d, (dir) => editInode(dir, ino2, (m) => { m.size = 11n; })), /^FAIL: fd2 size 11, want 12 /);
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (e) => {
    const f = e.find((x) => x.type === 'MEMFD' && BigInt((x.memfd as MessageValue).pos as bigint) === 3n)!;
    (f.memfd as MessageValue).pos = 4n;
  })), /^FAIL: fd2 position 4, want 3 /);
  assert.match(await restoreAndFinish(d, (dir) => editInode(dir, ino2, (m) => { m.name = 'shm'; })), /^FAIL: fd \d+ is \/memfd:shm \(deleted\), not shared anonymous memory /);
});
