// Images with payloads after their entries (no fixture has these): each
// survives encode -> decode -> crit JSON -> encode unchanged.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Image, critJsonText, decodeImage, encodeImage, imageFromCrit } from '../../src/images/image.js';
import { parseJson } from '../../src/images/json-text.js';
import * as S from '../../src/images/schemas/index.js';

const desc = { key: 1, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 7 };
export const extraImages: Image[] = [
  {
    magic: 'GHOST_FILE',
    entries: [{ def: S.ghost_file_entry, value: { uid: 0, gid: 0, mode: 0o100644, size: 5n }, extra: Buffer.from('hello') }],
  },
  {
    magic: 'GHOST_FILE',
    entries: [
      { def: S.ghost_file_entry, value: { uid: 1, gid: 1, mode: 0o100600, chunks: true, size: 8192n } },
      { def: S.ghost_chunk_entry, value: { len: 3n, off: 0n }, extra: Buffer.from('abc') },
      { def: S.ghost_chunk_entry, value: { len: 2n, off: 4096n }, extra: Buffer.from('de') },
    ],
  },
  {
    magic: 'IPCNS_SEM',
    entries: [{ def: S.ipc_sem_entry, value: { desc, nsems: 3 }, extra: [1, 2, 65535] }],
  },
  {
    magic: 'IPCNS_MSG',
    entries: [{ def: S.ipc_msg_entry, value: { desc, qbytes: 16384, qnum: 2 }, extra: [{ mtype: 1n, msize: 3 }, Buffer.from('xyz'), { mtype: 2n, msize: 9 }, Buffer.from('123456789')] }],
  },
  {
    magic: 'IPCNS_SHM',
    entries: [{ def: S.ipc_shm_entry, value: { desc, size: 5n }, extra: Buffer.from('12345') }],
  },
  {
    magic: 'PIPES_DATA',
    entries: [
      { def: S.pipe_data_entry, value: { pipe_id: 1, bytes: 4 }, extra: Buffer.from([0, 1, 2, 3]) },
      { def: S.pipe_data_entry, value: { pipe_id: 2, bytes: 1 }, extra: Buffer.from('z') },
    ],
  },
];

for (const img of extraImages) {
  test(`${img.magic} with ${img.entries.length} entries round-trips through bytes and crit JSON`, () => {
    const bytes = encodeImage(img);
    const back = decodeImage(bytes, 'x.img');
    assert.deepEqual(back.entries.map((e) => [e.value, e.extra]), img.entries.map((e) => [e.value, e.extra]));
    for (const pretty of [true, false]) {
      const again = encodeImage(imageFromCrit(parseJson(critJsonText(back, pretty))));
      assert.ok(again.equals(bytes), `${pretty ? 'pretty' : 'plain'} JSON does not encode back`);
    }
  });
}

test('shm and sem payloads are padded as CRIU pads them', () => {
  const shm = encodeImage(extraImages[4]);
  const sem = encodeImage(extraImages[2]);
  const entryEnd = (b: Buffer): number => 8 + 4 + b.readUInt32LE(8);
  assert.equal(shm.length - entryEnd(shm), 8); // 5 bytes -> 8 (4-byte rounding)
  assert.equal(sem.length - entryEnd(sem), 8); // 3 u16 -> 8 (8-byte rounding)
});
