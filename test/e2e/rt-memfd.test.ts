// memfds come back: test/programs/rt-memfd.c (a sealed memfd with holes, an offset, a dup, a
// shared and a private mapping; an unsealable memfd with a mode; a memfd only mapped) and
// rt-memfd-exec.c (a memfd executed through its descriptor) are dumped, restored and check
// themselves on SIGTERM. Edited images prove the checks notice.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { flipShmemByte, shmemPageOffset } from '../helpers/shmem-pages.js';
import { PAGE_SIZE } from '../helpers/dumped-memory.js';

const PAGE = BigInt(PAGE_SIZE);
const F_SEAL_SEAL = 1;
const F_SEAL_SHRINK = 2;
const F_SEAL_GROW = 4;
const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);

test('memfd: contents with holes, seals, offsets, shared descriptors, mappings of the same inode', async () => {
  const d = await startAndDump('rt-memfd');
  all.push(d);
  const r = d.target.ready;
  const inodes = entries(d.images, 'memfd.img');
  const main = inodes.find((m) => m.name === 'rt-memfd')!;
  assert.equal(Number(main.seals), F_SEAL_SHRINK | F_SEAL_GROW);
  assert.equal(BigInt(main.size as bigint), 8n * PAGE);
  const plain = inodes.find((m) => m.name === 'rt-plain')!;
  assert.equal(Number(plain.seals), F_SEAL_SEAL);
  assert.equal(Number(plain.mode) & 0o777, 0o640);
  assert.ok(inodes.find((m) => m.name === 'rt-maponly'), 'the memfd only mapped is dumped');
  // The descriptor: a MEMFD file at its offset, of the inode the mapping shows.
  const fdinfo = entries(d.images, readdirSync(d.images).find((n) => /^fdinfo-\d+\.img$/.test(n))!);
  const a = fdinfo.find((f) => Number(f.fd) === Number(r.a))!;
  const b = fdinfo.find((f) => Number(f.fd) === Number(r.b))!;
  assert.equal(a.id, b.id, 'dup shares the file');
  const fileA = entries(d.images, 'files.img').find((f) => Number(f.id) === Number(a.id))!;
  assert.equal(fileA.type, 'MEMFD');
  assert.equal(BigInt((fileA.memfd as MessageValue).pos as bigint), 1234n);
  assert.equal(Number((fileA.memfd as MessageValue).inode_id), Number(main.inode_id));
  // Holes are not saved.
  const shmid = BigInt(main.shmid as number);
  assert.ok(shmemPageOffset(d.images, shmid, 2n * PAGE));
  assert.equal(shmemPageOffset(d.images, shmid, 4n * PAGE), undefined, 'a hole is not saved');

  assert.equal(await restoreAndFinish(d), 'PASS');
  // A changed seal and a changed byte are found.
  const sealed = await restoreAndFinish(d, (dir) => editImage(dir, 'memfd.img', (e) => {
    e.find((m) => m.name === 'rt-memfd')!.seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
  }));
  assert.match(sealed, /^FAIL: seals are 0x7, want 0x6 /);
  assert.match(await restoreAndFinish(d, (dir) => flipShmemByte(dir, shmid, 6n * PAGE + 20n)), /^FAIL: memfd byte 20 of page 6 /);
});

test('a memfd executed through its descriptor (execveat) before the dump runs again after restore: no reopen makes it written to (ETXTBSY)', async () => {
  const d = await startAndDump('rt-memfd-exec');
  all.push(d);
  assert.equal(await restoreAndFinish(d), 'PASS');
  // With O_APPEND the descriptor is no longer memfd_create's own: restore reopens it for writing.
  const O_APPEND = 0o2000;
  const reopened = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (files) => {
    const m = files.find((f) => f.type === 'MEMFD' && (Number((f.memfd as MessageValue).flags) & 3) === 2)!;
    (m.memfd as MessageValue).flags = Number((m.memfd as MessageValue).flags) | O_APPEND;
  }));
  assert.match(reopened, /^FAIL: exec of the memfd after restore: Text file busy/);
});
