// sock_diag answers for unix sockets, read from their layout (unix_diag_msg + 4-aligned nlattrs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUnixDiag } from '../../src/files/unix-diag.js';
import { parseAttrs, writeStruct, NLATTR, nlAlign } from '../../src/sys/netlink.js';
import { readU32, writeU32 } from '../../src/sys/index.js';

/** An nlattr of `type` holding `data`, padded to 4 bytes. */
function attr(type: number, data: Buffer): Buffer {
  const b = Buffer.alloc(nlAlign(NLATTR.size + data.length));
  writeStruct(NLATTR, { len: NLATTR.size + data.length, type }, b);
  data.copy(b, NLATTR.size);
  return b;
}
const u32s = (...v: number[]) => { const b = Buffer.alloc(4 * v.length); v.forEach((x, i) => writeU32(b, x, 4 * i)); return b; };

function message(type: number, state: number, ino: number, attrs: Buffer[]): Buffer {
  const head = Buffer.alloc(16);
  head[0] = 1; head[1] = type; head[2] = state;
  writeU32(head, ino, 4);
  return Buffer.concat([head, ...attrs]);
}

test('a listener: name with odd length (padding skipped), vfs, icons, queue lengths, shutdown', () => {
  const name = Buffer.from('/tmp/x.sock\0'); // 12 bytes
  const odd = Buffer.from('\0abc'); // abstract, 4 bytes
  const m = parseUnixDiag(message(1, 10, 4242, [
    attr(0, name), attr(1, u32s(77, 0x803)), attr(3, u32s(11, 12, 13)), attr(4, u32s(3, 128)), attr(6, Buffer.from([3])),
  ]));
  assert.deepEqual(m, { ino: 4242, type: 1, state: 10, peer: 0, name, vfs: { ino: 77, dev: 0x803 }, icons: [11, 12, 13], rqlen: 3, wqlen: 128, shutdown: 3 });
  const a = parseUnixDiag(message(2, 7, 5, [attr(0, Buffer.from('\0ab')), attr(2, u32s(9))]));
  assert.deepEqual([a.name, a.peer, a.icons, a.vfs], [Buffer.from('\0ab'), 9, [], undefined]);
  assert.deepEqual(parseUnixDiag(message(5, 1, 6, [attr(0, odd)])).name, odd);
});

test('attributes: a truncated one ends the list, the last of a type wins', () => {
  const good = attr(2, u32s(1));
  const again = attr(2, u32s(2));
  const cut = attr(4, u32s(1, 2)).subarray(0, 6);
  const got = parseAttrs(Buffer.concat([good, again, cut]), 0);
  assert.deepEqual([...got.keys()], [2]);
  assert.equal(readU32(got.get(2)!, 0), 2);
});
