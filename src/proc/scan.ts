// A scan of every process of the machine (not only the dumped ones) for their descriptors. How many
// processes run is not the dumped tasks' state: the whole scan is one fault point, its reads uncounted.
import { faultPoint, uncounted } from '../fault.js';
import { listFds, readFdTarget, type FdTarget } from './fd.js';
import { procGone, ProcReadError, readProcDir } from './read.js';

/**
 * Whether a /proc failure about a process the operation does not own lets a scan pass it by: it
 * ended (or closed the descriptor), or the kernel does not let cryo look (a process in another user
 * namespace, PID 1 of a container).
 */
export function passBy(e: unknown): boolean {
  return procGone(e) || (e instanceof ProcReadError && (e.code === 'EACCES' || e.code === 'EPERM'));
}

function orElse<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (e) {
    if (passBy(e)) return fallback;
    throw e;
  }
}

/** Calls `visit` with every descriptor of every process that `skip` leaves in; `what` names the fault point. */
export function scanProcessFds(what: string, skip: (pid: number) => boolean, visit: (pid: number, fd: number, target: FdTarget) => void): void {
  faultPoint(what);
  uncounted(() => {
    for (const name of readProcDir('/proc')) {
      if (!/^\d+$/.test(name) || skip(Number(name))) continue;
      const pid = Number(name);
      for (const fd of orElse(() => listFds(pid), [] as number[])) {
        const target = orElse<FdTarget | undefined>(() => readFdTarget(pid, fd), undefined);
        if (target) visit(pid, fd, target);
      }
    }
  });
}
