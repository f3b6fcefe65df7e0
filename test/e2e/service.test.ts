// `cryo service` and its client (build/cryo, the package's bin): real dumps and restores of a test
// program sent through the client, a failing command, signals and a client that goes away in the
// middle of a dump, a caller of another uid, and the fallback to the Node CLI where no service answers.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fixturesDir, repoRoot } from '../helpers/paths.js';
import { SETPRIV, asUserArgs, startTarget, waitAsleep } from '../helpers/dump-target.js';
import { waitGone } from '../helpers/restore-env.js';
import { __WALL, waitpid } from '../../src/sys/index.js';

const client = path.join(repoRoot, 'build', 'cryo');
const cliBundle = path.join(repoRoot, 'dist', 'cryo-cli.cjs');
const tracer = (pid: number) => Number(/TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

let dir: string;
let sock: string;
let service: ChildProcess;
let serviceLog = '';

interface Run { code: number | null; signal: NodeJS.Signals | null; out: string; err: string }

/** Starts the client with `args`; `until` resolves once its stderr matches. */
function runClient(args: string[], opts: { env?: NodeJS.ProcessEnv; asUser?: number; stdin?: 'pipe' } = {}) {
  const env = { ...process.env, CRYO_SERVICE: sock, ...opts.env };
  const stdio = [opts.stdin ?? 'ignore', 'pipe', 'pipe'] as const;
  const c = opts.asUser === undefined
    ? spawn(client, args, { env, stdio: [...stdio] })
    : spawn(SETPRIV, [...asUserArgs(opts.asUser), client, ...args], { env, stdio: [...stdio] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  c.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  c.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of waiters.splice(0)) if (w.re.test(err)) w.resolve(); else waiters.push(w);
  });
  const done = new Promise<Run>((resolve) => c.on('close', (code, signal) => resolve({ code, signal, out, err })));
  const until = (re: RegExp) => new Promise<void>((resolve, reject) => {
    if (re.test(err)) return resolve();
    waiters.push({ re, resolve });
    void done.then(() => reject(new Error(`the client ended before ${re}: ${err}`)));
  });
  return { child: c, done, until };
}

const run = (args: string[], opts: { env?: NodeJS.ProcessEnv; asUser?: number } = {}) => runClient(args, opts).done;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'cryo-service-'));
  sock = path.join(dir, 'run', 'service.sock');
  service = spawn(process.execPath, [cliBundle, 'service', '--address', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    service.stderr!.on('data', (d: Buffer) => {
      serviceLog += d.toString();
      if (/listening at/.test(serviceLog)) resolve();
    });
    service.on('exit', (code) => reject(new Error(`cryo service exited ${code}: ${serviceLog}`)));
  });
});

