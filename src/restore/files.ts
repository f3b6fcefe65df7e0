// Descriptors, working directory, root and umask, opened inside the task by
// injected calls so the task owns them exactly as a process that opened them.

import { readdirSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from './errors.js';
import { openInTask } from './memory.js';
import { regFile } from './preflight.js';
import type { TaskCtx } from './task-ctx.js';

/** Open flags the kernel drops after open; passing them again would create or truncate. */
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_NOCTTY = 0o400;
const O_TRUNC = 0o1000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const FD_CLOEXEC = 1;
const SEEK_SET = 0;
const F_SETFD = 2;
const F_SETOWN_EX = 15;
const F_SETSIG = 10;

/** Closes every descriptor the stub has (normally none). */
function closeStubFds(ctx: TaskCtx): void {
  let fds: number[] = [];
  try {
    fds = readdirSync(`/proc/${ctx.pid}/fd`).map(Number);
  } catch { /* none */ }
  for (const fd of fds) ctx.call('close', fd);
}

function restoreFd(ctx: TaskCtx, fdi: MessageValue, opened: Map<number, number>): void {
  const target = Number(fdi.fd);
  const why = `fd ${target}`;
  const cloexec = (Number(fdi.flags) & FD_CLOEXEC) !== 0;
  // Descriptors of one file id share one open file description (offset, flags), as dup made them.
  const twin = opened.get(Number(fdi.id));
  if (twin !== undefined) {
    ctx.call('dup3', twin, target, cloexec ? O_CLOEXEC : 0);
    return;
  }
  opened.set(Number(fdi.id), target);
  const reg = regFile(ctx.img, Number(fdi.id), why);
  const flags = Number(reg.flags) & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
  const fd = openInTask(ctx, String(reg.name), flags, why);
  const pos = BigInt(reg.pos as bigint);
  if (pos !== 0n) {
    const r = ctx.raw('lseek', fd, pos, SEEK_SET);
    if (r < 0n) throw new RestoreError('FAILED', `cannot seek ${reg.name} (${why}) to ${pos}: errno ${-r}`);
  }
  if (fd !== target) {
    ctx.call('dup3', fd, target, cloexec ? O_CLOEXEC : 0);
    ctx.call('close', fd);
  } else if (cloexec) {
    ctx.call('fcntl', target, F_SETFD, FD_CLOEXEC);
  }
  const fown = reg.fown as MessageValue | undefined;
  if (fown && Number(fown.pid) !== 0) {
    // struct f_owner_ex { int type; pid_t pid; }
    const b = Buffer.alloc(8);
    b.writeInt32LE(Number(fown.pid_type), 0);
    b.writeInt32LE(Number(fown.pid), 4);
    ctx.call('fcntl', target, F_SETOWN_EX, ctx.put(b, 256));
  }
  if (fown && Number(fown.signum) !== 0) ctx.call('fcntl', target, F_SETSIG, Number(fown.signum));
}

/** cwd, root and umask (fs-PID.img). */
function restoreFs(ctx: TaskCtx): void {
  const fs = ctx.img.fs;
  if (!fs) return;
  const root = regFile(ctx.img, Number(fs.root_id), 'the root directory');
  if (String(root.name) !== '/') {
    const at = ctx.putString(String(root.name));
    ctx.call('chroot', at);
  }
  const cwd = regFile(ctx.img, Number(fs.cwd_id), 'the working directory');
  const fd = openInTask(ctx, String(cwd.name), O_PATH | O_CLOEXEC, 'the working directory');
  try {
    ctx.call('fchdir', fd);
  } finally {
    ctx.call('close', fd);
  }
  if (fs.umask !== undefined) ctx.call('umask', Number(fs.umask));
}

export function restoreFiles(ctx: TaskCtx): void {
  closeStubFds(ctx);
  // Lowest target first: openat returns the lowest free number, never one already placed.
  const fds = [...ctx.img.fdinfo].sort((a, b) => Number(a.fd) - Number(b.fd));
  const opened = new Map<number, number>();
  for (const fdi of fds) restoreFd(ctx, fdi, opened);
  restoreFs(ctx);
}
