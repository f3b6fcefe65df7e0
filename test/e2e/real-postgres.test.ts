// A real database: Debian's PostgreSQL 15, started as the postgres user in a fresh data directory:
// the postmaster and its five background processes (checkpointer, background writer, walwriter,
// autovacuum and logical replication launchers), all attached to the postmaster's System V
// segment, sharing its anonymous shared memory (the buffers), with their latches and the
// postmaster's listening sockets. psql, a real client over TCP, writes rows; the tree is dumped
// (every process vanishes) and restored with the same PIDs and the same segment id; psql reads the
// rows written before, writes new ones and reads them; then a smart shutdown (SIGTERM) ends it.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { kill } from '../../src/sys/index.js';
import { listIpc } from '../../src/shared/sysv-ipc.js';
import { dumpReal, findProgram, freePort, restoreReal, startReal, waitUntil, type RealProgram } from '../helpers/real-program.js';
import { toolSkip } from '../helpers/required-tool.js';
import { postgresSegment, removePostgresSegment, startRealTarget } from '../helpers/real-targets.js';

const BIN = '/usr/lib/postgresql/15/bin';
const POSTGRES = findProgram(`${BIN}/postgres`);
const skip = toolSkip('PostgreSQL 15 with psql', POSTGRES !== undefined && findProgram('/usr/bin/psql') !== undefined, 'Debian package postgresql');

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user (Debian package postgresql makes it)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

const asPostgres = ['/usr/bin/setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups'];

/** Runs SQL through psql over TCP; returns its unaligned output, or throws with psql's error. */
function psql(port: number, sql: string): string {
  const r = spawnSync('/usr/bin/psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', PGCONNECT_TIMEOUT: '10' } });
  if (r.status !== 0) throw new Error(`psql -c "${sql}": ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
  return r.stdout.trim();
}

/** The postmaster's children and what each is (its title). */
function children(pid: number): { pid: number; title: string }[] {
  let list: number[] = [];
  try { list = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
  return list.map((c) => {
    let title = '';
    try { title = readFileSync(`/proc/${c}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(); } catch { /* gone */ }
    return { pid: c, title };
  }).sort((a, b) => a.pid - b.pid);
}

let prog: RealProgram | undefined;
let base: string | undefined;
after(() => {
  const seg = base ? postgresSegment(path.join(base, 'data')) : undefined;
  if (prog) for (const c of children(prog.pid)) try { kill(c.pid, 9); } catch { /* gone */ }
  prog?.cleanup();
  removePostgresSegment(seg); // a killed postmaster's segment would be in every later dump of a real PostgreSQL
  if (base) rmSync(base, { recursive: true, force: true });
});

test('PostgreSQL 15: rows written before the dump are read after restore, and new rows are written', { timeout: 300_000, skip }, async () => {
  const { uid, gid } = postgresUser();
  base = mkdtempSync(path.join(tmpdir(), 'cryo-real-postgres-'));
  chmodSync(base, 0o755);
  chownSync(base, uid, gid);
  const data = path.join(base, 'data');
  const init = spawnSync(asPostgres[0]!, [...asPostgres.slice(1), `${BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'],
    { encoding: 'utf8', timeout: 180_000 });
  assert.equal(init.status, 0, `initdb: ${init.stderr}`);
  const port = await freePort();
  const p = (prog = startReal('postgres', [...asPostgres, POSTGRES!, '-D', data, '-p', String(port), '-k', base,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'shared_buffers=16MB', '-c', 'huge_pages=off', '-c', 'max_connections=10']));
  await waitUntil('postgres to answer', 60_000, () => (psql(port, 'select 1') === '1' ? true : undefined));
  const token = `written before the dump by ${process.pid}-${Date.now()}`;
  psql(port, `create table t (n int primary key, s text); insert into t select i, '${token} ' || i from generate_series(1, 500) i`);
  assert.equal(psql(port, 'select count(*) from t'), '500');
  // The background processes only: each client's backend ended with it.
  const aux = await waitUntil('the client backends to end', 20_000, () => {
    const c = children(p.pid);
    return c.length === 5 && c.every((x) => !/postgres: postgres /.test(x.title)) ? c : undefined;
  });
  // postmaster.pid's seventh line: the segment's key and id.
  const [shmKey, shmId] = readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[6]!.trim().split(/\s+/).map(Number);
  assert.ok(listIpc('shm').some((o) => o.id === shmId && o.key === shmKey && o.row.nattch === 6), 'the postmaster and its five processes attach its segment');

  const threads = p.threads().length;
  const images = await dumpReal(p);
  const ipcShm = readdirSync(images).find((n) => /^ipcns-shm-\d+\.img$/.test(n));
  assert.ok(ipcShm, 'the dump has the segment');
  const seg = decodeImageFile(path.join(images, ipcShm)).entries.map((e) => e.value.desc as MessageValue);
  assert.deepEqual(seg.map((d) => [Number(d.id), Number(d.key) | 0, Number(d.uid)]), [[shmId, shmKey, uid]]);
  // Where kernel.shm_rmid_forced is 0 the segment outlives the killed postmaster, identical to the
  // dumped one: restore uses it as it is (rt-sysv-ipc shows a changed one refused).
  await restoreReal(p, images, threads);
  assert.deepEqual(children(p.pid).map((c) => c.pid), aux.map((c) => c.pid), 'the same background processes, with their PIDs');
  assert.ok(listIpc('shm').some((o) => o.id === shmId && o.key === shmKey && o.row.nattch === 6), 'the segment is back with its id and key, attached by all six');

  // Through psql again: the rows written before, then new ones.
  assert.equal(psql(port, 'select count(*) from t'), '500');
  assert.equal(psql(port, 'select s from t where n = 321'), `${token} 321`);
  psql(port, `insert into t select i, 'after ' || i from generate_series(501, 700) i; update t set s = 'changed' where n = 7`);
  assert.equal(psql(port, 'select count(*), sum(n) from t'), `700|${(700 * 701) / 2}`);
  assert.equal(psql(port, 'select s from t where n = 7'), 'changed');
  assert.equal(psql(port, `select count(*) from t where s like '${token}%'`), '499');

  // A smart shutdown: the restored postmaster stops its processes, writes a checkpoint and ends.
  p.stop(60_000);
  assert.match(p.log(), /database system is shut down/);
});

test("a SIGKILLed PostgreSQL's System V segment outlives it (kernel.shm_rmid_forced 0); the real target's cleanup removes it", { timeout: 300_000, skip }, async () => {
  const r = await startRealTarget('postgres');
  let seg: ReturnType<typeof postgresSegment>;
  try {
    seg = postgresSegment(path.join(r.dataDirs[0]!, 'data'));
    assert.ok(seg && listIpc('shm').some((o) => o.id === seg!.id && o.key === seg!.key), `postmaster.pid names its segment: ${JSON.stringify(seg)}`);
    const pids = r.pids();
    for (const p of pids) try { kill(p, 9); } catch { /* gone */ }
    await waitUntil('the killed processes to detach', 10_000, () => (listIpc('shm').find((o) => o.id === seg!.id)?.row.nattch === 0 ? true : undefined));
    if (readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8').trim() === '0') {
      assert.ok(listIpc('shm').some((o) => o.id === seg!.id && o.key === seg!.key), 'the segment outlives the killed postmaster');
    }
  } finally {
    r.cleanup();
  }
  assert.ok(!listIpc('shm').some((o) => o.id === seg!.id), 'the cleanup removed the segment');
  removePostgresSegment(seg); // a second time: nothing there, nothing done
});
