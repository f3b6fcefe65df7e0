// The real programs of the test suite (test/e2e/real-*.test.ts), started as those tests start them
// and given a check of their own (they answer as they should, their counters move on, their own
// consistency checks report no error), for the fault sweeps (scripts/fault-sweep.mjs --real NAME)
// and the tests that sample their points: a dump failed at a point must leave them unharmed.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readIoUringFdinfo } from '../../src/proc/index.js';
import { kill } from '../../src/sys/index.js';
import { ipcRemove, listIpc } from '../../src/shared/sysv-ipc.js';
import { repoRoot } from './paths.js';
import { nginxPrefix, tmuxSession } from './real-setups.js';
import { becomeSubreaper } from './restore-env.js';
import { findProgram, freePort, httpGetJson, startReal, tcpConnectionsHeld, tcpExchange, waitReady, waitUntil, type RealProgram } from './real-program.js';

export interface RealTarget {
  name: string;
  prog: RealProgram;
  /** The program's processes, the root first (what a dump of the root takes). */
  pids(): number[];
  /** Throws, saying why, unless the program answers as it should and has moved on since the last check. */
  check(): Promise<void>;
  /** Waits until no client connection of a check is left (a dump then sees the program at rest). */
  settle(): Promise<void>;
  /** State lines (fault-sweep.ts processState) it changes on its own all the time. */
  churn?: RegExp;
  /** Kills it and everything it started; removes its directories. */
  cleanup(): void;
  /** Directories of its own files beside prog.dir (a database's data). */
  dataDirs: readonly string[];
}

interface Starter {
  /** Why it cannot run here (a program not installed), or undefined. */
  missing(): string | undefined;
  start(): Promise<RealTarget>;
}

/** The process's children (from every thread's list). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

function target(name: string, prog: RealProgram, check: () => Promise<void>, opts: { tree?: boolean; extra?: string[] } = {}): RealTarget {
  const pids = () => (opts.tree ? [prog.pid, ...childrenOf(prog.pid)] : [prog.pid]);
  return {
    name,
    prog,
    pids,
    check,
    dataDirs: opts.extra ?? [],
    settle: async () => { await waitUntil(`${name} to close its client connections`, 10_000, () => (pids().every((p) => tcpConnectionsHeld(p).length === 0) ? true : undefined)); },
    cleanup() {
      for (const c of childrenOf(prog.pid)) { try { kill(c, 9); } catch { /* gone */ } }
      prog.cleanup();
      for (const d of opts.extra ?? []) rmSync(d, { recursive: true, force: true });
    },
  };
}

/**
 * The System V shared memory segment of a PostgreSQL data directory, as its postmaster.pid's
 * seventh line names it (key and id); undefined when there is none (not started, or shut down).
 */
export function postgresSegment(data: string): { key: number; id: number } | undefined {
  let line: string | undefined;
  try {
    line = readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[6];
  } catch {
    return undefined;
  }
  const [key, id] = (line ?? '').trim().split(/\s+/).map(Number);
  return Number.isInteger(key) && Number.isInteger(id) ? { key: key!, id: id! } : undefined;
}

/**
 * Removes a killed PostgreSQL's segment (`postgresSegment`, read while it ran) if it is still there
 * with its key: a SIGKILLed postmaster leaves it in the IPC namespace (where kernel.shm_rmid_forced
 * is 0), where every later dump of a real PostgreSQL would find it. Its processes still detaching
 * keep it until they have.
 */
export function removePostgresSegment(seg: { key: number; id: number } | undefined): void {
  if (seg && listIpc('shm').some((o) => o.id === seg.id && o.key === seg.key)) {
    try { ipcRemove('shm', seg.id); } catch { /* gone meanwhile */ }
  }
}

/** A check of a counter the program serves: it must grow from one check to the next. */
function growing(what: string): (now: number) => void {
  let last = -1;
  return (now) => {
    if (!(now > last)) throw new Error(`${what} did not move on (${last} before, ${now} now)`);
    last = now;
  };
}

