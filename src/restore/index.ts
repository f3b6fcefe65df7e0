/**
 * src/restore: `cryo restore` as a library call. Preflight (everything before the point of no
 * return) -> stub with the dumped PID -> memory -> files -> task state -> rt_sigreturn -> detach.
 * After the stub exists, any failure kills and reaps it and every process made from it: nothing is
 * left behind. CRYO_FAULT (src/fault.ts) injects failures for the tests of that.
 */
import { restoreSemUndo } from './sem-undo.js';
import { CgroupPlacement, type CgroupMode } from './cgroups.js';
import type { CgroupRoots } from '../shared/cgroup-root.js';
import { readSemUndo } from '../images/cryo-sem-undo.js';
import { fstatSync, writeFileSync } from 'node:fs';
import { hostArch } from '../arch/index.js';
import type { Arch } from '../arch/types.js';
import { waitpid, WNOHANG, exited, exitCode, signaled, termSig } from '../sys/index.js';
import { RestoreError, oneLine } from '../shared/restore-error.js';
import type { RestoreEvent, RestorePhase } from '../shared/restore-events.js';
import { loadTree, type RestoreImages, type TreeEntry } from '../shared/restore-images.js';
import { checkImageHashes, checkImageOwnership, type PendingHashes } from './image-trust.js';
import { rebuildMemory } from './memory.js';
import { keepInherited } from './inherited.js';
import { dumpPageSize } from './page-size.js';
import { handOverLazy } from './lazy.js';
import { fileFactsOf, preflight } from './preflight.js';
import { threadInfoOf } from './preflight-arch.js';
import { resumeTasks } from './resume.js';
import { startStub } from './stub.js';
import { batchFor, inheritScratch } from './scratch.js';
import { TaskCtx, TreeShare } from '../shared/task-ctx.js';
import { buildTree, planTree, TreeStubs } from './tree.js';
import { finishShmem } from '../shared/shmem.js';
import { restoreFiles, restoreFsAll } from './files.js';
import { GhostFiles } from './ghost-files.js';
import { ghostFiles } from './ghost-images.js';
import { standInForDead } from './dead-pids.js';
import { SysvIpc } from './sysv-ipc.js';
import { installSeccomp, queueSignals, restorePosixTimers, restoreThreadStates, startTaskState } from './task-state.js';
import { checkCreds, checkPidRight, restoreCreds } from './task-creds.js';
import { checkThreads, createThreads } from './threads.js';
import { checkProcAttrs, restoreProcAttrs } from './proc-attrs.js';
import { checkLocks, lockEntries, restoreLocks } from '../files/locks.js';
import { finishThreadPidfds } from '../files/pidfd.js';
import type { MessageValue } from '../images/value.js';
import { beginFaults, faultStep, FaultInjected } from '../fault.js';
import { beginGuard, guardProcess } from '../sys/guardian.js';
import { prctl, readU32 } from '../sys/index.js';
import { EarlyTerminals } from '../files/tty-early.js';
import type { NetworkLock } from '../shared/fd-options.js';

export { RestoreError, type RestoreErrorCode } from '../shared/restore-error.js';
export type { RestoreEvent, RestorePhase } from '../shared/restore-events.js';
export { loadImages, loadTree, type RestoreImages, type RestoreTree, type TreeEntry } from '../shared/restore-images.js';
export { preflight } from './preflight.js';

