// The cryo command line on image files: crit's commands and output, and one
// clear line on stderr for anything that is not a good image.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCryo } from '../helpers/cryo-cli.js';
import { fixturesDir } from '../helpers/paths.js';
import { onlyOn } from '../helpers/arch-only.js';
import { toolSkip } from '../helpers/required-tool.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cryo-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const tree = path.join(fixturesDir, 'tree');
const treeJson = path.join(fixturesDir, 'tree.json');

test('show prints crit --pretty JSON with a final newline', { skip }, () => {
  const r = runCryo(['show', path.join(tree, 'pipes-data.img')]);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(r.stdout.toString(), readFileSync(path.join(treeJson, 'pipes-data.img.json'), 'utf8'));
});

test('decode reads stdin and writes stdout, or -i/-o (no newline in the file, as crit)', { skip }, () => {
  const img = readFileSync(path.join(tree, 'core-18486.img'));
  const plain = readFileSync(path.join(fixturesDir, 'tree.plain.json', 'core-18486.img.json'), 'utf8');
  const r = runCryo(['decode'], img);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(r.stdout.toString(), plain);
  const out = path.join(tmp, 'core.json');
  const r2 = runCryo(['decode', '-i', path.join(tree, 'core-18486.img'), '--pretty', '-o', out]);
  assert.equal(r2.status, 0, r2.stderr.toString());
  assert.equal(readFileSync(out, 'utf8') + '\n', readFileSync(path.join(treeJson, 'core-18486.img.json'), 'utf8'));
});

test('encode from stdin to a 0600 file gives back the image', { skip }, () => {
  const out = path.join(tmp, 'sub', 'mm.img');
  const r = runCryo(['encode', '-o', out], readFileSync(path.join(treeJson, 'mm-18485.img.json')));
  assert.equal(r.status, 0, r.stderr.toString());
  assert.ok(readFileSync(out).equals(readFileSync(path.join(tree, 'mm-18485.img'))));
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.equal(statSync(path.dirname(out)).mode & 0o777, 0o700);
});

test('info prints magic and count', { skip }, () => {
  const r = runCryo(['info', path.join(tree, 'pagemap-18485.img')]);
  assert.equal(r.status, 0, r.stderr.toString());
  const doc = JSON.parse(r.stdout.toString());
  const entries = JSON.parse(readFileSync(path.join(treeJson, 'pagemap-18485.img.json'), 'utf8')).entries;
  assert.deepEqual(doc, { magic: 'PAGEMAP', count: entries.length - 1 });
});

const CRIT = '/usr/bin/crit';
const critSkip = toolSkip(CRIT, existsSync(CRIT), 'Debian package criu');
for (const what of ['ps', 'fds', 'mems']) {
  test(`x DIR ${what} prints what crit prints`, { skip: skip || critSkip }, () => {
    const r = runCryo(['x', tree, what]);
    assert.equal(r.status, 0, r.stderr.toString());
    const c = spawnSync(CRIT, ['x', tree, what], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    assert.equal(r.stdout.toString(), c.stdout);
  });
}

function oneLineError(args: string[], input: Buffer | undefined, re: RegExp): void {
  const r = runCryo(args, input);
  assert.equal(r.status, 1);
  const err = r.stderr.toString();
  assert.match(err, re);
  assert.equal(err.split('\n').length, 2, `not one line: ${err}`);
  assert.ok(!/\bat .*\.js:\d+/.test(err), `stack trace: ${err}`);
}

test('a raw or foreign file: unknown magic in hex, not a CRIU image', { skip }, () => {
  oneLineError(['decode', '-i', path.join(tree, 'pages-1.img')], undefined, /^cryo: .*pages-1\.img: at byte 0: expected a CRIU image magic, found 0x[0-9a-f]+: not a CRIU image/);
});

test('a truncated image names file, offset and what was expected', { skip }, () => {
  const f = path.join(tmp, 'short.img');
  writeFileSync(f, readFileSync(path.join(tree, 'core-18485.img')).subarray(0, 100));
  oneLineError(['show', f], undefined, /^cryo: .*short\.img: at byte \d+: expected /);
});

test('usage errors and missing files are one line too', { skip }, () => {
  oneLineError(['decode', '--bogus'], undefined, /^cryo: decode: .*bogus/);
  oneLineError(['show', path.join(tmp, 'nope.img')], undefined, /^cryo: .*nope\.img: ENOENT from open/);
  oneLineError(['frobnicate'], undefined, /^cryo: unknown command/);
  oneLineError(['encode', '-o', path.join(tmp, 'x.img')], Buffer.from('{"magic": "NOPE", "entries": []}'), /^cryo: .*magic/);
});
