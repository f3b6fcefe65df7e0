// cryo service [--address SOCK]: a resident cryo that runs the commands the client (native/cryo_client.c,
// the package's bin) sends it, so that a command pays only its own work, not Node's start. It listens
// on a unix socket (0600, in a 0700 directory), takes callers by SO_PEERCRED (root, or its own uid),
// and runs one command at a time on its main thread (the one ptrace tracer); the next wait their turn.
// SIGTERM, SIGINT or SIGHUP end it once the running command has ended. Restored processes are its
// children (a detached one too, as with `criu service`): it collects each that ends.

import { chmodSync, closeSync, lstatSync, mkdirSync, rmSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../command.js';
import { specs } from '../commands/specs.js';
import { errorLine } from '../error-line.js';
import { defaultAddress } from './address.js';
import { mustRunInCaller, type Outcome, Session } from './session.js';
import { keepOwnStdio, dupHigh } from './stdio.js';
import { peerCred, readRequest, type Request } from './wire.js';
import { setCommandCaller } from '../../dump/task-state.js';
import { Reaper } from './reaper.js';

interface Client { conn: net.Socket; req: Request; session?: Session; gone: boolean; answered?: boolean; pid: number }

export const serviceCommand: Command = {
  ...specs.service,
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({ args, strict: true, options: { address: { type: 'string' } } }));
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!);
    }
    const address = values.address ?? defaultAddress({});
    const own = keepOwnStdio();
    const logFd = dupHigh(2);
    const log = (line: string) => { try { writeSync(logFd, `cryo service: ${line}\n`); } catch { /* no log */ } };
    await prepareAddress(address);
    // The command modules a dump and a restore need, loaded now rather than by the first command.
    await Promise.all([import('../commands/dump.js'), import('../commands/restore.js')]);
    const uid = process.getuid!();
    const queue: Client[] = [];
    let running: Client | undefined;
    let stopping = false;
    const reaper = new Reaper();
    const server = net.createServer({ pauseOnConnect: true }, (conn) => accept(conn));
    const fd = (conn: net.Socket) => (conn as unknown as { _handle: { fd: number } })._handle.fd;

    function accept(conn: net.Socket): void {
      conn.on('error', () => {});
      let req: Request;
      let cred: ReturnType<typeof peerCred>;
      try {
        cred = peerCred(fd(conn));
        if (cred.uid !== 0 && cred.uid !== uid) {
          log(`refused uid ${cred.uid} (pid ${cred.pid})`);
          say(conn, `refused the cryo service at ${address} runs commands of root and uid ${uid} only, not of uid ${cred.uid}: start your own (cryo service --address PATH, with CRYO_SERVICE=PATH)\n`);
          return;
        }
        req = readRequest(fd(conn));
      } catch (e) {
        log(`a client's request: ${errorLine(e)}`);
        conn.destroy();
        return;
      }
      const client: Client = { conn, req, gone: false, pid: cred.pid };
      const why = mustRunInCaller(req.argv);
      if (why) {
        closeAll(req.stdio);
        say(conn, 'fallback\n');
        return;
      }
      let pending = '';
      conn.on('data', (d) => {
        pending += d.toString('latin1');
        for (let nl; (nl = pending.indexOf('\n')) >= 0; pending = pending.slice(nl + 1)) {
          const m = /^signal (\d+)$/.exec(pending.slice(0, nl));
          if (m) signalled(client, Number(m[1]));
        }
      });
      // A client gone mid-command interrupts it as SIGINT would.
      conn.on('close', () => { client.gone = true; signalled(client, 2); });
      conn.resume();
      queue.push(client);
      next();
    }

    function signalled(client: Client, signo: number): void {
      const name = Object.entries(constants.signals).find(([, n]) => n === signo)?.[0] as NodeJS.Signals | undefined;
      if (!name) return;
      if (client.session) return client.session.deliver(name);
      // Still waiting its turn: nothing ran; the client ends as the CLI would have.
      const i = queue.indexOf(client);
      if (i < 0) return;
      queue.splice(i, 1);
      closeAll(client.req.stdio);
      reply(client, { signal: signo });
    }

    function reply(client: Client, o: Outcome): void {
      if (client.gone || client.answered) return;
      client.answered = true;
      say(client.conn, 'exit' in o ? `exit ${o.exit}\n` : `signal ${o.signal}\n`);
    }

    function next(): void {
      if (running || stopping) return;
      const client = queue.shift();
      if (!client) return;
      running = client;
      const session = new Session(client.req, own, log);
      client.session = session;
      // The caller's shell and its ancestors are as cryo's own: never frozen by its command.
      setCommandCaller(client.pid);
      session.run((o) => reply(client, o)).catch((e) => {
        log(`a command: ${errorLine(e)}`);
        reply(client, { exit: 1 });
      }).finally(() => {
        setCommandCaller(undefined);
        running = undefined;
        reaper.adoptChildren();
        if (stopping) return stop();
        next();
      });
    }

    process.on('uncaughtException', (e) => {
      if (running?.session) running.session.fail(e);
      else log(`uncaught: ${errorLine(e)}`);
    });
    process.on('unhandledRejection', (e) => {
      if (running?.session) running.session.fail(e);
      else log(`unhandled: ${errorLine(e)}`);
    });

    let done!: (code: number) => void;
    const finished = new Promise<number>((r) => { done = r; });
    function stop(): void {
      stopping = true;
      server.close();
      for (const c of queue.splice(0)) {
        closeAll(c.req.stdio);
        say(c.conn, 'fallback\n'); // not run: the CLI runs it
      }
      if (running) return; // once its command ended
      rmSync(address, { force: true });
      reaper.stop();
      log('stopped');
      done(0);
    }
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, stop);

    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(address, () => resolve());
      });
    } catch (e) {
      throw new UsageError(`cannot listen at ${address}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    } finally {
      process.umask(oldMask);
    }
    chmodSync(address, 0o600);
    log(`listening at ${address} (pid ${process.pid})`);
    return finished;
  },
};

/** The client's one line, then the connection closed (a paused one would wait for the client's end). */
function say(conn: net.Socket, line: string): void {
  conn.write(line, () => conn.destroy());
}

function closeAll(fds: readonly number[]): void {
  for (const f of fds) try { closeSync(f); } catch { /* closed */ }
}

/**
 * The socket's directory: made 0700 when missing; an existing one must be the service's own and
 * open to no one else. A socket left by a service that died is removed; one that answers is refused.
 */
async function prepareAddress(address: string): Promise<void> {
  const dir = path.dirname(path.resolve(address));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UsageError(`cannot make ${dir} for the service's socket: ${(e as NodeJS.ErrnoException).code}: give --address a path in a directory you may write`);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid!() || (st.mode & 0o077) !== 0) {
    throw new UsageError(`${dir} must be a directory of uid ${process.getuid!()} that no one else may use (mode 0700): it is ${st.isDirectory() ? `uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}` : 'no directory'}: choose another --address or fix it`);
  }
  let existing;
  try { existing = lstatSync(address); } catch { return; }
  if (!existing.isSocket()) throw new UsageError(`${address} exists and is no socket: choose another --address`);
  const answers = await new Promise<boolean>((resolve) => {
    const c = net.connect(address, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
  if (answers) throw new UsageError(`a cryo service already listens at ${address}: stop it first (kill its pid) or give another --address`);
  rmSync(address, { force: true });
}
