// crit's JSON text: Python's json.dump output, base64.encodebytes, quopri,
// and the lossless JSON reader. Expected strings are what Python 3 prints.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageFromCrit, messageToCrit, parsePyInt } from '../../src/images/crit-json.js';
import { parseJson, pyJsonDumps } from '../../src/images/json-text.js';
import { decodeBytesPy, encodeBytesPy, quopriDecode, quopriEncode } from '../../src/images/pybytes.js';
import { message, opt, rep, req } from '../../src/images/schema.js';
import type { MessageValue } from '../../src/images/value.js';

test('json.dumps: plain and indent=4, separators, empty containers, escapes', () => {
  const v = { a: [1, 2], b: {}, c: [], d: 'é"\\\n\u0001\u007f😀', e: true, f: null, g: 18446744073709551615n };
  assert.equal(pyJsonDumps(v), '{"a": [1, 2], "b": {}, "c": [], "d": "\\u00e9\\"\\\\\\n\\u0001\\u007f\\ud83d\\ude00", "e": true, "f": null, "g": 18446744073709551615}');
  assert.equal(pyJsonDumps({ a: [1, { b: 2 }], c: [] }, 4), '{\n    "a": [\n        1,\n        {\n            "b": 2\n        }\n    ],\n    "c": []\n}');
});

test('parseJson keeps big integers exact and round-trips escapes', () => {
  const v = parseJson('{"x": 18446744073709551615, "y": -9007199254740993, "z": 5, "s": "\\u00e9\\n", "f": 1.5}');
  assert.deepEqual(v, { x: 18446744073709551615n, y: -9007199254740993n, z: 5, s: 'é\n', f: 1.5 });
  assert.throws(() => parseJson('{"a": }', 'x.json'), /x\.json: line 1 column 7/);
  assert.throws(() => parseJson('[1] 2'), /end of the document/);
});

test('base64 like base64.encodebytes: 76-character lines with newlines', () => {
  const data = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
  const text = encodeBytesPy(data);
  assert.equal(text.split('\n').map((l) => l.length).join(','), '76,60,0');
  assert.equal(encodeBytesPy(Buffer.alloc(0)), '');
  assert.deepEqual(decodeBytesPy(text), data);
});

test('quopri like quopri.encodestring', () => {
  assert.equal(quopriEncode(Buffer.from('a=b \t\n.\x00\xff', 'latin1')), 'a=3Db =09\n=2E=00=FF');
  assert.equal(quopriEncode(Buffer.from('\x00/tmp/sock')), '=00/tmp/sock');
  const long = Buffer.from('x'.repeat(100));
  assert.equal(quopriEncode(long), 'x'.repeat(75) + '=\n' + 'x'.repeat(25));
  for (const b of [long, Buffer.from('a=b \t\n.\x00\xff', 'latin1'), Buffer.from([0x20])]) assert.deepEqual(quopriDecode(quopriEncode(b)), b);
});

test('python int(s, 0)', () => {
  assert.equal(parsePyInt('0x1f'), 31n);
  assert.equal(parsePyInt(' -12 '), -12n);
  assert.equal(parsePyInt('0o17'), 15n);
  assert.equal(parsePyInt('1_000'), 1000n);
  assert.equal(parsePyInt('010'), undefined);
  assert.equal(parsePyInt('abc'), undefined);
});

const sub = message('sub', [req(1, 'v', 'uint64'), opt(2, 'w', 'uint32')]);
const m = message('m', [
  req(1, 'addr', 'uint64', { hex: true }),
  opt(2, 'nested', () => sub, { hex: true }),
  opt(3, 'flags', 'uint32', { flags: 'mmap.prot' }),
  opt(4, 'dev', 'uint32', { dev: true }),
  opt(5, 'rdev', 'uint32', { dev: true, odev: true }),
  opt(6, 'family', 'uint32', { dict: 'sk' }),
  rep(7, 'src', 'uint32', { ipadd: true }),
  rep(8, 'dst', 'uint32', { ipadd: true }),
  opt(9, 'name', 'bytes', { conv: 'unix_name' }),
  opt(10, 'other', 'uint32', { flags: 'no.such.table' }),
]);

test('pretty form: hex inherited, flags, dev, odev, dict, ip addresses, unix names', () => {
  const v: MessageValue = {
    addr: 0x7fff0000n,
    nested: { v: 255n, w: 16 },
    flags: 0x1 | 0x4 | 0x10,
    dev: (254 << 20) | 3,
    rdev: (136 << 8) | 5,
    family: 10,
    src: [0x0100007f],
    dst: [0, 0, 0, 0x01000000],
    name: Buffer.from('\x00sock'),
    other: 0x20,
  };
  const pretty = messageToCrit(v, m, true);
  assert.deepEqual(pretty, {
    addr: '0x7fff0000',
    nested: { v: '0xff', w: '0x10' },
    flags: 'PROT_READ | PROT_EXEC | 0x10',
    dev: '254:3',
    rdev: '136:5',
    family: 'INET6',
    src: ['127.0.0.1'],
    dst: ['::1'],
    name: '=00sock',
    other: '0x20',
  });
  assert.deepEqual(messageFromCrit(pretty, m), v);
  const plain = messageToCrit(v, m, false);
  assert.equal(plain.addr, 0x7fff0000n);
  assert.equal(plain.flags, 0x15);
  assert.deepEqual(plain.src, [0x0100007f]);
  assert.deepEqual(messageFromCrit(plain, m), v);
});

test('empty flag sets print as an empty string and read back as 0', () => {
  assert.equal(messageToCrit({ addr: 0n, flags: 0 }, m, true).flags, '');
  assert.equal(messageFromCrit({ addr: '0x0', flags: '' }, m).flags, 0);
});
