// The host side of a restored unix socket's name: binding it where planBind allows (old socket
// files, made directories, owner and mode through the bound file), and connecting to a peer's name.
import { closeSync, fstatSync, chmodSync, chownSync } from 'node:fs';
import { sleepSync, writeU16 } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { MessageValue } from '../images/value.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { taskCall } from './anon.js';
import { collectUnixGarbage } from './unix-queue.js';
import { O_CLOEXEC, O_PATH, num } from '../shared/constants.js';
import { BindSite, planBind } from './unix-names.js';
import { openNoSymlinks, RESOLVE_BENEATH, unlinkIfSame } from '../sys/safe-path.js';
import { guardFileAt, type Taken } from '../sys/guardian.js';
import { openImagePath, S_IFDIR } from '../shared/image-paths.js';
import { AF_UNIX, SOCKADDR_AT, bytes, fsPath, isPathName, showName, socketName } from './unix-sk-entry.js';

function sockaddr(ctx: TaskCtx, name: Buffer): [bigint, number] {
  const b = Buffer.alloc(2 + name.length);
  writeU16(b, AF_UNIX, 0);
  name.copy(b, 2);
  return [ctx.put(b, SOCKADDR_AT), b.length];
}

/** A deleted name's socket file, kept under a temporary name until its peers connected (told to the guard: `unguard`). */
export interface AsideName { path: string; dev: number; ino: number; unguard: Taken }

const EADDRINUSE = 98n;

/**
 * An abstract name (or an autobind): the dumped tree's own sockets that only in-flight SCM_RIGHTS
 * messages keep (a loop of sockets sent in each other's queues) hold their names until the kernel's
 * unix garbage collector frees them, which it does only when descriptors are passed again: on a
 * taken name cryo has it run, then asks again for up to a second before the name counts as another
 * socket's.
 */
function bindAbstract(ctx: TaskCtx, fd: number, name: Buffer, why: string): void {
  const [at, len] = sockaddr(ctx, name);
  for (let i = 0; ; i++) {
    const r = ctx.raw('bind', fd, at, len);
    if (r >= 0n) return;
    if (i === 0 && r === -EADDRINUSE) collectUnixGarbage();
    if (r !== -EADDRINUSE || i === 50) {
      const taken = r === -EADDRINUSE ? `: the name ${showName(name)} is taken by another socket on this machine` : '';
      throw new RestoreError('FAILED', `errno ${-r} from bind() restoring ${why}${taken}`);
    }
    sleepSync(20);
  }
}

/**
 * Binds the task's socket to its name, where planBind says it may: an old socket file nobody
 * uses goes first (as CRIU; parked until the bind is done), a deleted name is unlinked again (with the directories made for it),
 * or with `connectors`, moved aside for them (returned; unlinkAside removes it).
 * Owner and mode go on through the bound file itself, never by a path that could lead elsewhere.
 */
export function bindName(ctx: TaskCtx, fd: number, e: MessageValue, why: string, connectors = false): AsideName | undefined {
  const name = bytes(e.name);
  if (!isPathName(name)) {
    bindAbstract(ctx, fd, name, why);
    return undefined;
  }
  const n = socketName(ctx.img, e);
  const site = new BindSite(planBind(n, why), why);
  const p = site.plan.path;
  let bound: { dev: number; ino: number } | undefined;
  let aside: AsideName | undefined;
  let done = false;
  let unguardBound: Taken = () => {};
  try {
    // A relative name stays relative (getsockname tells it): bound from its directory, as CRIU.
    // The task's working directory is set after the descriptors.
    const rel = !n.name.startsWith('/');
    if (rel) {
      const dir = openImagePath(ctx, n.dir!, O_PATH | O_CLOEXEC, `the directory of ${why}'s socket name`, S_IFDIR);
      // Closed after: a failure fails the restore, whose half-restored task goes with its descriptors
      // (a close in a finally would be one more call, whose own failure hid the first).
      taskCall(ctx, why, 'fchdir', dir);
      ctx.call('close', dir);
    }
    const [at, len] = sockaddr(ctx, rel ? name : Buffer.from(p));
    const r = ctx.raw('bind', fd, at, len);
    if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from bind(${p}) restoring ${why}`);
    bound = site.boundFile();
    if (!bound) throw new RestoreError('FAILED', `bind(${p}) restoring ${why} left no socket file there`);
    // Until the name is settled: killed meanwhile, cryo's guard removes it and puts the parked file back.
    unguardBound = guardFileAt(site.dirfd, site.base, bound, false);
    const perms = e.file_perms as MessageValue | undefined;
    if (perms) {
      const f = openNoSymlinks(site.base, O_PATH, site.dirfd, RESOLVE_BENEATH);
      try {
        if (fstatSync(f).ino !== bound.ino) throw new RestoreError('FAILED', `the socket file ${p} changed while restore ran (${why})`);
        // Through the descriptor (its /proc link is the file itself); set-id bits mean nothing on a socket.
        chownSync(`/proc/self/fd/${f}`, num(perms.uid), num(perms.gid));
        chmodSync(`/proc/self/fd/${f}`, num(perms.mode) & 0o1777);
      } finally {
        closeSync(f);
      }
    }
    if (e.deleted === true && connectors) {
      const at = site.moveAside(bound);
      if (at !== undefined) aside = { ...at, ...bound };
    }
    done = true;
  } finally {
    // Failed: the bound file goes and the old one (parked) comes back; done: a deleted name's file
    // goes (unless moved aside for its connectors), and the old one parked.
    try {
      site.undo(!done || (e.deleted === true && aside === undefined) ? bound : undefined, done);
    } finally {
      unguardBound();
    }
  }
  return aside;
}

/** Unlinks a name moved aside by bindName, if it is still that socket file. */
export function unlinkAside(a: AsideName): void {
  try {
    const dirfd = openNoSymlinks(a.path.slice(0, a.path.lastIndexOf('/')) || '/');
    try {
      unlinkIfSame(dirfd, a.path.slice(a.path.lastIndexOf('/') + 1), a);
    } finally {
      closeSync(dirfd);
    }
  } finally {
    a.unguard();
  }
}

/** Connects the task's socket to `peer` by its name, or by the name it was moved aside to. */
export function connectTo(ctx: TaskCtx, fd: number, peer: MessageValue, why: string, aside?: AsideName): void {
  const name = bytes(peer.name);
  const addr = aside ? Buffer.from(aside.path) : isPathName(name) ? Buffer.from(fsPath(ctx.img, peer, why)) : name;
  const [at, len] = sockaddr(ctx, addr);
  const r = ctx.raw('connect', fd, at, len);
  if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from connect(${showName(addr)}) restoring ${why}`);
}
