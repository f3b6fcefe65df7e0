// elfExtent: how much of the vDSO's pages its ELF image uses (cryo's first and last call of a dump
// run on code written past it, inject/vdso-spare.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { elfExtent } from '../../src/inject/vdso-spare.js';

/** This process's own vDSO, as the dumped task's is read. */
function ownVdso(): Buffer | undefined {
  const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith('[vdso]'));
  if (line === undefined) return undefined;
  const [start, end] = line.split(' ')[0]!.split('-').map((h) => parseInt(h, 16)) as [number, number];
  const b = Buffer.alloc(end - start);
  const fd = openSync('/proc/self/mem', 'r');
  try { readSync(fd, b, 0, b.length, start); } finally { closeSync(fd); }
  return b;
}

test("the vDSO's image ends before its last page does, and only zeros follow it", (t) => {
  const vdso = ownVdso();
  if (vdso === undefined) return t.skip('no vDSO in this process');
  const used = elfExtent(vdso);
  assert.ok(used !== undefined && used > 64 && used <= vdso.length, `extent ${used} of ${vdso.length}`);
  assert.ok(vdso.subarray(used).every((x) => x === 0), 'nothing but padding past the extent');
  // The last byte the image uses is inside the extent: the section headers' end or data.
  assert.ok(vdso.subarray(0, used).some((x, i) => x !== 0 && i >= used - 64), 'the extent is not padded');
});

test('an image that says it is longer than its bytes, or no ELF at all, has no extent', () => {
  const vdso = ownVdso() ?? Buffer.alloc(0);
  if (vdso.length > 0) assert.equal(elfExtent(vdso.subarray(0, (elfExtent(vdso) ?? 1) - 1)), undefined);
  assert.equal(elfExtent(Buffer.alloc(4096)), undefined);
  assert.equal(elfExtent(Buffer.from('\x7fELF')), undefined);
});

test('a 32-bit big-endian header is read as such (class 1, data 2)', () => {
  const b = Buffer.alloc(1024);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 1;
  b[5] = 2;
  b.writeUInt32BE(52, 0x1c); // e_phoff
  b.writeUInt32BE(600, 0x20); // e_shoff
  b.writeUInt16BE(32, 0x2a); // e_phentsize
  b.writeUInt16BE(1, 0x2c); // e_phnum
  b.writeUInt16BE(40, 0x2e); // e_shentsize
  b.writeUInt16BE(2, 0x30); // e_shnum
  b.writeUInt32BE(100, 52 + 4); // p_offset
  b.writeUInt32BE(300, 52 + 16); // p_filesz: to 400
  b.writeUInt32BE(1, 640 + 4); // section 1: PROGBITS
  b.writeUInt32BE(700, 640 + 16); // sh_offset
  b.writeUInt32BE(50, 640 + 20); // sh_size: to 750, past the headers' 680
  assert.equal(elfExtent(b), 750);
  b.writeUInt32BE(8, 640 + 4); // NOBITS takes no bytes of the file
  assert.equal(elfExtent(b), 680);
});
