// Helpers for descriptors the kernel makes without a path (anon_inode: eventfd, epoll, ...).
import type { DumpFd } from './kind.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { RestoreError } from '../shared/restore-error.js';
import { F_SETFL } from '../shared/constants.js';

/** Whether the descriptor is anon_inode:[NAME] (or anon_inode:NAME). */
export const isAnon = (c: DumpFd, name: string): boolean => c.target.kind === 'anon' && c.target.anonKind === name;

/** Runs an injected call whose failure is the user's problem, as one line naming the call and the descriptor. */
export function taskCall(ctx: TaskCtx, why: string, name: string, ...args: (bigint | number)[]): bigint {
  const r = ctx.raw(name, ...args);
  if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from ${name}() restoring ${why}`);
  return r;
}

/** The file status flags (O_NONBLOCK, ...) as they were: F_SETFL changes only the ones it may. */
export function setFileFlags(ctx: TaskCtx, fd: number, flags: number): void {
  ctx.call('fcntl', fd, F_SETFL, flags);
}
