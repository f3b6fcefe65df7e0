// Where a unix socket's path name goes at restore, checked before anything is made and again just
// before bind: the path is a clean absolute one (a relative name under its recorded directory),
// nothing on the way is a symbolic link, and restore removes only what the dump left or restore
// made itself: an old socket file at the name that nobody listens on any more (the dumped task's,
// left when it died), and for a name deleted while bound, the directories it had to make. A socket
// file or FIFO at a name deleted while bound (made there since) is parked under a temporary name in
// its directory for the bind and put back right after, as CRIU does; the socket file of a deleted
// name that others connect to waits under a temporary name of its own until they have.

import { closeSync, fstatSync } from 'node:fs';
import path from 'node:path';
import { rawSyscall, SysError, writeU16 } from '../sys/index.js';
import { lookupNoSymlinks, mkdirAt, notCleanAbsolute, openNoSymlinks, renameNoReplace, RESOLVE_BENEATH, statAt, unlinkIfSame, walkLinks } from '../sys/safe-path.js';
import { RestoreError } from '../shared/restore-error.js';
import { guardFileAt, guardMovedAt, type Taken } from '../sys/guardian.js';
import { checkCleanPath, checkImagePath, S_IFDIR } from '../shared/image-paths.js';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

/** What a socket entry says about its name (unix_sk_entry: name, name_dir, deleted, file_perms). */
export interface SocketName {
  /** The path name as bound (without its NUL); relative ones are under `dir`. */
  name: string;
  dir: string | undefined;
  deleted: boolean;
  owner: { uid: number; gid: number } | undefined;
  /** The links the dump met on the way to absolute names (cryo-links.img): the only ones followed. */
  links: ReadonlyMap<string, string>;
}

/** What binding the name needs, as checked. */
export interface BindPlan {
  /** The absolute path of the name, as bound. */
  path: string;
  /** The same with the links the dump saw resolved: where restore looks, makes and unlinks. */
  real: string;
  /** An old, unbound socket file at the path (dev and ino), unlinked before bind. */
  stale?: { dev: number; ino: number };
  /** Directories to make first (outermost first): a deleted name whose directory is gone too. */
  mkdirs: string[];
  /** The file now at a deleted name (dev and ino): moved aside for the bind, then back. */
  park?: { dev: number; ino: number };
}

const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/** The absolute path of a socket name, refused unless clean (a relative name: clean and under its directory). */
export function socketPath(n: SocketName, why: string): string {
  if (n.name.startsWith('/')) {
    checkCleanPath(n.name, `${why} (a unix socket's name)`);
    return n.name;
  }
  if (n.dir === undefined) {
    throw new RestoreError('UNSAFE', `${why} is a unix socket bound to the relative name ${JSON.stringify(n.name)} with no directory recorded (name_dir): cryo will not bind it wherever it runs`);
  }
  checkCleanPath(n.dir, `${why} (the directory of a unix socket's relative name)`);
  const p = path.posix.join(n.dir, n.name);
  if (notCleanAbsolute(p) !== undefined || !p.startsWith(n.dir === '/' ? '/' : `${n.dir}/`) || n.name.split('/').includes('..')) {
    throw new RestoreError('UNSAFE', `${why} is a unix socket bound to the relative name ${JSON.stringify(n.name)}, which leaves its directory ${n.dir}: refusing it (a damaged or crafted image)`);
  }
  return p;
}

/** The socket name's path with the links the dump met resolved (only those, each still pointing where it did). */
export function realPath(n: SocketName, why: string): string {
  const p = socketPath(n, why);
  const walked = walkLinks(dirOf(p), (l, t) => n.links.get(l) === t);
  if ('refused' in walked) {
    throw new RestoreError('UNSAFE', `${why} is a unix socket bound to ${p}: ${walked.refused} is a symbolic link, which the dump did not see (it records real paths): restore does not follow it`);
  }
  return path.posix.join(walked.path, baseOf(p));
}

