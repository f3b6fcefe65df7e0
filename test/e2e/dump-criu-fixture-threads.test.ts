// cryo's dump of a multi-threaded process holds what CRIU 4.2's does: the `threads` fixture's own
// program (fixtures/criu-4.2/bin/threads: a main thread and two workers) is started and dumped by
// cryo, and its images are compared with the fixture's (CRIU's own crit decodes): the same image
// files (one core per thread) and in each image the same fields, except the xsave components,
// which follow the CPU.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dump } from '../../src/dump/index.js';
import { decodeImageFile, imageToCrit, type JsonValue } from '../../src/images/index.js';
import { kill, waitpid } from '../../src/sys/index.js';
import { fixturesDir } from '../helpers/paths.js';
import { becomeSubreaper } from '../helpers/restore-env.js';
import { onlyOn } from '../helpers/arch-only.js';

const skip = onlyOn(['x64'], 'fixtures dumped on x86_64');

const FIXTURE_TIDS = [18322, 18323, 18324];
const fixtureJson = path.join(fixturesDir, 'threads.json');
const NOT_COMPARED = /^\.entries\[\]\.(thread_info\.fpregs\.xsave\.[a-z0-9_]+|dump\.page_pipe(_bufs|s)$)/;

let work: string;
let dir: string;
let pid = 0;
let tids: number[] = [];

before(async () => {
  becomeSubreaper();
  work = mkdtempSync(path.join(os.tmpdir(), 'cryo-fx-threads-'));
  dir = path.join(work, 'img');
  const r = spawnSync(path.join(fixturesDir, 'bin', 'threads'), [`--pidfile=${work}/pid`, `--outfile=${work}/out`], { stdio: 'ignore' });
  assert.equal(r.status, 0, 'the fixture program started');
  pid = Number(readFileSync(`${work}/pid`, 'utf8'));
  tids = readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b);
  await dump({ pid, dir });
  try { waitpid(pid); } catch { /* the dump killed it and, as its tracer and adoptive parent, reaped it */ }
});
after(() => {
  if (pid > 0) {
    try { kill(pid, 9); waitpid(pid); } catch { /* gone */ }
  }
  rmSync(work, { recursive: true, force: true });
});

function fieldPaths(v: JsonValue, at = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) {
    for (const x of v) fieldPaths(x, `${at}[]`, out);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(`${at}.${k}`);
      fieldPaths(x, `${at}.${k}`, out);
    }
  }
  return out;
}

/** cryo's file name with the fixture's TIDs (threads in the same order). */
const asFixtureName = (f: string) => f.replace(/-(\d+)\.img$/, (m, id: string) => {
  const i = tids.indexOf(Number(id));
  return i >= 0 ? `-${FIXTURE_TIDS[i]}.img` : m;
});

test('one core image per thread and the pstree thread list, as CRIU 4.2 writes them', { skip }, () => {
  assert.equal(tids.length, 3);
  const mine = readdirSync(dir).filter((f) => !f.startsWith('cryo-')).map(asFixtureName).sort();
  // Not timens-0.img, as dump-criu-fixture.test.ts says.
  assert.deepEqual(mine, readdirSync(path.join(fixturesDir, 'threads')).filter((f) => f !== 'timens-0.img').sort());
  const pstree = decodeImageFile(path.join(dir, 'pstree.img')).entries[0]!.value;
  assert.deepEqual((pstree.threads as number[]).map(Number), tids);
});

test('each image has the fields CRIU 4.2 writes for the threads fixture, no more and no fewer', { skip }, () => {
  for (const file of readdirSync(dir)) {
    if (file.startsWith('pages-') || file.startsWith('cryo-')) continue;
    const fixture = JSON.parse(readFileSync(path.join(fixtureJson, `${asFixtureName(file)}.json`), 'utf8')) as JsonValue;
    const want = [...fieldPaths(fixture)].filter((p) => !NOT_COMPARED.test(p)).sort();
    const got = [...fieldPaths(imageToCrit(decodeImageFile(path.join(dir, file)), true))].filter((p) => !NOT_COMPARED.test(p)).sort();
    assert.deepEqual(got, want, file);
  }
});
