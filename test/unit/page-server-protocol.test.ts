// The page-server message as CRIU 4.2 lays it out (struct page_server_iov, host order, u64s 8-aligned).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PSI_SIZE, PS_IOV_ADD_F, PS_TYPE_PID, decodePsi, dstIdOf, encodePsi, imageOfDstId, psAddF, psCmd, psFlags } from '../../src/page-server/protocol.js';
import { HOST_LITTLE_ENDIAN } from '../../src/sys/native-endian.js';

test('page_server_iov: cmd at 0, nr_pages at 8, vaddr at 16, dst_id at 24', () => {
  const b = encodePsi({ cmd: psAddF(6), nrPages: 3n, vaddr: 0x7f0000001000n, dstId: dstIdOf(PS_TYPE_PID, 42) });
  assert.equal(b.length, PSI_SIZE);
  const u32 = (o: number) => (HOST_LITTLE_ENDIAN ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (o: number) => (HOST_LITTLE_ENDIAN ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  assert.equal(u32(0), (6 << 16) | PS_IOV_ADD_F);
  assert.equal(u32(4), 0, 'padding');
  assert.equal(u64(8), 3n);
  assert.equal(u64(16), 0x7f0000001000n);
  assert.equal(u64(24), (42n << 8n) | 1n);
  const back = decodePsi(b);
  assert.equal(psCmd(back.cmd), PS_IOV_ADD_F);
  assert.equal(psFlags(back.cmd), 6);
});

test('dst_id types: 4.2\'s and the older CRIUs\' numbers', () => {
  assert.deepEqual(imageOfDstId((7n << 8n) | 1n), { type: 'pid', id: 7 });
  assert.deepEqual(imageOfDstId((7n << 8n) | 11n), { type: 'pid', id: 7 });
  assert.deepEqual(imageOfDstId((9n << 8n) | 2n), { type: 'shmem', id: 9 });
  assert.deepEqual(imageOfDstId((9n << 8n) | 34n), { type: 'shmem', id: 9 });
  assert.equal(imageOfDstId((9n << 8n) | 3n), undefined);
});
