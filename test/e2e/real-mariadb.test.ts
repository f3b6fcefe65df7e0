// A real database on io_uring: Debian's MariaDB 10.11 in a fresh data directory. InnoDB drives its
// reads and writes through an io_uring ring (liburing) with a thread reaping it, beside some twenty
// other threads, and reserves terabytes of PROT_NONE address space for its buffer pool. A client
// writes rows over the server's unix socket; the server is dumped (it vanishes) and restored; the
// rows come back, new ones are written, and a SIGTERM shuts it down cleanly. The negative: the same
// images with the rows' text changed in the dumped memory make the server answer the changed text
// (the rows after restore come from the restored buffer pool, not from the disk).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { kill } from '../../src/sys/index.js';
import { resealImages } from '../helpers/restore-env.js';
import { dumpReal, findProgram, restoreReal, startReal, waitUntil, waitVanished, type RealProgram } from '../helpers/real-program.js';
import { toolSkip } from '../helpers/required-tool.js';

const MARIADBD = findProgram('/usr/sbin/mariadbd');
const CLIENT = findProgram('/usr/bin/mariadb');
const INSTALL = findProgram('/usr/bin/mariadb-install-db');
const skip = toolSkip('MariaDB (server, client, mariadb-install-db)', !!(MARIADBD && CLIENT && INSTALL), 'Debian package mariadb-server');

let prog: RealProgram | undefined;
let base: string | undefined;
after(() => {
  prog?.cleanup();
  if (base) rmSync(base, { recursive: true, force: true });
});

/** Runs SQL through the client on the server's socket; its tab-separated output without headers. */
function sql(socket: string, query: string): string {
  const r = spawnSync(CLIENT!, ['--no-defaults', '-S', socket, '-uroot', '-N', '-B', '--connect-timeout=10', '-e', query],
    { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin' } });
  if (r.status !== 0) throw new Error(`mariadb -e "${query}": ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
  return r.stdout.trim();
}

/** cp -a: restore checks its files' times to the nanosecond, which Node's copy does not keep. */
function copyTree(from: string, to: string): void {
  const r = spawnSync('/bin/cp', ['-a', from, to], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr}`);
}

/** Replaces every `from` in the dump's pages images by `to` (as long), then reseals the manifest. */
function replaceInPages(images: string, from: string, to: string): number {
  let n = 0;
  for (const f of readdirSync(images).filter((x) => /^pages-\d+\.img$/.test(x))) {
    const file = path.join(images, f);
    const b = readFileSync(file);
    for (let at = b.indexOf(from); at >= 0; at = b.indexOf(from, at + 1)) { b.write(to, at); n++; }
    writeFileSync(file, b);
  }
  resealImages(images);
  return n;
}

test('MariaDB on io_uring: rows written before the dump are read after restore, new rows are written, it shuts down cleanly', { timeout: 300_000, skip }, async () => {
  base = mkdtempSync(path.join(tmpdir(), 'cryo-real-mariadb-'));
  const data = path.join(base, 'data');
  const socket = path.join(base, 'sock');
  const init = spawnSync(INSTALL!, ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'],
    { encoding: 'utf8', timeout: 180_000 });
  assert.equal(init.status, 0, `mariadb-install-db: ${init.stderr}`);
  const p = (prog = startReal('mariadb', [MARIADBD!, '--no-defaults', `--datadir=${data}`, '--user=root', `--socket=${socket}`,
    '--skip-networking', '--innodb-buffer-pool-size=64M', `--pid-file=${path.join(base, 'pid')}`]));
  await waitUntil('MariaDB to answer', 60_000, () => { try { return sql(socket, 'select 1') === '1' ? true : undefined; } catch { return undefined; } });
  const token = `cryo-row-${process.pid}-${Date.now()}`;
  sql(socket, `create database t; use t; create table r (n int primary key, s varchar(100)) engine=innodb;
    insert into r select seq, concat('${token} ', seq) from seq_1_to_500`);
  assert.equal(sql(socket, 'select count(*) from t.r'), '500');
  // InnoDB's ring: the kernel must allow io_uring (else it says it falls back to native AIO).
  assert.match(p.log(), /InnoDB: Using io_uring/);
  const fds = readdirSync(`/proc/${p.pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${p.pid}/fd/${fd}`); } catch { return ''; } });
  assert.ok(fds.includes('anon_inode:[io_uring]'), 'mariadbd holds an io_uring descriptor');

  const images = await dumpReal(p);
  // The data directory as the dump left it: the negative's run may write to it.
  copyTree(data, `${data}.dumped`);

  // Negative: the rows' text changed in the dumped memory is what the restored server answers.
  const edited = `${images}-edited`;
  cpSync(images, edited, { recursive: true });
  assert.ok(replaceInPages(edited, token, token.toUpperCase()) > 0, 'the dumped memory holds the rows');
  await restoreReal(p, edited, 'any');
  assert.equal(sql(socket, 'select s from t.r where n = 321'), `${token.toUpperCase()} 321`);
  kill(p.pid, 9);
  assert.ok(waitVanished(p.pid, 10_000), 'the edited restore is gone');
  rmSync(data, { recursive: true, force: true });
  copyTree(`${data}.dumped`, data);

  await restoreReal(p, images, 'any');
  assert.equal(sql(socket, 'select count(*) from t.r'), '500');
  assert.equal(sql(socket, 'select s from t.r where n = 321'), `${token} 321`);
  sql(socket, `use t; insert into r select seq, concat('after ', seq) from seq_501_to_700; update r set s = 'changed' where n = 7`);
  assert.equal(sql(socket, 'select count(*), sum(n) from t.r'), `700\t${(700 * 701) / 2}`);
  assert.equal(sql(socket, `select count(*) from t.r where s like '${token}%'`), '499');

  // A clean shutdown: InnoDB flushes its buffer pool through the restored ring and ends.
  p.stop(60_000);
  assert.match(p.log(), /Shutdown complete/);
});
