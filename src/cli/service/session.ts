// One command of a client, run in the service as the CLI would run it: the client's environment
// (CRYO_FAULT and every other variable cryo reads count as the command's), working directory and
// standard descriptors, its signals delivered to the handlers the command installed, its status
// back. Afterwards every per-command global is as before: environment, directory, descriptors,
// signal listeners, fault injection, progress listener, guard, process.exitCode.

import { closeSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { errorLine } from '../error-line.js';
import { cliRunner } from '../runner.js';
import { terminatingSignals } from '../signals.js';
import { setProgressListener } from '../../progress.js';
import { resetFaults } from '../../fault.js';
import { abandonGuard } from '../../sys/guardian.js';
import { muteStdio, useStdio } from './stdio.js';
import type { Request } from './wire.js';

/** How a command ended for its client: its status, or the signal the CLI would have died of. */
export type Outcome = { exit: number } | { signal: number };

/** A command that must run in the caller's own process (the client then runs the CLI), or undefined. */
export function mustRunInCaller(argv: readonly string[]): string | undefined {
  const [name, ...args] = argv;
  // Waiting for another command (a dump or a restore) to connect: the service runs one at a time.
  if (name === 'page-server' || name === 'lazy-pages' || name === 'service') return `${name} waits for another cryo command`;
  // The job joins the caller's session and terminal (only a process in that session can give them),
  // and --inherit-fd names the caller's own descriptors.
  if (name === 'restore' && args.some((a) => a === '--shell-job' || a === '--inherit-fd' || a.startsWith('--inherit-fd='))) return 'restore needs the caller\'s session or descriptors';
  // crit's commands read a whole image from standard input when given none; a read that waits for
  // the caller's terminal or pipe would stop the service, its other clients and their signals.
  if (name !== undefined && name in IMAGE_INPUT && imageInput(IMAGE_INPUT[name]!, args) === '-') return `${name} reads standard input`;
  return undefined;
}

/** Where each image command takes its input: -i/--in, or its one positional argument. */
const IMAGE_INPUT: Record<string, 'option' | 'positional'> = { decode: 'option', encode: 'option', show: 'positional', info: 'positional' };

/** The input an image command names ('-' for standard input, also when it names none). */
function imageInput(kind: 'option' | 'positional', args: readonly string[]): string {
  let named: string | undefined;
  args.forEach((a, i) => {
    if (kind === 'positional') { if (!a.startsWith('-') || a === '-') named = a; return; }
    if (a === '-i' || a === '--in') named = args[i + 1];
    else if (a.startsWith('--in=')) named = a.slice(5);
    else if (/^-i./.test(a)) named = a.slice(2);
  });
  return named ?? '-';
}

function swapEnv(env: Record<string, string>): () => void {
  const own = { ...process.env };
  const set = (to: Record<string, string | undefined>) => {
    for (const k of Object.keys(process.env)) if (!(k in to)) delete process.env[k];
    for (const [k, v] of Object.entries(to)) if (v !== undefined && process.env[k] !== v) process.env[k] = v;
  };
  set(env);
  return () => set(own);
}

export class Session {
  private readonly baseline = new Map<NodeJS.Signals, Function[]>();
  private finish?: (o: Outcome) => void;
  private killedBy?: NodeJS.Signals;
  ended = false;

  constructor(readonly req: Request, private readonly own: [number, number, number], private readonly log: (line: string) => void) {}

  /**
   * Runs the command, telling the client its outcome as soon as it is known (its end, or a signal
   * that ends it); resolves once the command is over and every per-command global is back.
   */
  async run(tell: (o: Outcome) => void): Promise<void> {
    const { req } = this;
    const restoreEnv = swapEnv(req.env);
    const home = process.cwd();
    let undoStdio: (() => void) | undefined;
    try {
      undoStdio = useStdio(req.stdio, this.own);
    } catch (e) {
      for (const fd of req.stdio) try { closeSync(fd); } catch { /* gone */ }
      restoreEnv();
      throw e;
    }
    for (const s of terminatingSignals) this.baseline.set(s, process.listeners(s));
    const ended = new Promise<{ early: Outcome }>((resolve) => { this.finish = (o) => resolve({ early: o }); });
    try {
      process.chdir(req.cwd);
      const command = cliRunner()(req.argv).then((exit) => ({ exit: typeof process.exitCode === 'number' && exit === 0 ? process.exitCode : exit }));
      command.catch(() => {});
      const first = await Promise.race([command, ended]);
      if (!('early' in first)) return tell(first);
      tell(first.early);
      this.ended = true;
      // A signal nothing of the command catches ended it for the client, as it would have ended the
      // CLI. The command runs on, unseen (its output to /dev/null), and the next waits for its end:
      // one command at a time. An error nothing caught may have stopped it for good: no wait then.
      if (this.killedBy !== undefined) {
        muteStdio();
        await command.catch(() => {});
      }
    } catch (e) {
      // The working directory, or a command that threw past main's own catch.
      writeSync(2, `cryo: ${(e as NodeJS.ErrnoException).syscall === 'chdir' ? `cannot enter the working directory ${req.cwd}: ${(e as NodeJS.ErrnoException).code}: the service runs as uid ${process.getuid?.()}` : errorLine(e)}\n`);
      tell({ exit: 1 });
    } finally {
      this.ended = true;
      this.cleanUp(home, restoreEnv, undoStdio);
    }
  }

  /** The client got `signal` (or went away: SIGINT): to the command's handlers, as the CLI's process would. */
  deliver(signal: NodeJS.Signals): void {
    if (this.ended) return;
    const theirs = process.listeners(signal).filter((l) => !(this.baseline.get(signal) ?? []).includes(l));
    if (theirs.length > 0) {
      for (const l of theirs) (l as (s: NodeJS.Signals) => void)(signal);
      return;
    }
    // Nothing of the command catches it: the CLI would have died of it, here and now.
    this.killedBy = signal;
    this.finish?.({ signal: constants.signals[signal] });
  }

  /** An error nothing caught while the command ran: its one line, status 1 (the CLI would have died). */
  fail(e: unknown): void {
    if (this.ended) return;
    try { writeSync(2, `cryo: ${errorLine(e)}\n`); } catch { /* the client's stderr is gone */ }
    this.finish?.({ exit: 1 });
  }

  private cleanUp(home: string, restoreEnv: () => void, undoStdio: (() => void) | undefined): void {
    for (const [s, before] of this.baseline) for (const l of process.listeners(s)) if (!before.includes(l)) process.off(s, l as () => void);
    setProgressListener(undefined);
    resetFaults();
    try { abandonGuard(); } catch (e) { this.log(`guard: ${errorLine(e)}`); }
    process.exitCode = undefined;
    try { process.chdir(home); } catch { /* stays where it is */ }
    undoStdio?.();
    restoreEnv();
  }
}
