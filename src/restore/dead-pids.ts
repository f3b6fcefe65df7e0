// /proc files of processes that had died at dump time (remap-fpath.img PROCFS entries: a descriptor
// of /proc/PID/..., a working directory in /proc/PID). While the tree opens its files, a stand-in
// process has each such PID (made stopped by clone3 with set_tid, as CRIU's helpers are); then it
// is killed and collected, and what the tree opened is a dead process's file again.
import { kill, spawn, waitpid, __WALL } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';

/** Starts the stand-ins; returns what ends them all (safe to call more than once). */
export function standInForDead(pids: Iterable<number>): () => void {
  const made: number[] = [];
  const end = () => {
    for (const pid of made.splice(0)) {
      try {
        kill(pid, 9);
        waitpid(pid, __WALL);
      } catch { /* gone already */ }
    }
  };
  try {
    // Highest first: after a clone3 with set_tid the kernel hands out the PIDs above it next, and
    // a thread of cryo's must not take the next dead process's PID meanwhile.
    for (const pid of [...pids].sort((x, y) => y - x)) {
      try {
        made.push(spawn({ path: '/bin/true', setTid: [pid], stopBeforeExec: true, keepFds: [] }));
      } catch (e) {
        throw new RestoreError('PID_TAKEN', `cannot give PID ${pid} to a stand-in for the dead process whose /proc files the dump holds: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    end();
    throw e;
  }
  return end;
}
