// The proto2 wire codec on small schemas of its own: exact protobuf-c bytes
// and typed errors for every kind of bad input.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageError } from '../../src/images/errors.js';
import { enumDef, message, opt, rep, req } from '../../src/images/schema.js';
import { decode, encode } from '../../src/images/wire.js';
import type { MessageValue } from '../../src/images/value.js';

const color = enumDef('color', { RED: 1, GREEN: 2, NEG: -1 });
const inner = message('inner', [req(1, 'a', 'uint32'), opt(2, 's', 'string')]);
const all = message('all', [
  opt(1, 'i32', 'int32'),
  opt(2, 'u32', 'uint32'),
  opt(3, 's32', 'sint32'),
  opt(4, 'f32', 'fixed32'),
  opt(5, 'sf32', 'sfixed32'),
  opt(6, 'i64', 'int64'),
  opt(7, 'u64', 'uint64'),
  opt(8, 's64', 'sint64'),
  opt(9, 'f64', 'fixed64'),
  opt(10, 'sf64', 'sfixed64'),
  opt(11, 'b', 'bool'),
  opt(12, 'str', 'string'),
  opt(13, 'raw', 'bytes'),
  opt(14, 'e', color),
  opt(15, 'm', () => inner),
  rep(16, 'packed', 'uint32', { packed: true }),
  rep(17, 'unpacked', 'uint64'),
  rep(18, 'msgs', () => inner),
]);

test('encode writes protobuf-c bytes: field order, varints, zigzag, fixed, packed', () => {
  const v: MessageValue = {
    i32: -1,
    u32: 300,
    s32: -2,
    f32: 0xdeadbeef,
    sf32: -5,
    i64: -3n,
    u64: 0xffffffffffffffffn,
    s64: -9223372036854775808n,
    f64: 0x0102030405060708n,
    sf64: -1n,
    b: true,
    str: 'hé',
    raw: Buffer.from([0, 255]),
    e: 'NEG',
    m: { a: 7 },
    packed: [1, 128],
    unpacked: [1n, 2n],
    msgs: [{ a: 1, s: '' }, { a: 2 }],
  };
  const hex = encode(v, all).toString('hex');
  const want = [
    '08ffffffffffffffffff01', // int32 -1 as a 10-byte varint
    '10ac02', // 300
    '1803', // sint32 -2 -> 3
    '25efbeadde',
    '2dfbffffff',
    '30fdffffffffffffffff01',
    '38ffffffffffffffffff01',
    '40ffffffffffffffffff01', // sint64 min -> 2^64-1
    '490807060504030201',
    '51ffffffffffffffff',
    '5801',
    '6203' + '68c3a9',
    '6a0200ff',
    '70ffffffffffffffffff01', // enum -1
    '7a020807',
    '820103' + '018001', // packed [1, 128]
    '880101' + '880102',
    '92010408011200' + '9201020802',
  ].join('');
  assert.equal(hex, want);
  assert.deepEqual(decode(Buffer.from(want, 'hex'), all), v);
});

test('decode keeps the value representation: 64-bit as bigint, absent fields absent', () => {
  const v = decode(Buffer.from('08011007', 'hex'), message('x', [req(1, 'a', 'uint64'), opt(2, 'b', 'int32'), opt(3, 'c', 'bool')]));
  assert.deepEqual(v, { a: 1n, b: 7 });
  assert.deepEqual(Object.keys(v), ['a', 'b']);
});

test('repeated scalars are read packed or not, whatever the schema says', () => {
  const d = message('d', [rep(1, 'v', 'uint32')]);
  assert.deepEqual(decode(Buffer.from('0a020102', 'hex'), d), { v: [1, 2] });
  assert.deepEqual(decode(Buffer.from('08010802', 'hex'), d), { v: [1, 2] });
});

test('unknown fields are skipped', () => {
  assert.deepEqual(decode(Buffer.from('0807' + '9801ff01' + '2a0161' + '3d01020304', 'hex'), inner), { a: 7 });
});