export interface RestoreOptions {
  /** The image directory (`-D`). */
  dir: string;
  /** Do not offer wait(): the caller lets the task run on its own (`-d`). */
  detach?: boolean;
  /** Leave the dump's lazy pages to `cryo lazy-pages -D DIR` (started first): the task runs before they arrive. */
  lazyPages?: boolean;
  /** Let a task that was not a session leader join cryo's session (`--shell-job`). */
  shellJob?: boolean;
  /** Restore established TCP connections through TCP repair (`--tcp-established`); else they are refused. */
  tcpEstablished?: boolean;
  /** Restore TCP connections closed and unbound, as CRIU's --tcp-close (the peer is gone, say). */
  tcpClose?: boolean;
  /** The dump's network lock to remove once the connections exist (CRIU's --network-lock): iptables where the machine has it. */
  networkLock?: NetworkLock;
  /**
   * Files the caller hands over instead of letting restore make them, as CRIU's --inherit-fd
   * fd[N]:KEY: every descriptor of the dumped file named KEY ('pipe:[INODE]', the name dump's
   * --external took) is the caller's descriptor `fd` (of this process), opened again in the task.
   */
  inheritFd?: readonly { fd: number; key: string }[];
  /**
   * Recreate a deleted set-id file the task had open with its set-user-ID/set-group-ID bits even
   * when a process holding it could gain by them (it runs as another user than the file's owner,
   * and not as root): `--allow-setid-files`. Without it such a dump is refused.
   */
  allowSetidFiles?: boolean;
  /** Put the processes back into their cgroups ('soft', the default, as CRIU's) or leave them in cryo's ('ignore'). */
  manageCgroups?: CgroupMode;
  /** Where the tree's dumped cgroups go per hierarchy (CRIU's --cgroup-root at restore). */
  cgroupRoots?: CgroupRoots;
  /** Write the restored PID here once it runs. */
  pidfile?: string;
  /** Aborts the restore between steps (a restore that has started kills the half-restored task). */
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent) => void;
  /** The machine's Arch, when not the one cryo probes itself (tests simulate a kernel's answers with it). */
  arch?: Arch;
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

const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;

/**
 * Makes cryo the reaper of the processes it makes while it builds them (a process whose parent is
 * killed by a failed restore comes to cryo, which collects it); returns the undo.
 */
function becomeReaper(): () => void {
  const was = Buffer.alloc(4);
  prctl(PR_GET_CHILD_SUBREAPER, was);
  if (readU32(was, 0) !== 0) return () => {};
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  return () => { prctl(PR_SET_CHILD_SUBREAPER, 0); };
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

/** --inherit-fd: each key once, each descriptor open in cryo and a pipe (the only kind taken so far). */
function inheritedFds(list: readonly { fd: number; key: string }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const { fd, key } of list) {
    if (!/^pipe:\[\d+\]$/.test(key)) throw new RestoreError('UNSUPPORTED', `--inherit-fd fd[${fd}]:${key}: cryo inherits pipes only (pipe:[INODE])`);
    if (out.has(key)) throw new RestoreError('UNSUPPORTED', `--inherit-fd names ${key} twice`);
    let st;
    try {
      st = fstatSync(fd);
    } catch (e) {
      throw new RestoreError('FILE_MISSING', `--inherit-fd fd[${fd}]:${key}: cryo has no descriptor ${fd} (${(e as NodeJS.ErrnoException).code ?? e}): pass the pipe to cryo as its fd ${fd}`);
    }
    if (!st.isFIFO()) throw new RestoreError('FILE_CHANGED', `--inherit-fd fd[${fd}]:${key}: cryo's descriptor ${fd} is not a pipe`);
    out.set(key, fd);
  }
  return out;
}

/** The dump's pages are this machine's (pages shared with a parent are compared and dropped by the page). */
const samePageSize = (ctx: TaskCtx) => dumpPageSize(ctx.img, ctx.arch.pageSize) === ctx.arch.pageSize;

/** What a descriptor of a process is, for messages: its path, or its kind. */
function fileName(ctx: TaskCtx, fd: number): string {
  const fdi = ctx.img.fdinfo.find((f) => Number(f.fd) === fd);
  const file = fdi && ctx.img.files.get(Number(fdi.id));
  const reg = file?.reg as MessageValue | undefined;
  return reg ? String(reg.name) : `fd ${fd} (${String(file?.type ?? 'unknown')})`;
}

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const endFaults = beginFaults('restore');
  // Started first: a guard started later could take a PID the tree needs.
  const endGuard = beginGuard(true);
  try {
    return await restoreTree(opts);
  } catch (e) {
    // A fault before the stub: nothing was started.
    if (e instanceof FaultInjected) throw new RestoreError('FAILED', e.message, { cause: e });
    throw e;
  } finally {
    endGuard();
    endFaults();
  }
}

