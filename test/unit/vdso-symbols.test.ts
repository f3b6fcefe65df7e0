// The vDSO comparison restore's preflight makes: this machine's own vDSO parsed from memory (its
// entry points found, equal to itself) and edited copies (a function moved, one missing, another
// size) each reported, naming what differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { elfFunctions, elfFunctionSymbols, vdsoDifference } from '../../src/restore/vdso-symbols.js';
import { differenceOf } from '../../src/restore/vdso-choice.js';
import { elfExtent } from '../../src/inject/vdso-spare.js';

/** This process's [vdso] bytes, read from /proc/self/mem. */
function ownVdso(): Buffer {
  const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith('[vdso]'));
  assert.ok(line, 'this process has a [vdso]');
  const [a, b] = line!.split(' ')[0]!.split('-').map((h) => BigInt(`0x${h}`));
  const buf = Buffer.alloc(Number(b! - a!));
  const fd = openSync('/proc/self/mem', 'r');
  try { readSync(fd, buf, 0, buf.length, Number(a)); } finally { closeSync(fd); }
  return buf;
}

test('the vDSO\'s entry points are read from its dynamic symbols', () => {
  const v = ownVdso();
  const syms = elfFunctionSymbols(v);
  const clock = [...syms.keys()].find((n) => /clock_gettime$/.test(n));
  assert.ok(clock, `a clock_gettime entry among ${[...syms.keys()].join(', ')}`);
  const off = syms.get(clock!)!;
  assert.ok(off > 0 && off < v.length, `its offset 0x${off.toString(16)} lies inside the ${v.length}-byte image`);
  assert.equal(vdsoDifference(v, Buffer.from(v)), undefined, 'a vDSO does not differ from itself');
});

test('a moved entry point, a missing one or another size is reported, naming it', () => {
  const v = ownVdso();
  const f = elfFunctions(v).find((x) => /clock_gettime$/.test(x.name))!;
  const moved = Buffer.from(v);
  const le = v[5] === 1;
  const is64 = v[4] === 2;
  if (is64) { const cur = le ? moved.readBigUInt64LE(f.valueAt) : moved.readBigUInt64BE(f.valueAt); if (le) moved.writeBigUInt64LE(cur + 0x40n, f.valueAt); else moved.writeBigUInt64BE(cur + 0x40n, f.valueAt); }
  else { const cur = le ? moved.readUInt32LE(f.valueAt) : moved.readUInt32BE(f.valueAt); if (le) moved.writeUInt32LE(cur + 0x40, f.valueAt); else moved.writeUInt32BE(cur + 0x40, f.valueAt); }
  assert.equal(vdsoDifference(moved, v), `${f.name} is at offset 0x${f.offset.toString(16)} here, 0x${(f.offset + 0x40).toString(16)} in the dump`);
  const renamed = Buffer.from(v);
  const nameAt = renamed.indexOf(Buffer.from(`${f.name}\0`, 'latin1'));
  renamed[nameAt + f.name.length - 1] = 'X'.charCodeAt(0);
  assert.match(vdsoDifference(renamed, v)!, /is missing here$/);
  assert.match(vdsoDifference(Buffer.concat([v, Buffer.alloc(4096)]), v)!, /^\d+ bytes here, \d+ in the dump$/);
  assert.throws(() => elfFunctions(Buffer.alloc(4096)), /not an ELF image/);
});

test('the remembered comparison is taken for a vDSO that differs only past its ELF image, not for one whose entry point moved', () => {
  const v = ownVdso();
  const end = elfExtent(v);
  assert.ok(end !== undefined && end < v.length, 'the vDSO has spare bytes after its ELF image');
  assert.equal(differenceOf(Buffer.from(v), v), undefined);
  const spare = Buffer.from(v);
  spare[v.length - 1] ^= 0xff; // cryo's call-ending code in one process's dumped vDSO
  assert.equal(differenceOf(spare, v), undefined);
  const f = elfFunctions(v).find((x) => /clock_gettime$/.test(x.name))!;
  const moved = Buffer.from(spare);
  const low = f.valueAt + (v[5] === 1 ? 0 : v[4] === 2 ? 7 : 3); // st_value's lowest byte
  moved[low] = (moved[low]! + 0x40) & 0xff;
  assert.match(differenceOf(moved, v) ?? '', new RegExp(`^${f.name} is at offset`));
});