after(async () => {
  service.kill('SIGTERM');
  await new Promise((r) => service.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
});

test('the service socket is 0600 in a 0700 directory', () => {
  const mode = (p: string) => statSync(p).mode & 0o777;
  assert.equal(mode(path.dirname(sock)), 0o700);
  assert.equal(mode(sock), 0o600);
});

test('dump and restore through the service: the program finds its state (PASS), the client exits with its status', async () => {
  const t = startTarget('dump-state');
  try {
    const img = path.join(t.dir, 'img');
    const d = await run(['dump', '-t', String(t.pid), '-D', img]);
    assert.equal(d.err, '');
    assert.equal(d.code, 0);
    waitpid(t.pid, __WALL); // the dumped task, ended by the dump, was our child
    // Without -d the client waits for the restored task and exits with its status, as the CLI.
    const r = runClient(['restore', '-D', img]);
    // Restored with its PID, running on its own (no longer cryo's stub, untraced): SIGTERM makes it check its state.
    const running = () => {
      try {
        return readFileSync(`/proc/${t.pid}/cmdline`, 'utf8').startsWith('dump-state\0') && tracer(t.pid) === 0;
      } catch { return false; }
    };
    const deadline = Date.now() + 20_000;
    while (!running() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    waitAsleep(t.pid);
    process.kill(t.pid, 'SIGTERM');
    const end = await r.done;
    assert.equal(end.err, '');
    assert.equal(end.code, 0, 'dump-state exits 0 after PASS');
    assert.match(t.output(), /\nPASS\n?$/);
    assert.ok(waitGone(t.pid, 5000), 'no zombie of the service');
  } finally {
    t.cleanup();
  }
});

test('a detached restore through the service: the task runs, and is no zombie of the service once it ends', async () => {
  const t = startTarget('dump-state');
  try {
    const img = path.join(t.dir, 'img');
    assert.equal((await run(['dump', '-t', String(t.pid), '-D', img])).code, 0);
    waitpid(t.pid, __WALL);
    const r = await run(['restore', '-D', img, '-d']);
    assert.equal(r.err, '');
    assert.equal(r.code, 0);
    assert.equal(Number(readFileSync(`/proc/${t.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]), service.pid, 'the service is its parent');
    waitAsleep(t.pid);
    process.kill(t.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (!/PASS|FAIL/.test(t.output()) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.match(t.output(), /\nPASS\n?$/);
    // The service collects it (a zombie stays in /proc until then).
    assert.ok(waitGone(t.pid, 5000), `process ${t.pid} gone, not left a zombie of the service`);
  } finally {
    t.cleanup();
  }
});

test('a failing command: one line, status 1, and the service serves the next command', async () => {
  const r = await run(['dump', '-t', '4000000', '-D', path.join(dir, 'never')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^cryo: [^\n]*4000000[^\n]*\n$/);
  // A usage error too, and an unknown command.
  const u = await run(['dump', '-D', path.join(dir, 'never')]);
  assert.equal(u.code, 1);
  assert.match(u.err, /^cryo: dump: -t PID is required \(usage: [^\n]*\)\n$/);
  assert.equal(service.exitCode, null, 'the service runs on');
  const ok = await run(['--help']);
  assert.equal(ok.code, 0);
  assert.match(ok.out, /^usage: cryo COMMAND/);
});

test('the caller\'s own line is never frozen: a dump of the client\'s parent shell is refused, as the CLI refuses its own', () => {
  // The client's parent is a shell (not the service's ancestor, as this test process is), which asks to dump itself.
  const r = spawnSync('sh', ['-c', `"${client}" dump -t $$ -D "${path.join(dir, 'mine')}" --leave-running --shell-job; exit $?`], {
    env: { ...process.env, CRYO_SERVICE: sock }, encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^cryo: process \d+ is an ancestor of the cryo command \(the service's caller\) \(pid \d+\)[^\n]*\n$/);
  assert.ok(!existsSync(path.join(dir, 'mine', 'inventory.img')));
});

test('the command\'s environment counts, not the service\'s: CRYO_FAULT of the caller makes its dump fail', async () => {
  const t = startTarget('dump-state');
  try {
    const img = path.join(t.dir, 'img');
    const f = await run(['dump', '--leave-running', '-t', String(t.pid), '-D', img], { env: { CRYO_FAULT: 'dump:memory' } });
    assert.equal(f.code, 1);
    assert.match(f.err, /fault injected at dump step 'memory'/);
    // The next command, without it, is not failed by the one before.
    const ok = await run(['dump', '--leave-running', '-t', String(t.pid), '-D', path.join(t.dir, 'img2')]);
    assert.equal(ok.err, '');
    assert.equal(ok.code, 0);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

for (const how of ['SIGINT to the client', 'SIGTERM to the client', 'the client killed (its connection closed)'] as const) {
  test(`${how} in the middle of a dump leaves the task running unharmed`, async () => {
    const t = startTarget('dump-state');
    try {
      const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
      const c = runClient(['dump', '-t', String(t.pid), '-D', path.join(t.dir, 'img')], { env: { CRYO_FAULT: 'dump:scratch:pause' } });
      await c.until(/paused at dump step 'scratch'/);
      assert.notEqual(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'the dump is half way');
      assert.notEqual(tracer(t.pid), 0, 'the task is traced');
      c.child.kill(how.startsWith('SIGINT') ? 'SIGINT' : how.startsWith('SIGTERM') ? 'SIGTERM' : 'SIGKILL');
      const end = await c.done;
      if (how.startsWith('the client killed')) {
        assert.equal(end.signal, 'SIGKILL');
        // The service undoes the dump as for SIGINT; wait for it to let go.
        const deadline = Date.now() + 10_000;
        while (tracer(t.pid) !== 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      } else {
        assert.equal(end.code, 1);
        assert.match(end.err, /cryo: dump of task \d+ was interrupted; the task runs on as it was\n$/);
      }
      assert.equal(tracer(t.pid), 0, 'detached');
      assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page left');
      assert.equal(t.finish(), 'PASS');
      // Still serving.
      assert.equal((await run(['--help'])).code, 0);
    } finally {
      t.cleanup();
    }
  });
}

test('a command that reads standard input (decode with no -i) runs in the caller: the service serves others while it waits', async () => {
  const c = runClient(['decode'], { stdin: 'pipe' });
  // Were the service reading the client's pipe, this would wait until the pipe ends.
  const help = await Promise.race([run(['--help']), new Promise<undefined>((res) => setTimeout(res, 15_000))]);
  assert.ok(help, 'another client served while decode waits for its input');
  assert.equal(help.code, 0);
  c.child.stdin!.end(readFileSync(path.join(fixturesDir, 'single', 'inventory.img')));
  const end = await c.done;
  assert.equal(end.err, '');
  assert.equal(end.code, 0);
  assert.match(end.out, /^\{"magic": "INVENTORY"/);
});

test('a signal the command does not catch (SIGHUP to a demo) ends the client at once; the next command waits for the demo\'s end, and the demo writes no more to the client', async () => {
  const tmp = mkdtempSync(path.join(dir, 'demo-'));
  const c = runClient(['demo'], { env: { TMPDIR: tmp } });
  let out = '';
  c.child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const deadline = Date.now() + 20_000;
  while (!/Starting the example/.test(out) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  assert.match(out, /Starting the example/);
  c.child.kill('SIGHUP');
  const end = await c.done;
  assert.equal(end.signal, 'SIGHUP');
  // The demo's later steps (it runs on in the service) went nowhere, not to the client's output.
  assert.doesNotMatch(end.out, /3\. Restoring/);
  assert.equal((await run(['--help'])).code, 0);
  assert.deepEqual(readdirSync(tmp), [], 'the demo had ended (its directory removed) before the next command ran');
});

test('a caller of another uid is refused (SO_PEERCRED); root is served', async () => {
  // Open the way to the socket for everyone: only the service's own check is left.
  chmodSync(dir, 0o711);
  chmodSync(path.dirname(sock), 0o711);
  chmodSync(sock, 0o666);
  try {
    const r = await run(['--help'], { asUser: 65534 });
    assert.equal(r.code, 1);
    assert.match(r.err, /^cryo: the cryo service at \S+ runs commands of root and uid 0 only, not of uid 65534: [^\n]*\n$/);
    assert.equal(r.out, '');
    const root = await run(['--help']);
    assert.equal(root.code, 0);
    assert.match(root.out, /^usage: cryo COMMAND/);
  } finally {
    chmodSync(sock, 0o600);
    chmodSync(path.dirname(sock), 0o700);
    chmodSync(dir, 0o700);
  }
});

test('with no service at the address, the client runs the Node CLI: the same command line works', async () => {
  // CRYO_CODE_CACHE=report makes the Node CLI say what became of its code cache: only the CLI says it.
  const env = { CRYO_CODE_CACHE: 'report' };
  const viaService = await run(['--help'], { env });
  assert.equal(viaService.code, 0);
  assert.doesNotMatch(viaService.err, /code cache/, 'the service ran it');
  const none = await run(['--help'], { env: { ...env, CRYO_SERVICE: path.join(dir, 'nothing-here.sock') } });
  assert.equal(none.code, 0);
  assert.match(none.out, /^usage: cryo COMMAND/);
  assert.match(none.err, /cryo: code cache/, 'the Node CLI ran it');
  const off = await run(['dump', '-t', '4000000', '-D', path.join(dir, 'never')], { env: { ...env, CRYO_SERVICE: 'off' } });
  assert.equal(off.code, 1);
  assert.match(off.err, /code cache[^]*cryo: [^\n]*4000000/);
  // restore --shell-job must be the caller's own process (its session and terminal): the CLI runs it.
  const shell = await run(['restore', '--shell-job', '-D', path.join(dir, 'none')], { env });
  assert.equal(shell.code, 1);
  assert.match(shell.err, /code cache/);
});
