// Dump to and restore from a stream (README "Streams"): test/programs/rt-mem.c is dumped with
// `cryo dump --stream` into a real pipe that `cryo restore --stream` reads, and checks its memory
// after. A stream cut short or with a byte altered is refused before anything starts, with nothing
// left behind; the same stream intact restores (so the refusals are the edits'). A dump whose stream
// reader goes away fails and leaves the task running unharmed. Each side spools in $TMPDIR, here a
// directory of the test's, which must be empty after.
// Killed by SIGKILL, each side leaves its spool to cryo's guard, which removes it with its images.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { reapWhenEnded, startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, childStates, cleanedUpAfterFile, nothingLeftBehind, waitGone } from '../helpers/restore-env.js';
import { cryoCli } from '../helpers/cryo-cli.js';
import { withoutNodeNoise } from '../helpers/node-noise.js';
import { sleepSync } from '../../src/sys/index.js';

const { targets } = cleanedUpAfterFile();

/**
 * `cryo` in a shell pipeline `A | B` (or a single command), not blocking this process, failing as
 * bash's pipefail would: with the status of the last side that failed. Written for any sh (Debian's
 * dash and the guests' busybox have no pipefail, the guests no bash).
 */
function pipeline(script: string, spool: string): Promise<{ code: number; stderr: string }> {
  const sides = script.split(' | ');
  const rc = path.join(path.dirname(spool), 'first-side-status');
  const sh = sides.length === 1 ? script
    : `{ ${sides[0]}; echo $? > ${rc}; } | ${sides[1]}; b=$?; a=$(cat ${rc}); rm -f ${rc}; [ "$b" != 0 ] && exit "$b"; exit "$a"`;
  return new Promise((resolve) => {
    const c = spawn('sh', ['-c', sh], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TMPDIR: spool, CRYO: `${process.execPath} ${cryoCli}` },
    });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.on('close', (code) => resolve({ code: code ?? -1, stderr: withoutNodeNoise(stderr).trim() }));
  });
}

function start(): { t: Target; spool: string } {
  becomeSubreaper();
  const t = startTarget('rt-mem');
  targets.push(t);
  const spool = path.join(t.dir, 'spool');
  mkdirSync(spool, { mode: 0o700 });
  return { t, spool };
}

/** `cryo dump --stream` of the target (which the dump ends) into a file of its directory; returns the file. */
async function dumpToFile(t: Target, spool: string): Promise<string> {
  const file = path.join(t.dir, 'stream');
  const stop = reapWhenEnded(t.pid);
  const d = await pipeline(`$CRYO dump -t ${t.pid} --stream > ${file}`, spool);
  stop();
  assert.equal(d.code, 0, d.stderr);
  return file;
}

test('a dump streamed through a pipe into a restore: the program finds its memory as it was', async () => {
  const { t, spool } = start();
  const stop = reapWhenEnded(t.pid);
  const r = await pipeline(`$CRYO dump -t ${t.pid} --stream | $CRYO restore --stream -d`, spool);
  stop();
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(spool), [], 'both sides removed their spool');
  assert.equal(t.finish(), 'PASS');
});

test('a stream cut short or altered is refused before anything starts; intact, it restores', async () => {
  const { t, spool } = start();
  const file = await dumpToFile(t, spool);
  const bytes = readFileSync(file);
  // The record of pages-1.img: its name's length (u32, big-endian), the name, its size (u64), its bytes.
  const pagesAt = bytes.indexOf(Buffer.from('\0\0\0\x0bpages-1.img', 'latin1')) + 4;
  assert.ok(pagesAt > 4, 'the stream carries pages-1.img');

  const refused = async (script: string): Promise<string> => {
    const r = await pipeline(script, spool);
    assert.equal(r.code, 1, `refused: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
    assert.equal(nothingLeftBehind(t.pid), undefined);
    assert.deepEqual(readdirSync(spool), [], 'the spool is removed');
    return r.stderr;
  };
  // Cut inside the pages: the end record never comes.
  const cut = await refused(`head -c ${pagesAt + 5000} ${file} | $CRYO restore --stream -d`);
  assert.match(cut, /^cryo: restore: the image stream ends after \d+ bytes, inside pages-1\.img .*cut short/);
  // Cut after the last image, before the end record.
  assert.match(await refused(`head -c ${bytes.length - 12} ${file} | $CRYO restore --stream -d`), /inside its end record|before its end record/);
  // One byte of a page flipped: the manifest's hash of that page differs.
  const altered = Buffer.from(bytes);
  altered[pagesAt + 11 + 8 + 4096 + 7]! ^= 0x40;
  writeFileSync(path.join(t.dir, 'altered'), altered);
  assert.match(await refused(`cat ${path.join(t.dir, 'altered')} | $CRYO restore --stream -d`), /^cryo: restore: image altered since the dump: pages-1\.img: bytes \d+-\d+ .*differ/);
  // Something after the end record.
  writeFileSync(path.join(t.dir, 'longer'), Buffer.concat([bytes, Buffer.from('x')]));
  assert.match(await refused(`cat ${path.join(t.dir, 'longer')} | $CRYO restore --stream -d`), /goes on after its end record/);

  const r = await pipeline(`cat ${file} | $CRYO restore --stream -d`, spool);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(t.finish(), 'PASS');
});

test('a dump whose stream reader goes away fails in one line; the task runs on unharmed', async () => {
  const { t, spool } = start();
  const r = await pipeline(`$CRYO dump -t ${t.pid} --stream | head -c 100 > /dev/null`, spool);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^cryo: dump of task \d+ failed: the reader of the image stream \(standard output\) went away before the dump was sent; the task runs on$/);
  assert.deepEqual(readdirSync(spool), [], 'the spool is removed');
  const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${t.pid}/status`, 'utf8'))?.[1];
  assert.ok(state === 'S' || state === 'R', `the task runs on (state ${state})`);
  assert.equal(t.finish(), 'PASS');
});

