// A minor garbage collection on demand: run before a task is frozen, so that V8's young generation
// is empty and no scavenge pauses cryo while the task waits (a small dump allocates less than it holds).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (o: { type: 'minor'; execution: 'sync' }) => void;
let gc: Gc | null | undefined;

/** Empties V8's young generation now; does nothing where the runtime refuses. */
export function scavengeNow(): void {
  if (gc === undefined) {
    try {
      // A context made after the flag is set has `gc` (the flag has no other effect).
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as Gc;
    } catch {
      gc = null;
    }
  }
  gc?.({ type: 'minor', execution: 'sync' });
}
