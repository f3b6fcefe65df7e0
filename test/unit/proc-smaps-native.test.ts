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

test('what it refuses: a bad header line, a field line first, a missing file', () => {
  assert.throws(() => native(block(0x10000, '').replace(' rw-p ', ' rwzp ')), /unexpected line in \/proc\/PID\/maps: "10000-11000 rwzp/);
  assert.throws(() => native(`Rss: 4 kB\n${block(0x10000, '')}`), /unexpected line before the first VMA in \/proc\/PID\/smaps: "Rss: 4 kB"/);
  assert.throws(() => readSmapsAt(path.join(dir, 'none'), SIZES), (e) => e instanceof ProcReadError && /ENOENT/.test(e.message));
});
