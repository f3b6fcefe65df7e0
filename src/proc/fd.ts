// /proc/PID/fd: which descriptors are open and what their links say they are.
import { procGone, procPath, readProcDir, readProcLink, type Pid } from './read.js';
import { splitDeleted } from './maps.js';

/** Descriptor numbers, ascending. */
export function listFds(pid: Pid): number[] {
  return readProcDir(procPath(pid, 'fd'))
    .map(Number)
    .sort((a, b) => a - b);
}

export function readFdLink(pid: Pid, fd: number): string {
  return readProcLink(procPath(pid, `fd/${fd}`));
}

/** What a /proc/PID/fd/N link target says about the descriptor. */
export type FdTarget =
  /** A path in the file system (regular file, directory, device, FIFO, memfd...; fstat tells which). */
  | { kind: 'path'; path: string; deleted: boolean }
  | { kind: 'pipe'; inode: bigint }
  | { kind: 'socket'; inode: bigint }
  /** anon_inode:[eventfd] / anon_inode:inotify ...; anonKind without brackets. */
  | { kind: 'anon'; anonKind: string }
  /** A namespace file such as net:[4026531833]. */
  | { kind: 'namespace'; nsType: string; inode: bigint }
  | { kind: 'unknown'; target: string };

/** anon_inode names the kernel uses (without brackets): eventfd, eventpoll, timerfd, signalfd, inotify, fanotify, pidfd, bpf-map, bpf-prog, io_uring, userfaultfd, perf_event, ... */
export function classifyFdLink(target: string): FdTarget {
  if (target.startsWith('/')) return { kind: 'path', ...splitDeleted(target) };
  if (target.startsWith('anon_inode:')) return { kind: 'anon', anonKind: target.slice(11).replace(/^\[(.*)\]$/, '$1') };
  const m = /^([a-z_]+):\[(\d+)\]$/.exec(target);
  if (m) {
    if (m[1] === 'pipe') return { kind: 'pipe', inode: BigInt(m[2]!) };
    if (m[1] === 'socket') return { kind: 'socket', inode: BigInt(m[2]!) };
    return { kind: 'namespace', nsType: m[1]!, inode: BigInt(m[2]!) };
  }
  return { kind: 'unknown', target };
}

export function readFdTarget(pid: Pid, fd: number): FdTarget {
  return classifyFdLink(readFdLink(pid, fd));
}

/** Process `pid`'s socket inodes, each with its lowest descriptor (empty once it is gone). */
export function socketFds(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const fd of listFds(pid)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readFdLink(pid, fd));
        if (m && !out.has(Number(m[1]))) out.set(Number(m[1]), fd);
      } catch (e) {
        if (!procGone(e)) throw e; // closed meanwhile
      }
    }
  } catch (e) {
    if (!procGone(e)) throw e;
  }
  return out;
}