/**
 * A settle for a server whose clients come over unix sockets: waits until it holds as many
 * descriptors as now, half a second after its last client (it lets a client go once it has seen it end).
 */
function fdsAtRest(pid: number, what: string): () => Promise<void> {
  const fds = () => readdirSync(`/proc/${pid}/fd`).length;
  let atRest: number | undefined;
  return async () => {
    if (atRest === undefined) {
      await new Promise((ok) => setTimeout(ok, 500));
      atRest = fds();
    }
    await waitUntil(what, 10_000, () => (fds() === atRest ? true : undefined));
  };
}

const real = (f: string) => path.join(repoRoot, 'test', 'programs', 'real', f);
const missingUnless = (what: string, ok: boolean) => () => (ok ? undefined : `${what} is not installed`);

const REDIS = findProgram('/usr/bin/redis-server', '/usr/local/bin/redis-server');
const PYTHON = findProgram('/usr/bin/python3');
const NGINX = findProgram('/usr/sbin/nginx');
const GO = findProgram('/usr/bin/go', '/usr/lib/go/bin/go');
const JAVA = findProgram(`/usr/lib/jvm/java-17-openjdk-${process.arch === 'x64' ? 'amd64' : process.arch}/bin/java`);
const PG_BIN = '/usr/lib/postgresql/15/bin';
const POSTGRES = findProgram(`${PG_BIN}/postgres`);
const PSQL = findProgram('/usr/bin/psql');
const MARIADBD = findProgram('/usr/sbin/mariadbd');
const MARIADB = findProgram('/usr/bin/mariadb');
const MARIADB_INSTALL = findProgram('/usr/bin/mariadb-install-db');
const FIO = findProgram('/usr/bin/fio', '/usr/local/bin/fio');
const TMUX = findProgram('/usr/bin/tmux');

async function redisCmd(port: number, ...args: string[]): Promise<string> {
  const cmd = (a: string[]) => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;
  return tcpExchange(port, cmd(args) + cmd(['QUIT']));
}

/** A server of the suite's own (python, node, go, jvm) that serves its state as JSON, with `ready` giving the port. */
async function stateServer(name: string, argv: string[], env: Record<string, string>, readyMs: number,
  get: (port: number) => Promise<Record<string, unknown>>, counter: string): Promise<RealTarget> {
  const p = startReal(name, argv, env);
  try {
    const port = Number(/port=(\d+)/.exec(await waitReady(p, name, readyMs))![1]);
    let last = -1;
    // Its counter moves at its own pace (a timer's, a thread's): waited for, a while.
    return target(name, p, async () => {
      last = await waitUntil(`${name}'s ${counter} to move on from ${last} with no error`, 10_000, async () => {
        const s = await get(port);
        const errors = s.errors;
        if (Array.isArray(errors) ? errors.length > 0 : Number(errors ?? 0) !== 0) throw new Error(`${name} reports errors: ${JSON.stringify(errors)}`);
        return Number(s[counter]) > last ? Number(s[counter]) : undefined;
      });
    });
  } catch (e) {
    p.cleanup();
    throw e;
  }
}

