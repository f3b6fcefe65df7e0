/**
 * Starting a process with a chosen PID: clone3 with set_tid, done in C because the child of a
 * multi-threaded process (Node) may only do async-signal-safe work before execve.
 */
import { SysError } from './errno.js';
import { native, type NativeError } from './native.js';

export interface SpawnOptions {
  /** Program to execute (absolute path; no PATH search). */
  path: string;
  /** Arguments including argv[0]; default [path]. */
  argv?: string[];
  /** Environment as an object or 'K=V' strings; default process.env. */
  env?: Record<string, string | undefined> | string[];
  /**
   * PIDs to give the child, one per PID-namespace level, innermost first (clone3 set_tid).
   * Empty or absent: any PID. Needs CAP_SYS_ADMIN over the namespaces.
   */
  setTid?: number[];
  /** The child calls PTRACE_TRACEME before execve (it stops with SIGTRAP after the exec). */
  traceMe?: boolean;
  /**
   * The child stops itself with SIGSTOP before execve (waitpid sees the stop). Such a helper (a
   * stand-in holding a PID, a probe) gets SIGKILL when cryo dies (PR_SET_PDEATHSIG): nothing else
   * would end it. CRYO_GUARD=off leaves that out (tests show with it what it prevents).
   */
  stopBeforeExec?: boolean;
  /** Descriptors the child keeps; all others are closed before execve. Default [0, 1, 2]. */
  keepFds?: number[];
  /** Working directory of the child. */
  cwd?: string;
}

/**
 * Starts `path` in a new child process and returns its PID. The caller must reap it (waitpid).
 * Failures are SysErrors naming the call: `EEXIST from clone3(set_tid=[1234])`,
 * `ENOENT from execve(/no/such)` (an exec failure is reported and the child reaped, unless
 * stopBeforeExec is set: then the child is stopped before exec and an exec failure shows as exit code 127).
 */
export function spawn(opts: SpawnOptions): number {
  const env = Array.isArray(opts.env)
    ? opts.env
    : Object.entries(opts.env ?? process.env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
  const setTid = opts.setTid ?? [];
  try {
    return native().spawn({
      path: opts.path,
      argv: opts.argv ?? [opts.path],
      env,
      setTid,
      traceMe: opts.traceMe ?? false,
      stopBeforeExec: opts.stopBeforeExec ?? false,
      dieWithParent: (opts.stopBeforeExec ?? false) && process.env.CRYO_GUARD !== 'off',
      keepFds: opts.keepFds ?? [0, 1, 2],
      cwd: opts.cwd ?? null,
    });
  } catch (err) {
    const e = err as NativeError;
    if (e && typeof e.errno === 'number') {
      const call = e.syscall === 'clone3' ? `clone3(set_tid=[${setTid.join(', ')}])`
        : e.syscall === 'execve' ? `execve(${opts.path})`
        : e.syscall === 'chdir' ? `chdir(${opts.cwd})`
        : `${e.syscall}()`;
      throw new SysError(e.errno, call);
    }
    throw err;
  }
}
