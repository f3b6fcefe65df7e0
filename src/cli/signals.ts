// The signals that end a process unless it catches them, as far as Node lets JS catch them
// (SIGKILL and SIGSTOP cannot be caught; SIGSEGV, SIGBUS, SIGFPE and SIGILL are Node's own;
// SIGUSR1 starts Node's inspector; SIGPIPE is ignored by Node). While a dump or a restore runs
// the CLI catches all of these, so that any of them ends it the way an error does: the dumped
// task left as it was, a half-restored tree killed and nothing it made left behind.

import { constants } from 'node:os';

const TERMINATING = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU', 'SIGXFSZ',
  'SIGTRAP', 'SIGABRT', 'SIGSYS', 'SIGPOLL', 'SIGPWR', 'SIGSTKFLT',
] as const;

/** V8's sampling profiler (node --cpu-prof or --prof) ticks with SIGPROF: then it is not ours to catch. */
const profiled = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--cpu-prof') || a === '--prof');

/** The terminating signals this platform has, by name. */
export const terminatingSignals: readonly NodeJS.Signals[] = TERMINATING
  .filter((s) => s in constants.signals)
  .filter((s) => !(profiled && s === 'SIGPROF'));

/** Calls `onSignal` for each terminating signal until the returned function is called. */
export function catchTerminatingSignals(onSignal: (signal: NodeJS.Signals) => void): () => void {
  for (const s of terminatingSignals) process.on(s, onSignal);
  return () => {
    for (const s of terminatingSignals) process.off(s, onSignal);
  };
}