function throwsAt(hex: string, def: typeof all, offset: number, re: RegExp): void {
  assert.throws(() => decode(Buffer.from(hex, 'hex'), def, 'f.img', 100), (e: unknown) => {
    assert.ok(e instanceof ImageError, String(e));
    assert.equal(e.file, 'f.img');
    assert.equal(e.offset, 100 + offset, e.message);
    assert.match(e.expected, re);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

test('bad input is an ImageError with file and offset', () => {
  throwsAt('08ff', all, 1, /varint/); // truncated varint
  throwsAt('08ffffffffffffffffffff01', all, 1, /varint/); // 11 bytes
  throwsAt('6205616263', all, 1, /length/); // length past the end
  throwsAt('62ffffffff0f', all, 1, /length/); // absurd length
  throwsAt('0d01020304', all, 0, /wire type/); // int32 sent as fixed32
  throwsAt('0f', all, 0, /wire type 0, 1, 2 or 5|wire type/); // group wire type
  throwsAt('6202c328', all, 2, /UTF-8/); // invalid UTF-8
  throwsAt('7005', all, 1, /enum color/); // unknown enum value
  throwsAt('1800', inner, 2, /required field inner\.a/);
  throwsAt('00', all, 0, /field number/);
  throwsAt('2501', all, 1, /4 bytes/);
});

test('deep recursion is refused, not a stack overflow', () => {
  const node: ReturnType<typeof message> = message('node', [opt(1, 'next', () => node)]);
  let b = Buffer.alloc(0);
  for (let i = 0; i < 200; i++) b = Buffer.concat([Buffer.from([0x0a, ...varint(b.length)]), b]);
  assert.throws(() => decode(b, node), (e: unknown) => e instanceof ImageError && /nesting/.test(e.message));
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return out;
}

test('encode refuses values that do not fit the schema', () => {
  assert.throws(() => encode({ s: 'x' }, inner), /required field/);
  assert.throws(() => encode({ a: 2 ** 32 }, inner), /does not fit/);
  assert.throws(() => encode({ a: 1, s: 5 } as never, inner), /string/);
  assert.throws(() => encode({ e: 'BLUE' }, all), /enum color/);
});

test('nested messages and packed fields of any length: the length a varint of as many bytes as it needs', () => {
  // inner.s of n bytes makes an inner message of n + 2 + varint(n) bytes: lengths around each varint size.
  for (const n of [0, 123, 124, 125, 126, 16377, 16378, 16379, 16380, 2097146, 2097147, 2097148]) {
    const s = 'x'.repeat(n);
    const innerBytes = Buffer.from([0x08, 0x07, 0x12, ...varint(n), ...Buffer.from(s)]);
    const outerWant = Buffer.concat([Buffer.from([0x7a, ...varint(innerBytes.length)]), innerBytes]);
    assert.equal(encode({ m: { a: 7, s } }, all).toString('hex'), outerWant.toString('hex'), `inner of ${innerBytes.length} bytes`);
    // Twice nested, with a message before and after it: each length moved into place.
    const twice = encode({ msgs: [{ a: 1 }, { a: 7, s }, { a: 2 }] }, all);
    assert.deepEqual(decode(twice, all), { msgs: [{ a: 1 }, { a: 7, s }, { a: 2 }] });
  }
  for (const count of [63, 64, 8191, 8192]) {
    // 128 and up: two bytes each.
    const packed = Array.from({ length: count }, () => 128);
    const want = Buffer.from([0x82, 0x01, ...varint(2 * count), ...packed.flatMap(() => [0x80, 0x01]), 0x88, 0x01, 0x05]);
    assert.equal(encode({ packed, unpacked: [5n] }, all).toString('hex'), want.toString('hex'), `${count} packed values`);
  }
});

test('sint64: small values zigzagged as the 64-bit rule does', () => {
  for (const v of [0n, -1n, 1n, -2n, 63n, -64n, -(2n ** 52n), 2n ** 52n - 1n, 2n ** 52n, -(2n ** 52n) - 1n, 2n ** 63n - 1n]) {
    const z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    const bytes: number[] = [];
    for (let x = z; ; x >>= 7n) { if (x < 0x80n) { bytes.push(Number(x)); break; } bytes.push(Number(x & 0x7fn) | 0x80); }
    assert.equal(encode({ s64: v }, all).toString('hex'), Buffer.from([0x40, ...bytes]).toString('hex'), String(v));
  }
});

test('an error deep inside names the path to the value', () => {
  assert.throws(() => encode({ msgs: [{ a: 1 }, { a: 1, s: 5 } as never] }, all), /all\.msgs\[1\]\.s/);
  assert.throws(() => encode({ msgs: [{ a: 1 }, { s: 'x' }] }, all), /all\.msgs\[1\]\.a/);
});

test('vma_entry: its own writer writes what the generic path writes, and leaves it what it does not take', async () => {
  const { vma_entry } = await import('../../src/images/schemas/vma.js');
  // The same fields in another MessageDef: encoded by the generic path.
  const generic = { ...vma_entry, name: 'vma_entry_generic' };
  const values: MessageValue[] = [
    { start: 0x7f0000000000n, end: 0x7f0000001000n, pgoff: 0n, shmid: 0n, prot: 3, flags: 0x22, status: 0x201, fd: -1n },
    { start: 0x400000n, end: 0x401000n, pgoff: 0x2000n, shmid: 5n, prot: 5, flags: 2, status: 0x41, fd: -1n, madv: 0x10004n, fdflags: 2 },
    { start: 0x1000, end: 0x2000, pgoff: 0, shmid: 7, prot: -1, flags: 0xffffffff, status: 0, fd: 3n },
    // Out of the writer's range: the generic path writes them.
    { start: 0xffffffffff600000n, end: 0xffffffffff601000n, pgoff: 0n, shmid: 0n, prot: 4, flags: 0x22, status: 0x5, fd: -0x10000000000000n },
    { start: 1n, end: 2n, pgoff: 0n, shmid: 0n, prot: 0, flags: 0, status: 0, fd: 0, madv: 1n << 60n },
  ];
  for (const v of values) {
    assert.deepEqual(encode(v, vma_entry), encode(v, generic), JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x)));
    assert.deepEqual(decode(encode(v, vma_entry), vma_entry), decode(encode(v, generic), generic));
  }
  // Faults are the generic path's errors.
  assert.throws(() => encode({ start: 1n, end: 2n, pgoff: 0n, shmid: 0n, prot: 0, flags: 0, status: 0 }, vma_entry), /required field of vma_entry is missing/);
  assert.throws(() => encode({ start: 1n, end: 2n, pgoff: 0n, shmid: 0n, prot: 1.5, flags: 0, status: 0, fd: 0n }, vma_entry), /expected an integer/);
});
