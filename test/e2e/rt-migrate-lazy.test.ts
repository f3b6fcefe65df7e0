// `cryo migrate --lazy-pages` on this machine (loopback, no namespaces), as the migration bench runs
// it: test/programs/rt-incr.c keeps writing its memory (a page every 20 ms) while the pre-dumps go
// to the destination's page servers; the final dump ends it; the restore hands every page it may
// (the pre-dumps' too) to cryo lazy-pages, and the task runs before they arrive. The program then
// finds every page at its last version, byte for byte. Edited runs: a byte of the first pre-dump's
// pages changed at the destination before the restore (the post-dump action) is refused by the
// restore's chain check before anything starts, and migrate says where the images are; the last
// pre-dump's pages of the area edited before the final dump (network-lock: its page server then
// records the edited parent) reach the task lazily, and the program finds the edited byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, PE_LAZY, PE_PARENT } from '../../src/images/index.js';
import { reapWhenEnded, startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, cleanedUpAfterFile, waitGone } from '../helpers/restore-env.js';
import { cryoAsync, cryoCli } from '../helpers/cryo-cli.js';

const { targets } = cleanedUpAfterFile();
let port = 7290;

/** Shell commands for migrate's action script (CRIU's actions: network-lock, post-dump, ...), given the task and its destination directory. */
type Actions = Partial<Record<'network-lock' | 'post-dump', (t: Target, dest: string) => string>>;

/** Migrates a running rt-incr with `cryo migrate --lazy-pages`. */
async function migrateLazily(actions: Actions = {}): Promise<{ t: Target; code: number; out: string; err: string }> {
  becomeSubreaper();
  const t = startTarget('rt-incr');
  targets.push(t);
  const script = path.join(t.dir, 'action.sh');
  const dest = path.join(t.dir, 'dst');
  writeFileSync(script, ['#!/bin/sh -e', 'case "$CRTOOLS_SCRIPT_ACTION" in',
    ...Object.entries(actions).map(([a, cmd]) => `${a}) ${cmd(t, dest)} ;;`), 'esac'].join('\n') + '\n', { mode: 0o700 });
  const args = ['migrate', '-t', String(t.pid), '-D', path.join(t.dir, 'src'), '--dest-dir', path.join(t.dir, 'dst'),
    '--address', '127.0.0.1', '--port', String(port++), '--lazy-pages', '--action-script', script];
  // The source task is this process's child: collected once the final dump ends it, so migrate finds its PID free.
  const stop = reapWhenEnded(t.pid);
  const r = await cryoAsync(args);
  stop();
  return { t, ...r };
}

test('cryo migrate --lazy-pages: the task runs at the destination before its pages arrive, and finds every page at its last version', async () => {
  const { t, code, out, err } = await migrateLazily();
  assert.equal(code, 0, err);
  console.log(out.trim());
  assert.match(out, /^cryo migrate: pre-dump 1: \d+ pages in \d+ ms\ncryo migrate: pre-dump 2: /);
  assert.match(out, new RegExp(`\ncryo migrate: restored as PID ${t.pid} at the destination; frozen \\d+ ms`));
  assert.match(out, /\ncryo migrate: lazy-pages: every page arrived\n$/);
  // The final dump left most pages to the pre-dumps, lazily: lazy-pages served them from the chain.
  const pagemap = decodeImageFile(path.join(t.dir, 'dst', 'final', `pagemap-${t.pid}.img`)).entries.slice(1).map((e) => Number(e.value.flags));
  assert.ok(pagemap.includes(PE_PARENT | PE_LAZY), 'pages left to a pre-dump are lazy');
  assert.equal(t.finish(), 'PASS');
});

test('cryo migrate --lazy-pages with a run of the first pre-dump edited at the destination before the restore: refused, nothing runs', async () => {
  // One byte of the first pre-dump's pages: the restore's chain check reads them again and finds it.
  const { t, code, err } = await migrateLazily({ 'post-dump': (_, dest) => `f=$(ls ${dest}/pre1/pages-*.img | head -n 1); printf Z | dd of="$f" bs=1 seek=5000 conv=notrunc status=none` });
  assert.equal(code, 1, 'migrate fails');
  assert.match(err, /^cryo migrate: .*\/pre1\/pages-\d+\.img was altered after .*\/pre2 was dumped against it: the chain cannot be restored; task \d+ is gone from the source; its images are in .*\/dst\/final: restore them there with cryo restore -D$/);
  assert.ok(waitGone(t.pid), 'no task runs with its PID');
  assert.ok(existsSync(path.join(t.dir, 'dst', 'pre1')) && readdirSync(path.join(t.dir, 'dst', 'final')).some((n) => n.startsWith('core-')), 'the images stay where migrate says');
});

test('cryo migrate --lazy-pages with the last pre-dump\'s pages of the area edited before the final dump: what lazy-pages serves is what the program finds', async () => {
  // Byte 100 of every page of the area in the last pre-dump the destination received, edited as the
  // final dump begins (network-lock): the final dump's page server records the edited parent, so the
  // chain check lets it by; the pages the final dump leaves there reach the task lazily, edited.
  const pagesModule = path.resolve(path.dirname(cryoCli), '..', 'images', 'pages.js');
  const edit = (t: Target, dest: string) => {
    const area = BigInt(`0x${t.ready.area!}`);
    const js = [
      `import { PageReader } from '${pagesModule}';`,
      "import { closeSync, openSync, readdirSync, writeSync } from 'node:fs';",
      `const last = readdirSync('${dest}').filter((n) => /^pre\\d+$/.test(n)).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3))).pop();`,
      `const r = new PageReader('${dest}/' + last + '/pagemap-${t.pid}.img');`,
      'const fd = openSync(r.pagesPath, "r+");',
      `for (const run of r) if (run.offset >= 0 && run.vaddr >= ${area}n && run.vaddr < ${area + 1024n * 4096n}n) for (let i = 0; i < run.nrPages; i++) writeSync(fd, Buffer.from([0x5a]), 0, 1, run.offset + i * 4096 + 100);`,
      'closeSync(fd); r.close();',
    ].join('\n');
    const file = path.join(t.dir, 'edit.mjs');
    writeFileSync(file, js);
    return `${process.execPath} ${file}`;
  };
  const { t, code, err } = await migrateLazily({ 'network-lock': edit });
  assert.equal(code, 0, err);
  assert.match(t.finish(), /^FAIL: page \d+ byte 100 is 0x5a, want 0x[0-9a-f]{2}/);
});
