// readSmapsAt (native/cryo_smaps.c parsing /proc/PID/smaps) against parseSmaps, the JavaScript
// parser of the same text: the same Vmas, names of every kind, a text longer than the parser's
// 256 KiB chunks, and the refusals.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, after } from 'node:test';
import { parseSmaps, readSmapsAt, type SmapsSize, type Vma } from '../../src/proc/index.js';
import { ProcReadError } from '../../src/proc/read.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-smaps-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const SIZES: SmapsSize[] = ['Rss', 'Anonymous', 'AnonHugePages', 'Swap'];
/** A real smaps text: this process's own, copied once (it changes as the process runs). */
const real = readFileSync('/proc/self/smaps', 'utf8');

function native(text: string, sizes = SIZES): Vma[] {
  const file = path.join(dir, 'smaps');
  writeFileSync(file, text);
  return readSmapsAt(file, sizes);
}

/** parseSmaps' Vmas with only `sizes` kept, as readSmapsAt keeps them. */
function byJs(text: string, sizes = SIZES): Vma[] {
  return parseSmaps(text).map((v) => {
    const s = v.smaps!;
    const kept = Object.fromEntries(Object.entries(s.sizes).filter(([k]) => (sizes as string[]).includes(k)));
    return { ...v, smaps: { ...s, sizes: kept, rss: kept.Rss ?? 0, anonymous: kept.Anonymous ?? 0, anonHugePages: kept.AnonHugePages ?? 0, swap: kept.Swap ?? 0 } };
  });
}

test('a real smaps text: the same Vmas as the JavaScript parser, with the sizes asked for', () => {
  const got = native(real);
  assert.ok(got.length > 10);
  assert.deepEqual(got, byJs(real));
  assert.deepEqual(native(real, []), byJs(real, []));
  assert.ok(got.some((v) => v.smaps!.rss > 0) && got.some((v) => v.smaps!.vmFlags.includes('rd')), 'sizes and flags read');
});

const block = (start: number, name: string, flags = 'rd wr mr mw me ac sd') =>
  `${start.toString(16)}-${(start + 0x1000).toString(16)} rw-p 00001000 fd:01 1234567 ${name}\nSize:                  4 kB\nRss:                   4 kB\nAnonymous:             4 kB\nTHPeligible:    0\nProtectionKey:         3\nVmFlags: ${flags} \n`;

test('names of every kind: none, padded, deleted, memfd, a newline escaped, spaces', () => {
  const names = ['', '            [heap]', '/tmp/x (deleted)', '/memfd:buf (deleted)', '/tmp/a\\012b', '/tmp/with two  spaces', '/dev/zero (deleted)', '/SYSV0000abcd (deleted)'];
  const text = names.map((n, i) => block(0x10000 + i * 0x2000, n)).join('');
  const got = native(text);
  assert.deepEqual(got, byJs(text));
  assert.deepEqual(got.map((v) => v.kind), ['anonymous', 'heap', 'file', 'memfd', 'file', 'file', 'file', 'sysv-shm']);
  assert.equal(got[4]!.name, '/tmp/a\nb');
  assert.equal(got[0]!.smaps!.protectionKey, 3);
});

test('a text longer than the 256 KiB the parser reads at a time: lines cut between reads come whole', () => {
  const text = Array.from({ length: 6000 }, (_, i) => block(0x100000 + i * 0x2000, i % 3 === 0 ? '' : `/lib/long-name-${'x'.repeat(i % 97)}.so`, i % 2 ? 'rd ex mr mw me' : 'rd wr mr mw me ac')).join('');
  assert.ok(text.length > 3 * (256 << 10));
  const got = native(text);
  assert.equal(got.length, 6000);
  assert.deepEqual(got, byJs(text));
});

test('numbers on both sides of 2^32 and 2^53; VMAs alike share their smaps part, VMAs that differ do not', () => {
  const line = (start: bigint, offset: bigint, inode: bigint, thp: string, pkey: string, flags: string) =>
    `${start.toString(16)}-${(start + 0x1000n).toString(16)} r--p ${offset.toString(16).padStart(8, '0')} fd:01 ${inode} ${inode === 0n ? '' : '/lib/x.so'}\nSize:                  4 kB\n${thp}${pkey}VmFlags: ${flags} \n`;
  const T = 'THPeligible:    1\n', F = 'THPeligible:    0\n', K = (k: number) => `ProtectionKey:         ${k}\n`;
  const text = [
    line(0x10000n, 0n, 0n, T, K(0), 'rd mr'),
    line(0xffffe000n, 0xfffff000n, 0xffffffffn, T, K(0), 'rd mr'),
    line(0x100000000n, 0x100000000n, 0x100000000n, F, K(0), 'rd mr'),
    line(0x1ffffffffff000n, 0x1ffffffffff000n, 0x1fffffffffffffn, T, K(1), 'rd mr'),
    line(0x20000000000000n, 0x20000000001000n, 0x20000000000001n, T, '', 'rd mr'),
    line(0xffffffffff600000n, 0xfffffffffffff000n, 0xffffffffffffffffn, '', K(0), 'rd ex'),
    line(0x7f0000000000n, 0n, 0n, T, K(0), 'rd mr'),
  ].join('');
  const got = native(text, []);
  assert.deepEqual(got, byJs(text, []));
  assert.deepEqual(got.map((v) => v.start), [0x10000n, 0xffffe000n, 0x100000000n, 0x1ffffffffff000n, 0x20000000000000n, 0xffffffffff600000n, 0x7f0000000000n]);
  assert.equal(got[0]!.smaps, got[6]!.smaps, 'the same flags, THPeligible and key: one object');
  assert.equal(new Set(got.map((v) => v.smaps)).size, 5);
  assert.ok(Object.isFrozen(got[0]!.smaps) && Object.isFrozen(got[0]!.smaps!.sizes), 'shared, so never changed');
});

test('what it refuses: a bad header line, a field line first, a missing file', () => {
  assert.throws(() => native(block(0x10000, '').replace(' rw-p ', ' rwzp ')), /unexpected line in \/proc\/PID\/maps: "10000-11000 rwzp/);
  assert.throws(() => native(`Rss: 4 kB\n${block(0x10000, '')}`), /unexpected line before the first VMA in \/proc\/PID\/smaps: "Rss: 4 kB"/);
  assert.throws(() => readSmapsAt(path.join(dir, 'none'), SIZES), (e) => e instanceof ProcReadError && /ENOENT/.test(e.message));
});
