// `cryo dump --page-server` and `cryo page-server` (CRIU's page-server protocol) on a process that
// keeps writing (test/programs/rt-incr.c): a pre-dump and a dump of a chain send their pages to a
// page server, the dump directories keep none, the server writes the pagemaps (PE_PARENT entries
// for the dump, a `parent` link and the parent's hashes as a local chain) and the pages; the
// server's directory with the dump's other images restores the last state page by page. Over
// loopback, and over a veth pair into another network namespace. A page altered on the server is
// found by the program; an unreachable server or one without the chain's parent fails the dump
// before the task is touched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { decodeImageFile, PageChain, PE_PARENT } from '../../src/images/index.js';
import { __WALL, WNOHANG, waitpid } from '../../src/sys/index.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { restoreChainAndFinish } from '../helpers/round-trip.js';
import { startTarget } from '../helpers/dump-target.js';
import { becomeSubreaper, cleanedUpAfterFile, waitGone } from '../helpers/restore-env.js';
import { startPageServer } from '../helpers/page-server.js';

const { targets, cleanups } = cleanedUpAfterFile();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until a tracking holder is gone, collecting it if it became our child (a subreaper's, through the CLI). Soft-dirty tracking has none. */
async function holderGone(pid: number | undefined): Promise<boolean> {
  if (pid === undefined) return true;
  const deadline = Date.now() + 20_000;
  while (existsSync(`/proc/${pid}`)) {
    try { waitpid(pid, WNOHANG | __WALL); } catch { /* not ours */ }
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}
const pagemapOf = (file: string) => decodeImageFile(file).entries.slice(1).map((e) => e.value);

/** A pre-dump and a dump of rt-incr sent to page servers at `address` (run through `netns`); restores and returns the program's verdicts. */
async function chainThroughServer(address: string, netns?: string): Promise<void> {
  becomeSubreaper();
  const t = startTarget('rt-incr');
  targets.push(t);
  const pid = t.pid;
  const readyLine = readFileSync(t.outFile, 'utf8').split('\n')[0]!;
  const local = (n: string) => path.join(t.dir, 'local', n);
  const srv = (n: string) => path.join(t.dir, 'srv', n);
  mkdirSync(path.join(t.dir, 'local'), { mode: 0o700 });

  const s1 = await startPageServer(['-D', srv('pre1'), '--address', address], netns);
  await dumpTask({ pid, dir: local('pre1'), preDump: true, pageServer: { address, port: s1.port } });
  assert.equal((await s1.done).status, 0, 'the server ends after a clean session');
  assert.ok(existsSync(`/proc/${pid}`), 'a pre-dump leaves the task running');
  const holder = (JSON.parse(readFileSync(path.join(local('pre1'), 'cryo-track.json'), 'utf8')) as { holder?: { pid: number } }).holder?.pid;
  await sleep(300);
  const s2 = await startPageServer(['-D', srv('final'), '--address', address, '--prev-images-dir', '../pre1'], netns);
  await dumpTask({ pid, dir: local('final'), prevImagesDir: '../pre1', trackMem: true, pageServer: { address, port: s2.port } });
  assert.equal((await s2.done).status, 0);
  try { waitpid(pid, __WALL); } catch { /* reaped by dump() */ }
  assert.ok(waitGone(pid), 'the final dump ends the task');
  assert.ok(await holderGone(holder), 'the tracking holder ended with the chain');

  for (const d of ['pre1', 'final']) {
    assert.deepEqual(readdirSync(local(d)).filter((n) => /^pages-/.test(n)), [], `${d}: no pages stay in the dump directory`);
    assert.ok(existsSync(path.join(srv(d), `pagemap-${pid}.img`)), `${d}: the server wrote the pagemap`);
  }
  const finalMap = pagemapOf(path.join(srv('final'), `pagemap-${pid}.img`));
  const inParent = finalMap.filter((e) => (Number(e.flags) & PE_PARENT) !== 0).reduce((n, e) => n + Number(e.nr_pages), 0);
  const sent = finalMap.filter((e) => (Number(e.flags) & 4) !== 0).reduce((n, e) => n + Number(e.nr_pages), 0);
  console.log(`page server ${address}${netns ? ` (netns ${netns})` : ''}: the dump sent ${sent} pages, ${inParent} in the parent`);
  assert.ok(inParent > sent, 'most pages of the dump are in the parent the server holds');
  assert.ok(existsSync(path.join(srv('final'), 'cryo-parent.json')), 'the server recorded the parent\'s hashes');

  // The server's directory completed with the dump's other images (as CRIU's page-server flow copies them).
  const restoreFrom = async (edit?: (root: string) => void): Promise<string> => {
    const root = mkdtempSync(path.join(t.dir, 'restore-'));
    cpSync(path.join(t.dir, 'srv'), root, { recursive: true, verbatimSymlinks: true });
    for (const n of readdirSync(local('final'))) {
      if (n === 'parent' || n.startsWith('cryo-sent-') || n === 'cryo-track.json') continue;
      cpSync(path.join(local('final'), n), path.join(root, 'final', n));
    }
    edit?.(root);
    return restoreChainAndFinish(t, pid, readyLine, root);
  };
  assert.equal(await restoreFrom(), 'PASS');
  // A page the server received for the final dump, altered there: the program finds it.
  const area = BigInt(`0x${/area=([0-9a-f]+)/.exec(readyLine)![1]!}`);
  const altered = await restoreFrom((root) => {
    const c = new PageChain(path.join(root, 'final'), `pagemap-${pid}.img`, 4096);
    const seg = [...c.segments()].find((s) => s.file.startsWith(path.join(root, 'final')) && s.vaddr >= area && s.vaddr < area + 1024n * 4096n)!;
    const fd = openSync(seg.file, 'r+');
    writeSync(fd, Buffer.from([0x5a]), 0, 1, seg.offset + 100);
    closeSync(fd);
  });
  assert.match(altered, /^FAIL: page \d+ byte 100 is /);
}

test('pre-dump and dump through a page server over loopback; the server\'s images restore the last state', async () => {
  await chainThroughServer('127.0.0.1');
});

test('an unreachable page server, or one without the chain\'s parent, fails the dump before the task is touched', async () => {
  becomeSubreaper();
  const t = startTarget('rt-incr');
  targets.push(t);
  // A port nobody listens on: bound, then closed.
  const port = await new Promise<number>((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
  await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'd1'), pageServer: { address: '127.0.0.1', port } }), /cannot connect to the page server at 127\.0\.0\.1:\d+: ECONNREFUSED/);
  assert.ok(existsSync(`/proc/${t.pid}`) && !existsSync(path.join(t.dir, 'd1', 'inventory')), 'the task runs on, no dump was made');
  await dumpTask({ pid: t.pid, dir: path.join(t.dir, 'pre1'), preDump: true });
  const holder = (JSON.parse(readFileSync(path.join(t.dir, 'pre1', 'cryo-track.json'), 'utf8')) as { holder?: { pid: number } }).holder?.pid;
  const s = await startPageServer(['-D', path.join(t.dir, 'srv')]);
  cleanups.push(s.kill);
  await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'd2'), prevImagesDir: '../pre1', pageServer: { address: '127.0.0.1', port: s.port } }), /page server at 127\.0\.0\.1:\d+ has no parent dump of task \d+/);
  assert.ok(!existsSync(path.join(t.dir, 'd2', 'inventory')));
  // The server saw the connection end without PS_IOV_CLOSE and says its images are incomplete.
  const r = await s.done;
  assert.equal(r.status, 1);
  assert.match(r.stderr, /closed the connection before it sent all its pages/);
  assert.equal(t.finish(), 'PASS', 'the task was left as it was');
  assert.ok(await holderGone(holder), 'the tracking holder ended with the task');
});

test('page server in another network namespace, over a veth pair', async (tc) => {
  const ns = `cryo-ps-${process.pid}`;
  const veth = `cps${process.pid % 100000}`;
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
  } catch (e) {
    if (process.env.CI === 'true') throw e;
    tc.skip(`ip netns add failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim()}`);
    return;
  }
  cleanups.push(() => execFileSync('ip', ['netns', 'del', ns]));
  cleanups.push(() => { try { execFileSync('ip', ['link', 'del', `${veth}a`], { stdio: 'pipe' }); } catch { /* went with the namespace */ } });
  const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' });
  ip('link', 'add', `${veth}a`, 'type', 'veth', 'peer', 'name', `${veth}b`, 'netns', ns);
  ip('addr', 'add', '10.213.7.1/30', 'dev', `${veth}a`);
  ip('link', 'set', `${veth}a`, 'up');
  ip('-n', ns, 'addr', 'add', '10.213.7.2/30', 'dev', `${veth}b`);
  ip('-n', ns, 'link', 'set', `${veth}b`, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  await chainThroughServer('10.213.7.2', ns);
});