/** Whether a socket is bound at `real` (its directory open as `dirfd`) now: a connect that is not refused (ECONNREFUSED: an old, unbound file). */
function boundNow(dirfd: number, real: string): boolean {
  const fd = Number(rawSyscall('socket', AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  try {
    // Through the directory's descriptor (checked, no lookup of its path again) unless the real path is shorter (sun_path's limit).
    const viaFd = `/proc/self/fd/${dirfd}/${baseOf(real)}`;
    const where = Buffer.from(viaFd.length <= real.length ? viaFd : real);
    const addr = Buffer.alloc(2 + where.length + 1);
    writeU16(addr, AF_UNIX, 0);
    where.copy(addr, 2);
    try {
      rawSyscall('connect', fd, addr, addr.length);
      return true;
    } catch (e) {
      if (e instanceof SysError && e.code === 'ECONNREFUSED') return false;
      if (e instanceof SysError && e.code === 'ENOENT') return false;
      return true; // EPROTOTYPE (a socket of another type), EAGAIN (a full backlog), ...: someone's socket
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks where `n` will be bound (preflight, and again just before bind): refuses a symbolic link
 * on the way, another kind of file at the name, a socket someone listens on, a socket file of
 * another owner, anything but a socket file or a FIFO at a name that was deleted at dump time (one there is parked), and a
 * missing directory (made only for a deleted name).
 */
export function planBind(n: SocketName, why: string): BindPlan {
  const p = socketPath(n, why);
  const me = `${why} is a unix socket bound to ${p}`;
  if (n.dir !== undefined && !n.name.startsWith('/')) checkImagePath(n.dir, `the directory of ${why}'s socket name`, S_IFDIR);
  const refuseLink = (link: string) => new RestoreError('UNSAFE', `${me}: ${link} is a symbolic link, which the dump did not see (it records real paths): restore does not follow it`);
  const real = realPath(n, why);
  const mkdirs: string[] = [];
  for (let d = dirOf(real); ; d = dirOf(d)) {
    const got = lookupNoSymlinks(d);
    if (got.kind === 'symlink') throw refuseLink(got.link);
    if (got.kind === 'found') {
      if (!got.st.isDirectory()) throw new RestoreError('FILE_CHANGED', `${me}, and ${d} is not a directory now`);
      break;
    }
    if (!n.deleted) throw new RestoreError('UNSUPPORTED', `${me}, whose directory ${dirOf(p)} does not exist`);
    mkdirs.unshift(d);
  }
  if (mkdirs.length > 0) return { path: p, real, mkdirs };
  const at = lookupNoSymlinks(real);
  if (at.kind === 'missing') return { path: p, real, mkdirs };
  if (n.deleted) {
    // Another socket bound at the name since, or a FIFO made there: moved aside for a moment. Never a
    // regular file or a directory (a crafted image could aim the name at someone's data).
    if (at.kind === 'found' && (at.st.isSocket() || at.st.isFIFO())) return { path: p, real, mkdirs, park: { dev: at.st.dev, ino: at.st.ino } };
    throw new RestoreError('FILE_CHANGED', `${me}, a name deleted at dump time, and something is there again now: move it away (restore binds the name and deletes it again)`);
  }
  if (at.kind === 'symlink') throw new RestoreError('UNSAFE', `${me}, and ${p} is a symbolic link now: move it away`);
  if (!at.st.isSocket()) throw new RestoreError('UNSUPPORTED', `${me}, which is taken by another kind of file: move it away`);
  if (n.owner && (at.st.uid !== n.owner.uid || at.st.gid !== n.owner.gid)) {
    throw new RestoreError('UNSAFE', `${me}, and the socket file there belongs to uid/gid ${at.st.uid}/${at.st.gid}, the dumped one to ${n.owner.uid}/${n.owner.gid}: it is not the dump's, remove it yourself if it may go`);
  }
  const dirfd = openNoSymlinks(dirOf(real));
  try {
    if (boundNow(dirfd, real)) throw new RestoreError('UNSAFE', `${me}, and a running socket is bound there now: stop its owner first (restore removes only a socket file nobody uses)`);
  } finally {
    closeSync(dirfd);
  }
  return { path: p, real, mkdirs, stale: { dev: at.st.dev, ino: at.st.ino } };
}

/** What restore made or removed for one bind, to undo (made directories) and to find the bound file again. */
export class BindSite {
  private readonly madeDirs: { dirfd: number; base: string; dev: number; ino: number; unguard: Taken }[] = [];
  /** Descriptors (O_PATH, reached without a symbolic link) of the directories down to the name's. */
  private readonly fds: number[] = [];
  readonly base: string;
  /** The temporary name of a parked file, while it is parked. */
  private parked: string | undefined;
  /** Takes the parked file back from the guard (which moves it back if cryo is killed meanwhile). */
  private unguardPark: Taken = () => {};

  /**
   * Makes the plan's directories and parks its stale socket file (moved aside, removed once the
   * bind is done: a restore failed before that puts it back, so the name is left as it was).
   */
  constructor(readonly plan: BindPlan, why: string) {
    const p = plan.real;
    this.base = baseOf(p);
    this.fds.push(openNoSymlinks(plan.mkdirs.length > 0 ? dirOf(plan.mkdirs[0]!) : dirOf(p)));
    try {
      for (const d of plan.mkdirs) {
        const parent = this.dirfd;
        mkdirAt(parent, baseOf(d), 0o755);
        this.fds.push(openNoSymlinks(baseOf(d), undefined, parent, RESOLVE_BENEATH));
        const st = fstatSync(this.dirfd);
        this.madeDirs.push({ dirfd: parent, base: baseOf(d), dev: st.dev, ino: st.ino, unguard: guardFileAt(parent, baseOf(d), st, true) });
      }
      const park = plan.park ?? plan.stale;
      if (park) {
        const st = statAt(this.dirfd, this.base);
        if (!st || st.dev !== park.dev || st.ino !== park.ino) throw new RestoreError('FAILED', `${why}: the ${plan.stale ? 'old socket file' : 'file'} at ${p} changed while restore ran: it was left alone`);
        const tmp = `.cryo-parked-${process.pid}-${this.base}`.slice(0, 255);
        const unguard = guardMovedAt(this.dirfd, tmp, this.base, park);
        try {
          renameNoReplace(this.dirfd, this.base, tmp);
        } catch (e) {
          unguard();
          throw e;
        }
        this.parked = tmp;
        this.unguardPark = unguard;
      }
    } catch (e) {
      this.undo();
      throw e instanceof SysError ? new RestoreError('FAILED', `${why}: cannot make the directories of the unix socket name ${p}: ${e.message}`) : e;
    }
  }

  /** The name's directory. */
  get dirfd(): number {
    return this.fds[this.fds.length - 1]!;
  }

  /** The bound socket's file: dev and ino, or undefined if no socket is there. */
  boundFile(): { dev: number; ino: number } | undefined {
    const st = statAt(this.dirfd, this.base);
    return st?.isSocket() ? { dev: st.dev, ino: st.ino } : undefined;
  }

  /**
   * Renames the bound socket file (still `file`) to a temporary name in its directory, for peers that
   * connect to a deleted name later (a socket is found by its inode, and keeps the name it was bound
   * with): the path of that name, or undefined if the file is gone.
   */
  moveAside(file: { dev: number; ino: number }): { path: string; unguard: Taken } | undefined {
    const st = statAt(this.dirfd, this.base);
    if (!st || st.dev !== file.dev || st.ino !== file.ino) return undefined;
    // Into the directory that was there before restore (the ones it made go again at undo).
    const tmp = `.cryo-bound-${process.pid}-${file.ino}`;
    // Told before the move: killed until the connectors are done with it, cryo's guard removes it
    // (a kill before the move finds nothing there, and the bound name's own record removes that).
    const unguard = guardFileAt(this.fds[0]!, tmp, file, false);
    try {
      renameNoReplace(this.dirfd, this.base, tmp, this.fds[0]!);
    } catch (e) {
      unguard();
      throw e;
    }
    return { path: path.posix.join(this.plan.mkdirs.length > 0 ? dirOf(this.plan.mkdirs[0]!) : dirOf(this.plan.real), tmp), unguard };
  }

  /**
   * Unlinks the bound file if it is still `file`, puts back a parked file (`bound`: the bind was
   * done, so a stale socket file parked goes instead), then removes the directories restore made
   * (if empty), and closes.
   */
  undo(file?: { dev: number; ino: number }, bound = false): void {
    try {
      if (file) unlinkIfSame(this.dirfd, this.base, file);
      if (this.parked !== undefined && bound && this.plan.stale) {
        unlinkIfSame(this.dirfd, this.parked, this.plan.stale);
        this.parked = undefined;
        this.unguardPark();
      }
      if (this.parked !== undefined) {
        const tmp = this.parked;
        this.parked = undefined;
        try {
          renameNoReplace(this.dirfd, tmp, this.base);
        } catch (e) {
          throw new RestoreError('FAILED', `the file at ${this.plan.path} was moved aside to ${tmp} for a bind and cannot go back (${e instanceof SysError ? e.code : String(e)}): move it back by hand`);
        } finally {
          this.unguardPark();
        }
      }
      for (const m of this.madeDirs.splice(0).reverse()) {
        unlinkIfSame(m.dirfd, m.base, m, true);
        m.unguard();
      }
    } finally {
      for (const fd of this.fds.splice(0)) closeSync(fd);
    }
  }
}