export const REAL_TARGETS: Readonly<Record<string, Starter>> = {
  redis: {
    missing: missingUnless('redis-server', REDIS !== undefined),
    async start() {
      const port = await freePort();
      const p = startReal('redis', [REDIS!, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '']);
      const moves = growing("redis's counter");
      const check = async () => {
        const r = await redisCmd(port, 'INCR', 'counter');
        const m = /^:(\d+)\r\n\+OK\r\n$/.exec(r);
        if (!m) throw new Error(`redis answered INCR with ${JSON.stringify(r.slice(0, 80))}`);
        moves(Number(m[1]));
      };
      const t = target('redis', p, check);
      try {
        await waitUntil('redis to answer', 10_000, async () => { await check(); return true; });
        await redisCmd(port, 'SET', 'big', 'x'.repeat(300_000));
        return t;
      } catch (e) {
        t.cleanup();
        throw e;
      }
    },
  },
  python: {
    missing: missingUnless('/usr/bin/python3', PYTHON !== undefined),
    start: () => stateServer('python', [PYTHON!, real('threads-queue.py'), 'out.txt'], {}, 10_000,
      async (port) => JSON.parse(await tcpExchange(port)) as Record<string, unknown>, 'consumed'),
  },
  node: {
    missing: () => undefined,
    start: () => stateServer('node', [process.execPath, real('http-counter.mjs'), 'out.txt'], {}, 10_000,
      (port) => httpGetJson(port, '/'), 'workerTicks'),
  },
  go: {
    missing: missingUnless('go', GO !== undefined),
    async start() {
      const build = path.join(repoRoot, 'test', 'programs', 'bin', 'go-build');
      mkdirSync(build, { recursive: true });
      const bin = path.join(build, 'go-http');
      const env = { PATH: '/usr/bin:/bin', HOME: build, GOCACHE: path.join(build, 'cache'), GOPATH: path.join(build, 'gopath'), GO111MODULE: 'off', GOFLAGS: '' };
      const r = spawnSync(GO!, ['build', '-o', bin, real('go-http/main.go')], { env, encoding: 'utf8', timeout: 240_000 });
      if (r.status !== 0) throw new Error(`go build: ${r.stderr}`);
      return stateServer('go', [bin, 'out.txt'], {}, 20_000, (port) => httpGetJson(port, '/state'), 'consumed');
    },
  },
  jvm: {
    missing: missingUnless('OpenJDK 17', JAVA !== undefined),
    start: () => stateServer('jvm', [JAVA!, '-XX:+UseSerialGC', '-Xmx64m', '-XX:TieredStopAtLevel=1', '-XX:-UseDynamicNumberOfCompilerThreads', real('HttpWorkers.java'), 'out.txt'],
      {}, 60_000, (port) => httpGetJson(port, '/state'), 'consumed'),
  },
  nginx: {
    missing: missingUnless('nginx', NGINX !== undefined),
    async start() {
      const port = await freePort();
      const { conf, token } = nginxPrefix(port);
      const p = startReal('nginx', [NGINX!, '-c', path.join(conf, 'nginx.conf'), '-p', conf]);
      const check = async () => {
        const text = await tcpExchange(port, 'GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n');
        if (!text.startsWith('HTTP/1.1 200') || !text.endsWith(token)) throw new Error(`nginx answered ${JSON.stringify(text.slice(0, 80))}`);
      };
      const t = target('nginx', p, check, { tree: true, extra: [conf] });
      try {
        await waitUntil('nginx to serve index.html', 10_000, async () => { await check(); return true; });
        await waitUntil('two workers', 10_000, () => (childrenOf(p.pid).length === 2 ? true : undefined));
        return t;
      } catch (e) {
        t.cleanup();
        throw e;
      }
    },
  },
  postgres: {
    missing: missingUnless('PostgreSQL 15 with psql', POSTGRES !== undefined && PSQL !== undefined),
    async start() {
      const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
      if (!line) throw new Error('no postgres user (Debian package postgresql makes it)');
      const [uid, gid] = line.split(':').slice(2, 4).map(Number);
      const asPostgres = ['/usr/bin/setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups'];
      const base = mkdtempSync(path.join(tmpdir(), 'cryo-real-postgres-'));
      chmodSync(base, 0o755);
      chownSync(base, uid!, gid!);
      const data = path.join(base, 'data');
      const init = spawnSync(asPostgres[0]!, [...asPostgres.slice(1), `${PG_BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'],
        { encoding: 'utf8', timeout: 180_000 });
      if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
      const port = await freePort();
      // Autovacuum off: its launcher starts a worker process now and then, which would change the tree under the sweep;
      // no timed checkpoint either (its checkpointer opens the data files it writes: descriptors of its own).
      const p = startReal('postgres', [...asPostgres, POSTGRES!, '-D', data, '-p', String(port), '-k', base,
        '-c', 'listen_addresses=127.0.0.1', '-c', 'shared_buffers=16MB', '-c', 'huge_pages=off', '-c', 'max_connections=10', '-c', 'autovacuum=off', '-c', 'checkpoint_timeout=1d']);
      const psql = (sql: string) => {
        const r = spawnSync(PSQL!, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql],
          { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', PGCONNECT_TIMEOUT: '10' } });
        if (r.status !== 0) throw new Error(`psql -c "${sql}": ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
        return r.stdout.trim();
      };
      const moves = growing("postgres's row count");
      const t = target('postgres', p, async () => {
        moves(Number(psql('insert into t values (default); select count(*) from t').split('\n').at(-1)));
      }, { tree: true, extra: [base] });
      const plain = t.cleanup;
      t.cleanup = () => {
        const seg = postgresSegment(data);
        plain();
        removePostgresSegment(seg);
      };
      try {
        await waitUntil('postgres to answer', 60_000, () => (psql('select 1') === '1' ? true : undefined));
        psql('create table t (n serial primary key)');
        // Its five background processes only: each client's backend ends with it.
        t.settle = async () => { await waitUntil('the client backends to end', 20_000, () => {
          const c = childrenOf(p.pid);
          return c.length === 4 && c.every((x) => !/postgres: postgres /.test(readFileSync(`/proc/${x}/cmdline`, 'utf8').replace(/\0/g, ' '))) ? true : undefined;
        }); };
        return t;
      } catch (e) {
        t.cleanup();
        throw e;
      }
    },
  },
  mariadb: {
    missing: missingUnless('MariaDB (server, client, mariadb-install-db)', !!(MARIADBD && MARIADB && MARIADB_INSTALL)),
    async start() {
      const base = mkdtempSync(path.join(tmpdir(), 'cryo-real-mariadb-'));
      const data = path.join(base, 'data');
      const socket = path.join(base, 'sock');
      const init = spawnSync(MARIADB_INSTALL!, ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'],
        { encoding: 'utf8', timeout: 180_000 });
      if (init.status !== 0) { rmSync(base, { recursive: true, force: true }); throw new Error(`mariadb-install-db: ${init.stderr}`); }
      const p = startReal('mariadb', [MARIADBD!, '--no-defaults', `--datadir=${data}`, '--user=root', `--socket=${socket}`,
        '--skip-networking', '--innodb-buffer-pool-size=64M', `--pid-file=${path.join(base, 'pid')}`]);
      const sql = (query: string) => {
        const r = spawnSync(MARIADB!, ['--no-defaults', '-S', socket, '-uroot', '-N', '-B', '--connect-timeout=10', '-e', query],
          { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin' } });
        if (r.status !== 0) throw new Error(`mariadb -e "${query}": ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
        return r.stdout.trim();
      };
      const moves = growing("MariaDB's row count");
      const t = target('mariadb', p, async () => { moves(Number(sql('insert into t.r values (); select count(*) from t.r'))); }, { extra: [base] });
      try {
        await waitUntil('MariaDB to answer', 60_000, () => { try { return sql('select 1') === '1' ? true : undefined; } catch { return undefined; } });
        sql('create database t; create table t.r (n int auto_increment primary key) engine=innodb');
        t.settle = fdsAtRest(p.pid, 'MariaDB to let its clients go');
        return t;
      } catch (e) {
        t.cleanup();
        throw e;
      }
    },
  },
  fio: {
    missing: missingUnless('fio', FIO !== undefined),
    async start() {
      // As real-fio's job (io_uring, a job thread, registered file and buffer), writing on for an hour.
      const p = startReal('fio', [FIO!, '--name=ringjob', '--ioengine=io_uring', '--thread', '--registerfiles', '--fixedbufs',
        '--filename=data.bin', '--size=2m', '--bs=4k', '--iodepth=1', '--rw=randwrite', '--rate_iops=50', '--time_based', '--runtime=3600']);
      const ring = () => readdirSync(`/proc/${p.pid}/fd`).map(Number).find((fd) => {
        try { return readlinkSync(`/proc/${p.pid}/fd/${fd}`) === 'anon_inode:[io_uring]'; } catch { return false; }
      });
      let last = -1;
      const t = target('fio', p, async () => {
        last = await waitUntil(`fio's ring to move on from ${last}`, 10_000, () => {
          const fd = ring();
          const head = fd === undefined ? -1 : readIoUringFdinfo(p.pid, fd).sqHead;
          return head > last ? head : undefined;
        });
      });
      t.settle = async () => {};
      return t;
    },
  },
  'node-uring': {
    missing: () => undefined,
    async start() {
      const p = startReal('node-uring', [process.execPath, real('uring-files.mjs'), 'out.txt'], { UV_USE_IO_URING: '1' });
      const rounds = () => { try { return Number(readFileSync(path.join(p.dir, 'rounds.txt'), 'utf8')); } catch { return 0; } };
      let last = -1;
      const t = target('node-uring', p, async () => {
        if (/FAIL/.test(readFileSync(path.join(p.dir, 'out.txt'), 'utf8'))) throw new Error(`node-uring: ${readFileSync(path.join(p.dir, 'out.txt'), 'utf8')}`);
        last = await waitUntil(`node-uring's rounds to move on from ${last}`, 10_000, () => (rounds() > last ? rounds() : undefined));
      });
      try {
        await waitReady(p, 'node-uring', 20_000);
        t.settle = async () => {};
        t.churn = /^fd \d+ \/.*\/data\.txt$/; // each round opens data.txt, writes, closes, opens, reads, closes
        return t;
      } catch (e) {
        t.cleanup();
        throw e;
      }
    },
  },
  tmux: {
    missing: missingUnless('tmux', TMUX !== undefined),
    async start() {
      becomeSubreaper();
      const dir = mkdtempSync(path.join(tmpdir(), 'cryo-real-tmux-'));
      const { tmux, server } = tmuxSession(TMUX!, dir);
      const prog = { pid: server, dir, log: () => '', threads: () => readdirSync(`/proc/${server}/task`).map(Number),
        stop() { tmux('kill-server'); }, cleanup() { try { kill(server, 9); } catch { /* gone */ } rmSync(dir, { recursive: true, force: true }); } };
      let n = 0;
      const t = target('tmux', prog, async () => {
        const k = ++n;
        tmux('send-keys', `echo answer-${k}-$((6*7))`, 'Enter');
        await waitUntil(`the shell in tmux to answer (${k})`, 20_000, () => (new RegExp(`^answer-${k}-42$`, 'm').test(tmux('capture-pane', '-p')) ? true : undefined));
      }, { tree: true });
      try {
        await waitUntil('the shell\'s first prompt', 30_000, () => (/^[#$] ?$/m.test(tmux('capture-pane', '-p')) ? true : undefined));
        // Each tmux command is a client the server holds a socket for until it has seen it go.
        t.settle = fdsAtRest(server, 'the tmux server to let its clients go');
        return t;
      } catch (e) {
        t.cleanup();
        throw e;
      }
    },
  },
};

/** Starts the real program `name`, checked once; a name it does not know, or a program not installed, is one line. */
export async function startRealTarget(name: string): Promise<RealTarget> {
  const s = REAL_TARGETS[name];
  if (!s) throw new Error(`no real program '${name}' (known: ${Object.keys(REAL_TARGETS).join(', ')})`);
  const why = s.missing();
  if (why) throw new Error(`${name}: ${why}`);
  const t = await s.start();
  try {
    await t.check();
    await t.settle();
  } catch (e) {
    t.cleanup();
    throw e;
  }
  return t;
}
