// Descriptors, working directory, root and umask, opened inside the task by
// injected calls so the task owns them exactly as a process that opened them.
// Each descriptor kind opens its own files (src/files/, one list in registry.ts);
// this module places them at their numbers, shares open files between their
// descriptors, and sets close-on-exec and the owner, for every kind alike.

import { readdirSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import type { FdRestoreSession } from '../files/kind.js';
import { fdKindOfType } from '../files/registry.js';
import { RestoreError } from '../shared/restore-error.js';
import { imagePathCall, openedImagePath, openImagePath, S_IFDIR } from '../shared/image-paths.js';
import { Injector, type SyscallBatch } from '../inject/index.js';
import { regFile } from '../shared/file-entries.js';
import { finishShmem, shmemFds } from '../shared/shmem.js';
import { SharedState, type TaskCtx } from '../shared/task-ctx.js';
import { FD_CLOEXEC, F_DUPFD_CLOEXEC, F_GETFL, F_SETFL, O_ASYNC, O_CLOEXEC, O_PATH } from '../shared/constants.js';
import { writeI32 } from '../sys/native-endian.js';
import { FdPlan } from './fd-plan.js';
import { batchFor } from './scratch.js';

const F_SETOWN_EX = 15;
const F_SETSIG = 10;

const num = (v: unknown): number => Number((v as bigint | number | undefined) ?? 0);

class Session extends SharedState implements FdRestoreSession {
  constructor(readonly ctx: TaskCtx, readonly high: number) {
    super();
  }
}

/** Closes every descriptor the stub has (normally none). */
function closeStubFds(ctx: TaskCtx, tableMates: readonly TaskCtx[]): void {
  let fds: number[] = [];
  try {
    fds = readdirSync(`/proc/${ctx.pid}/fd`).map(Number);
  } catch { /* none */ }
  // Memory restore keeps the memfd/shmem inodes open for the descriptors made here (in a shared
  // table: those of every process using it).
  const keep = new Set([ctx, ...tableMates].flatMap((c) => shmemFds(c)));
  // And those the tree build made for a kind to take (a session leader's terminal, tty-early.ts).
  const built = ctx.tree.state('buildFds', () => new Map<number, number[]>());
  for (const c of [ctx, ...tableMates]) for (const fd of built.get(c.pid) ?? []) keep.add(fd);
  for (const fd of fds) if (!keep.has(fd)) ctx.call('close', fd);
}

/** Whether the dump recorded a SIGIO owner or signal for the open file. */
const ownerSet = (fown: MessageValue | undefined): boolean => fown !== undefined && (num(fown.pid) !== 0 || num(fown.signum) !== 0);

/** The SIGIO owner and signal of an open file (fown_entry), where one was set. */
function setOwner(ctx: TaskCtx, fd: number, fown: MessageValue | undefined): void {
  if (fown && num(fown.pid) !== 0) {
    // struct f_owner_ex { int type; pid_t pid; }
    const b = Buffer.alloc(8);
    writeI32(b, num(fown.pid_type), 0);
    writeI32(b, num(fown.pid), 4);
    ctx.call('fcntl', fd, F_SETOWN_EX, ctx.put(b, 256));
  }
  if (fown && num(fown.signum) !== 0) ctx.call('fcntl', fd, F_SETSIG, num(fown.signum));
}

/**
 * O_ASYNC (SIGIO to the owner when the file is ready): open() and pipe2() keep the bit without
 * arming it, only F_SETFL does. After the owner, so the first signal goes to the right process.
 */
function setAsync(ctx: TaskCtx, fd: number, entry: MessageValue): void {
  if ((num(entry.flags) & O_ASYNC) === 0) return;
  ctx.call('fcntl', fd, F_SETFL, Number(ctx.call('fcntl', fd, F_GETFL)) | O_ASYNC);
}

/** cwd, root and umask (fs-PID.img). */
function restoreFs(ctx: TaskCtx): void {
  restoreFsAll([ctx]);
}

const rootOf = (ctx: TaskCtx) => String(regFile(ctx.img, Number(ctx.img.fs!.root_id), 'the root directory').name);

/**
 * restoreFs in every process of `ctxs`, the processes' calls side by side: each cwd opened in all
 * at once, then each one's batch started, then each waited for. A process whose root moves
 * (chroot) goes on its own first.
 */
export function restoreFsAll(ctxs: readonly TaskCtx[]): void {
  const plain: TaskCtx[] = [];
  for (const c of ctxs) {
    if (!c.img.fs) continue;
    if (rootOf(c) === '/') plain.push(c);
    else restoreFsChroot(c);
  }
  // Both paths are as cryo sees them (from its root), opened without following a link.
  const cwds = plain.map((c) => String(regFile(c.img, Number(c.img.fs!.cwd_id), 'the working directory').name));
  const calls = plain.map((c, i) => ({ inj: c.inj, ...imagePathCall(c, cwds[i]!, O_PATH | O_CLOEXEC) }));
  const got = Injector.rawTogether(calls);
  const fds = plain.map((c, i) => openedImagePath(c, got[i]!, cwds[i]!, 'the working directory', S_IFDIR));
  const started = plain.map((c, i) => fsBatch(c, fds[i]!).start());
  for (const finish of started) finish();
}

/** fchdir to the working directory's descriptor `cwdFd`, its close and the umask: one stop. */
function fsBatch(ctx: TaskCtx, cwdFd: number): SyscallBatch {
  const batch = batchFor(ctx);
  batch.add('fchdir', cwdFd);
  batch.add('close', cwdFd);
  if (ctx.img.fs!.umask !== undefined) batch.add('umask', Number(ctx.img.fs!.umask));
  return batch;
}

/** restoreFs where the root moves: enter the root by its descriptor (chroot(".")), then the working directory by its own. */
function restoreFsChroot(ctx: TaskCtx): void {
  const fs = ctx.img.fs!;
  const cwd = regFile(ctx.img, Number(fs.cwd_id), 'the working directory');
  const root = regFile(ctx.img, Number(fs.root_id), 'the root directory');
  const cwdFd = openImagePath(ctx, String(cwd.name), O_PATH | O_CLOEXEC, 'the working directory', S_IFDIR);
  try {
    const rootFd = openImagePath(ctx, String(root.name), O_PATH | O_CLOEXEC, 'the root directory', S_IFDIR);
    try {
      ctx.call('fchdir', rootFd);
    } finally {
      ctx.call('close', rootFd);
    }
    ctx.call('chroot', ctx.putString('.'));
  } catch (e) {
    ctx.call('close', cwdFd);
    throw e;
  }
  fsBatch(ctx, cwdFd).flush();
}

/** Open files already made in a process of the tree, by file id: other processes get a copy (one open file description). */
interface Opened { ctx: TaskCtx; fd: number }

/**
 * A new descriptor in `ctx` of the open file `id` (the caller closes it): a copy of the one a
 * process of the tree holds, or, for a file no descriptor names (in flight in a unix queue),
 * one its kind opens here once (kept until the tree's deferred work is done).
 */
export function descriptorOf(ctx: TaskCtx, id: number, why: string): number {
  const inTree = ctx.tree.state('files', () => new Map<number, Opened>());
  let held = inTree.get(id);
  if (!held) {
    const file = ctx.img.files.get(id);
    const kind = file && fdKindOfType(file.type);
    const entry = kind && (file[kind.field] as MessageValue | undefined);
    if (!file || !kind || !entry) throw new RestoreError('UNSUPPORTED', `${why}: file ${id} in flight is a ${String(file?.type ?? 'missing')} file cryo cannot restore`);
    const fds = ctx.img.fdinfo.map((f) => num(f.fd));
    const session = new Session(ctx, Math.max(0, ...fds) + 1);
    const fd = kind.restore({ ctx, session, file, entry, fdi: {}, target: -1, why: `${why}, file ${id} in flight` });
    session.runLater();
    setOwner(ctx, fd, entry.fown as MessageValue | undefined);
    setAsync(ctx, fd, entry);
    held = { ctx, fd };
    inTree.set(id, held);
    ctx.tree.later(() => ctx.call('close', fd));
  }
  return held.ctx === ctx ? Number(ctx.call('fcntl', held.fd, F_DUPFD_CLOEXEC, 0)) : ctx.importFd(held.ctx, held.fd);
}

/**
 * Every descriptor of the task at its number, then cwd/root/umask (`opts.deferFs`: the caller's
 * restoreFsAll, with the other processes' of a tree). `opts.deferShmem`: the shared
 * memory objects stay parked (other processes of a tree still take them) until `finishShmem`.
 * `opts.tableOf`: the process whose descriptor table this one shares (CLONE_FILES), which places
 * the descriptors for both; `opts.tableMates`: the processes sharing this one's table.
 */
export function restoreFiles(ctx: TaskCtx, opts: { deferShmem?: boolean; tableOf?: TaskCtx; tableMates?: readonly TaskCtx[]; deferFs?: boolean } = {}): void {
  if (opts.tableOf) {
    if (!opts.deferShmem) finishShmem(ctx);
    if (!opts.deferFs) restoreFs(ctx);
    return;
  }
  closeStubFds(ctx, opts.tableMates ?? []);
  // Lowest target first: openat returns the lowest free number, never one already placed.
  const fds = [...ctx.img.fdinfo].sort((a, b) => num(a.fd) - num(b.fd));
  const session = new Session(ctx, Math.max(0, ...fds.map((f) => num(f.fd))) + 1);
  // Descriptors of one file id share one open file description (offset, flags), as dup made them.
  const opened = new Map<number, number>();
  const inTree = ctx.tree.state('files', () => new Map<number, Opened>());
  // Kinds reach files in flight through it (src/files/unix-socket.ts), without importing this module.
  ctx.tree.state('descriptorOf', () => descriptorOf);
  // Copies and moves wait for the next call whose result matters, and go in one batch with it.
  const plan = new FdPlan(ctx);
  for (const fdi of fds) {
    const target = num(fdi.fd);
    const cloexec = (num(fdi.flags) & FD_CLOEXEC) !== 0;
    const twin = opened.get(num(fdi.id));
    if (twin !== undefined) {
      plan.dup(twin, target, cloexec);
      continue;
    }
    const other = inTree.get(num(fdi.id));
    if (other !== undefined) {
      plan.import(other.ctx, other.fd, target, cloexec);
      opened.set(num(fdi.id), target);
      continue;
    }
    const file = ctx.img.files.get(num(fdi.id))!;
    const kind = fdKindOfType(file.type);
    const entry = kind && (file[kind.field] as MessageValue | undefined);
    if (!kind || !entry) throw new RestoreError('UNSUPPORTED', `fd ${target} is a ${String(file.type)} descriptor cryo cannot restore`);
    plan.flush();
    const fd = kind.restore({ ctx, session, file, entry, fdi, target, why: `fd ${target}` });
    plan.place(fd, target, cloexec);
    const fown = entry.fown as MessageValue | undefined;
    if (ownerSet(fown) || (num(entry.flags) & O_ASYNC) !== 0) {
      plan.flush();
      setOwner(ctx, target, fown);
      setAsync(ctx, target, entry);
    }
    opened.set(num(fdi.id), target);
    inTree.set(num(fdi.id), { ctx, fd: target });
  }
  plan.flush();
  session.runLater();
  if (!opts.deferShmem) finishShmem(ctx);
  if (!opts.deferFs) restoreFs(ctx);
}
