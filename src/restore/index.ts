/**
 * src/restore: `cryo restore` as a library call. Preflight (everything before the point of no
 * return) -> stub with the dumped PID -> memory -> files -> task state -> rt_sigreturn -> detach.
 * After the stub exists, any failure kills and reaps it: nothing is left behind.
 */
import { writeFileSync } from 'node:fs';
import { hostArch } from '../arch/index.js';
import { waitpid, WNOHANG, exited, exitCode, signaled, termSig } from '../sys/index.js';
import { RestoreError, oneLine } from './errors.js';
import type { RestoreEvent, RestorePhase } from './events.js';
import { loadImages } from './images.js';
import { rebuildMemory } from './memory.js';
import { preflight } from './preflight.js';
import { resumeTask } from './resume.js';
import { startStub } from './stub.js';
import { TaskCtx } from './task-ctx.js';
import { restoreFiles } from './files.js';
import { GhostFiles } from './ghost-files.js';
import { checkCreds, installSeccomp, queueSignals, restoreCreds, restoreTaskState, restoreThreadState } from './task-state.js';
import { checkThreads, createThreads } from './threads.js';

export { RestoreError, type RestoreErrorCode } from './errors.js';
export type { RestoreEvent, RestorePhase } from './events.js';
export { loadImages, type RestoreImages } from './images.js';
export { preflight } from './preflight.js';

export interface RestoreOptions {
  /** The image directory (`-D`). */
  dir: string;
  /** Do not offer wait(): the caller lets the task run on its own (`-d`). */
  detach?: boolean;
  /** Let a task that was not a session leader join cryo's session (`--shell-job`). */
  shellJob?: boolean;
  /** Restore established TCP connections through TCP repair (`--tcp-established`); else they are refused. */
  tcpEstablished?: boolean;
  /** Write the restored PID here once it runs. */
  pidfile?: string;
  /** Aborts the restore between steps (a restore that has started kills the half-restored task). */
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent) => void;
}

export interface ExitStatus {
  /** Exit code when the task exited, else null. */
  code: number | null;
  /** Killing signal number when it was killed, else null. */
  signal: number | null;
}

export interface RestoreResult {
  pid: number;
  /** Resolves when the restored task ends (it is cryo's child); absent with `detach`. */
  wait?: () => Promise<ExitStatus>;
}

/** The test hook: CRYO_RESTORE_FAIL_AT=<phase> makes that phase fail (for tests of the cleanup). */
function testHook(phase: RestorePhase): void {
  if (process.env.CRYO_RESTORE_FAIL_AT === phase) throw new Error(`test hook: failing at ${phase} (CRYO_RESTORE_FAIL_AT)`);
}

function waitFor(pid: number): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    const poll = () => {
      try {
        const r = waitpid(pid, WNOHANG);
        if (r.pid === pid && exited(r.status)) return resolve({ code: exitCode(r.status), signal: null });
        if (r.pid === pid && signaled(r.status)) return resolve({ code: null, signal: termSig(r.status) });
      } catch (e) {
        return reject(e);
      }
      setTimeout(poll, 20);
    };
    poll();
  });
}

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const emit = opts.onEvent ?? (() => {});
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new RestoreError('ABORTED', 'the restore was aborted');
  };
  const img = { ...loadImages(opts.dir), fdOptions: { tcpEstablished: opts.tcpEstablished ?? false } };
  const pid = img.pid;
  const phase = (p: RestorePhase) => {
    checkAbort();
    emit({ type: 'phase', phase: p, pid });
    testHook(p);
  };
  phase('preflight');
  const arch = await hostArch();
  preflight(img, arch);
  checkThreads(img, arch);
  for (const t of img.threads) checkCreds(t.core);
  if (Number(img.pstree.sid) !== pid && !opts.shellJob) {
    throw new RestoreError('UNSUPPORTED', `process ${pid} was in session ${img.pstree.sid} it does not lead (a shell job): restore it with --shell-job`);
  }
  checkAbort();

  emit({ type: 'phase', phase: 'stub', pid });
  const stub = startStub(pid);
  const ghosts = new GhostFiles(img);
  try {
    testHook('stub');
    const ctx = new TaskCtx(pid, arch, img, emit);
    // Deleted files the task had open or mapped exist again only while the task opens them.
    ghosts.createAll();
    phase('memory');
    rebuildMemory(ctx);
    phase('files');
    restoreFiles(ctx);
    ghosts.remove();
    phase('task-state');
    restoreTaskState(ctx, { shellJob: opts.shellJob ?? false });
    // Threads are made while the task still has cryo's privileges (clone3 with set_tid needs them).
    const threads = createThreads(ctx, stub);
    for (const t of threads) restoreThreadState(t);
    // Signals, seccomp filters and credentials are each thread's own.
    const all = [ctx, ...threads];
    for (const t of all) queueSignals(t);
    for (const t of all) installSeccomp(t);
    for (const t of all) restoreCreds(t);
    phase('resume');
    resumeTask(ctx, threads);
  } catch (e) {
    stub.kill();
    ghosts.remove();
    if (e instanceof RestoreError && e.code !== 'PID_TAKEN') {
      throw new RestoreError(e.code === 'ABORTED' ? 'ABORTED' : 'FAILED', `${e.message} (the half-restored process ${pid} was killed)`, { cause: e });
    }
    if (e instanceof RestoreError) throw e;
    throw new RestoreError('FAILED', `restoring process ${pid} failed: ${oneLine(e)} (the half-restored process was killed)`, { cause: e });
  }
  emit({ type: 'phase', phase: 'running', pid });
  if (opts.pidfile) writeFileSync(opts.pidfile, `${pid}\n`);
  return opts.detach ? { pid } : { pid, wait: () => waitFor(pid) };
}