test('a streamed dump that fails at delivery removes the link_remap names it made', async () => {
  becomeSubreaper();
  const t = startTarget('rt-files-link-remap');
  targets.push(t);
  const spool = path.join(t.dir, 'spool');
  mkdirSync(spool, { mode: 0o700 });
  const before = readdirSync(path.join(t.dir, 'd'));
  const r = await pipeline(`$CRYO dump -t ${t.pid} --stream | head -c 100 > /dev/null`, spool);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(readdirSync(path.join(t.dir, 'd')), before, 'no link_remap.N left in the task\'s directory');
  assert.equal(t.finish(), 'PASS');
});

/**
 * Waits until the orphans a killed cryo left to this subreaper (its guard, which works once cryo is
 * dead, after the pipeline ended) are gone, then says what is in `spool`.
 */
function spoolAfterGuard(spool: string, keep: number): string[] {
  for (let i = 0; i < 500; i++) {
    const others = [...childStates()].filter(([p]) => p !== keep);
    if (others.length === 0) break;
    for (const [p, state] of others) if (state === 'Z') waitGone(p);
    sleepSync(20);
  }
  return readdirSync(spool);
}

/** A `cryo` killed by CRYO_FAULT in `script`: its spool removed by the guard; without it, the spool stays (holding `image`, if named). */
async function spoolGoesWithGuard(script: string, spool: string, keep: number, image?: string): Promise<void> {
  const r = await pipeline(script, spool);
  assert.equal(r.code, 137, `killed: ${r.stderr}`);
  assert.deepEqual(spoolAfterGuard(spool, keep), [], 'the spool is removed');
  const off = await pipeline(`CRYO_GUARD=off ${script}`, spool);
  assert.equal(off.code, 137, off.stderr);
  const names = spoolAfterGuard(spool, keep);
  assert.equal(names.length, 1, `without the guard the spool stays: ${names.join(', ')}`);
  assert.match(names[0]!, /^cryo-stream-/);
  if (image) assert.ok(readdirSync(path.join(spool, names[0]!)).includes(image), `${image} in the spool left`);
  rmSync(path.join(spool, names[0]!), { recursive: true });
}

test('SIGKILL of cryo dump --stream: the guard removes its spool; without the guard it stays', async () => {
  const { t, spool } = start();
  // (The task runs on with cryo's areas mapped, README "SIGKILL of cryo dump": its map check would see them.)
  await spoolGoesWithGuard(`CRYO_FAULT=dump:write:kill $CRYO dump -t ${t.pid} --leave-running --stream > /dev/null`, spool, t.pid);
  assert.match(readFileSync(`/proc/${t.pid}/status`, 'utf8'), /^State:\s+[SR]/m, 'the task runs on');
});

test('SIGKILL of cryo restore --stream: the guard removes its spool and the images in it; without the guard it stays', async () => {
  const { t, spool } = start();
  const file = await dumpToFile(t, spool);
  await spoolGoesWithGuard(`CRYO_FAULT=restore:preflight:kill $CRYO restore --stream -d < ${file}`, spool, t.pid, 'inventory.img');
  assert.equal(nothingLeftBehind(t.pid), undefined);
  const r = await pipeline(`$CRYO restore --stream -d < ${file}`, spool);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(t.finish(), 'PASS');
});