async function restoreTree(opts: RestoreOptions): Promise<RestoreResult> {
  const emit = opts.onEvent ?? (() => {});
  checkImageOwnership(opts.dir);
  // Before any image is decoded: an altered image is named as such, not by what it breaks.
  const hashes = checkImageHashes(opts.dir, (message) => emit({ type: 'warning', message }));
  try {
    return await restoreChecked(opts, emit, hashes);
  } finally {
    hashes.stop();
  }
}

async function restoreChecked(opts: RestoreOptions, emit: (e: RestoreEvent) => void, hashes: PendingHashes): Promise<RestoreResult> {
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new RestoreError('ABORTED', 'the restore was aborted');
  };
  const tree = loadTree(opts.dir);
  const fdOptions = {
    tcpEstablished: opts.tcpEstablished ?? false, tcpClose: opts.tcpClose ?? false, shellJob: opts.shellJob ?? false, inheritFds: inheritedFds(opts.inheritFd ?? []),
    networkLock: opts.networkLock,
    allowSetidFiles: opts.allowSetidFiles ?? false,
  };
  const procs = tree.entries.filter((e) => !e.zombie).map((e) => ({ ...e.img!, fdOptions }));
  const img = procs[0]!;
  const pid = img.pid;
  // A named step: an event, and a place CRYO_FAULT can fail or pause at; signals are heard between steps.
  const phase = async (p: RestorePhase) => {
    await new Promise((r) => setImmediate(r));
    checkAbort();
    emit({ type: 'phase', phase: p, pid });
    await faultStep(p, (message) => emit({ type: 'warning', message }), () => opts.signal?.aborted ?? false);
    checkAbort();
  };
  await phase('preflight');
  const arch = opts.arch ?? await hostArch();
  checkPidRight(pid);
  const cgroups = new CgroupPlacement(opts.dir, opts.manageCgroups ?? 'soft', opts.cgroupRoots);
  // The main thread's core names the set (older CRIU images: the task core).
  const setOf = (p: { core: MessageValue }) => Number((p.core.thread_core as MessageValue | undefined)?.cg_set ?? (p.core.tc as MessageValue | undefined)?.cg_set ?? 0);
  // Each hierarchy the processes go back into is reachable (a temporary mount for one not mounted
  // here). The tree's own cgroups are made now, before its files are looked for (a descriptor may
  // be one of them), and removed again if the restore fails.
  const { locks, ipc, helpers } = (() => {
    try {
      cgroups.check(procs.map((p) => ({ pid: p.pid, set: setOf(p) })));
      cgroups.makeDirs(pid);
      // cryo-files.img is the tree's: read once.
      const fileFacts = fileFactsOf(img.dir);
      const filesFound = new Set<string>();
      for (const p of procs) {
        // The root's PID first; the others' all at once in planTree.
        preflight(p, arch, { fileFacts, filesFound, pidCheckedWithTree: p !== img });
        checkThreads(p, arch);
        for (const t of p.threads) checkCreds(t.core);
        checkProcAttrs(p.core.tc as MessageValue | undefined, p.pid);
      }
      const locks = lockEntries(img.all);
      checkLocks(locks, (p) => {
        const proc = procs.find((x) => x.pid === p);
        return proc && new Set(proc.fdinfo.map((f) => Number(f.fd)));
      });
      const ipc = new SysvIpc(img.all);
      ipc.check();
      const helpers = planTree(tree, opts.shellJob ?? false);
      checkAbort();
      return { locks, ipc, helpers };
    } catch (e) {
      cgroups.end(true);
      throw e;
    }
  })();

  emit({ type: 'phase', phase: 'stub', pid });
  const endReaper = becomeReaper();
  let stubs: TreeStubs;
  try {
    stubs = new TreeStubs(startStub(pid));
  } catch (e) {
    endReaper();
    cgroups.end(true);
    throw e;
  }
  const ghosts = new GhostFiles(img);
  let endStandIns = () => {};
  const what = tree.entries.length > 1 ? `tree of process ${pid}` : `process ${pid}`;
  const share = new TreeShare();
  try {
    await faultStep('stub', (message) => emit({ type: 'warning', message }), () => opts.signal?.aborted ?? false);
    checkAbort();
    // Deleted files the task had open or mapped exist again only while the task opens them.
    ghosts.createAll();
    // System V objects first: the processes attach their segments with their memory.
    ipc.createAll();
    await phase('memory');
    // Session leaders take their terminals before their members are made (they inherit them).
    const terminals = new EarlyTerminals(img.all);
    const ctxByPid = new Map<number, TaskCtx>();
    const byPid = new Map(procs.map((p) => [p.pid, p]));
    const archOf = (p: RestoreImages) => arch.forThreadInfo(threadInfoOf(p, arch));
    // Each process gets its memory back before the children that inherit it are made (inherited.ts):
    // those of its own ABI (another's would start with the wrong vDSO).
    const inherits = (child: TreeEntry, parent: TreeEntry) => child.zombie || parent.zombie || archOf(byPid.get(child.pid)!) === archOf(byPid.get(parent.pid)!);
    buildTree(tree, stubs, helpers, arch, { inherits, settle: (e, building) => {
      const p = byPid.get(e.pid)!;
      // Made from its restored parent, or (another ABI) before the parent's memory came back.
      const parent = ctxByPid.get(e.ppid);
      // Each process with the Arch of the ABI it was dumped in (x86_64 runs ia32 processes too).
      // The build's injector serves on (its syscall instruction is the one the parent's calls ran on).
      const ctx = new TaskCtx(p.pid, archOf(p), p, emit, p.pid, parent?.syscallPage, building);
      ctx.tree = share;
      ctx.lazyPages = opts.lazyPages ?? false;
      if (parent) {
        ctx.inj.argArea = parent.inj.argArea; // its stack is gone: argument blocks go to its copy of the parent's scratch
        if (!ctx.lazyPages && samePageSize(ctx) && samePageSize(parent)) keepInherited(ctx, parent.img);
        inheritScratch(ctx, parent);
      }
      ctxByPid.set(p.pid, ctx);
      rebuildMemory(ctx, parent?.img);
      return { inj: ctx.inj, scratch: ctx.scratch!.addr, batch: batchFor(ctx), scratchSize: ctx.scratch!.size };
    } }, (e, sys) => terminals.take(e, sys));
    // Traced, they die with cryo (PTRACE_O_EXITKILL); from their resume on, the guard kills them.
    for (const p of procs) guardProcess(p.pid);
    terminals.share(share);
    const ctxs = procs.map((p) => ctxByPid.get(p.pid)!);
    // Kinds reach other processes of the tree (a session leader takes its controlling terminal).
    share.state('ctxByPid', () => new Map(ctxs.map((c) => [c.pid, c])));
    ipc.detach();
    const lazy = ctxs.filter((c) => c.lazyFd !== undefined).map((c) => ({ pid: c.pid, fd: c.lazyFd! }));
    if (lazy.length > 0) await handOverLazy(opts.dir, lazy);
    await phase('files');
    endStandIns = standInForDead(ghostFiles(img).deadPids);
    // Shared memory objects and pipe ends stay parked until every process took its copy.
    // Processes sharing a descriptor table (CLONE_FILES, made so by buildTree): the first places the descriptors.
    const tableOwner = new Map<number, TaskCtx>();
    const tableOf = (c: TaskCtx) => Number(c.img.ids.files_id);
    for (const ctx of ctxs) if (!tableOwner.has(tableOf(ctx))) tableOwner.set(tableOf(ctx), ctx);
    for (const ctx of ctxs) {
      const owner = tableOwner.get(tableOf(ctx))!;
      const mates = ctxs.filter((c) => c !== ctx && tableOf(c) === tableOf(ctx));
      restoreFiles(ctx, { deferShmem: true, tableOf: owner === ctx ? undefined : owner, tableMates: mates, deferFs: true });
    }
    restoreFsAll(ctxs);
    for (const ctx of ctxs) finishShmem(ctx);
    share.runLater();
    share.runAtEnd();
    ghosts.remove();
    endStandIns();
    // File locks last among the files: their owners hold every descriptor now.
    for (const ctx of ctxs) restoreLocks(ctx, locks, (fd) => fileName(ctx, fd));
    // Semaphore undo values: the sets exist, and no process runs yet.
    const semUndo = readSemUndo(opts.dir);
    for (const ctx of ctxs) restoreSemUndo(ctx, semUndo);
    await phase('task-state');
    const threadsOf = new Map<TaskCtx, TaskCtx[]>();
    // Each process's batch runs while the next one's is made: then one wait for each.
    const started = ctxs.map((ctx) => startTaskState(ctx, { shellJob: opts.shellJob ?? false, sessionDone: true }));
    for (const finish of started) finish();
    for (const ctx of ctxs) {
      restoreProcAttrs(ctx, ctx.img.core.tc as MessageValue | undefined);
      // Threads are made while the task still has cryo's privileges (clone3 with set_tid needs them).
      const threads = createThreads(ctx, stubs.of(ctx.pid));
      restoreThreadStates(threads);
      restorePosixTimers(ctx);
      // What only one thread may do (an io_uring ring only its submitter thread may use).
      ctx.runWithThreads(threads);
      threadsOf.set(ctx, threads);
    }
    // Back into their cgroups, threads and all, before any of it runs.
    for (const ctx of ctxs) cgroups.place(ctx.pid, setOf(ctx.img));
    // Pidfds of threads: their threads exist now.
    finishThreadPidfds(ctxs);
    // Signals, seccomp filters and credentials are each thread's own.
    const all = ctxs.flatMap((ctx) => [ctx, ...threadsOf.get(ctx)!]);
    for (const t of all) queueSignals(t);
    for (const ctx of ctxs) installSeccomp([ctx, ...threadsOf.get(ctx)!]);
    for (const t of all) restoreCreds(t);
    // The pages' hashes, computed meanwhile on another thread: nothing dumped runs before they match.
    await hashes.verified();
    await phase('resume');
    // Children first: the root runs on last, when its whole tree is back.
    resumeTasks([...ctxs].reverse().map((ctx) => ({ ctx, threads: threadsOf.get(ctx)! })));
  } catch (e) {
    stubs.kill();
    cgroups.end(true);
    endStandIns();
    endReaper();
    ghosts.remove();
    ghosts.finishLinkRemaps(false);
    try { share.runAtEnd(); } catch { /* the restore's own error says more */ }
    ipc.removeAll();
    if (e instanceof RestoreError && e.code !== 'PID_TAKEN') {
      throw new RestoreError(e.code === 'ABORTED' ? 'ABORTED' : 'FAILED', `${e.message} (the half-restored ${what} was killed)`, { cause: e });
    }
    if (e instanceof RestoreError) throw e;
    throw new RestoreError('FAILED', `restoring ${what} failed: ${oneLine(e)} (the half-restored ${what === 'process ' + pid ? 'process' : what} was killed)`, { cause: e });
  }
  endReaper();
  cgroups.end(false);
  ghosts.finishLinkRemaps(true);
  emit({ type: 'phase', phase: 'running', pid });
  if (opts.pidfile) writeFileSync(opts.pidfile, `${pid}\n`);
  return opts.detach ? { pid } : { pid, wait: () => waitFor(pid) };
}
