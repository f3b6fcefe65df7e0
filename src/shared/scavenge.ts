// A minor garbage collection on demand: run before a task is frozen, so that V8's young generation
// is empty and no scavenge pauses cryo while the task waits (a small dump allocates less than it holds).
import { runInNewContext } from 'node:vm';

type Gc = (o: { type: 'minor'; execution: 'sync' }) => void;
let gc: Gc | null | undefined;

/**
 * Empties V8's young generation now, where the process was started with V8's --expose-gc (the CLI's
 * loader sets it: a context made after that has `gc`); else does nothing. Setting the flag here
 * would make V8 warn on stderr under --jitless.
 */
export function scavengeNow(): void {
  if (gc === undefined) gc = runInNewContext("typeof gc === 'function' ? gc : null") as Gc | null;
  gc?.({ type: 'minor', execution: 'sync' });
}
