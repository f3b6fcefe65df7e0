/**
 * dump(): checkpoint a process tree (PID and all its descendants, every thread) into CRIU 4.2 images.
 *
 * Freeze (PTRACE_SEIZE + INTERRUPT), read all state it can from outside (/proc, ptrace, syscalls
 * on the PID, pidfd_getfd), inject the few syscalls only the task can answer into a scratch page,
 * write the images, then undo every change (undo list) and kill the task or let it run on.
 * Whatever fails (the event callback included), and on abort (opts.signal), the task is left
 * exactly as it was and detached. CRYO_FAULT (src/fault.ts) injects failures for the tests of that.
 */
import { semUndoHolders } from './sem-undo.js';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:os';
import { hostArch } from '../arch/index.js';
import { UndoList, InjectError, runStepsTogether, type InjectedCall, type Steps } from '../inject/index.js';
import { ProcReadError, readStatus, readComm, readLocksLater } from '../proc/index.js';
import { SysError, WaitError, __WALL, kill, waitpid } from '../sys/index.js';
import type { ImageFileKey, MessageValue } from '../images/index.js';
import { newTracking, takeTracking } from './mem-track.js';
import { TRACK_FILE } from './track-method.js';
import type { Snapshot } from './snapshot.js';
import { keepMemory, keepablePids } from './mm-keeper.js';
import { DumpError } from '../shared/dump-error.js';
import { Events, type DumpEvent, type DumpResult } from './events.js';
import { ImageSet } from './image-set.js';
import { dumpToPageServer, type PageServerTarget } from './to-page-server.js';
import type { PageServerClient } from '../page-server/client.js';
import { checkDumpable, checkNotCryosLine } from './task-state.js';
import { detachAll } from './threads.js';
import { FileTable } from './files.js';
import { removeLinkRemaps } from '../shared/link-remap.js';
import { checkOutsidePipes, checkTree, freezeTree, type TreeMember } from './tree.js';
import { processIds, processImages, startProcess, type DumpedProcess, type StartedProcess } from './process.js';
import { writeTreeImages } from './tree-images.js';
import { attachesOf, dumpSysvIpc } from './sysv-ipc.js';
import { finishTtys } from '../files/tty-dump.js';
import { hostLsmType } from './lsm.js';
import { beginFaults, faultStep, faultsOff, faultsOn, FaultInjected } from '../fault.js';
import { beginGuard } from '../sys/guardian.js';
import { collectCgroups } from './cgroups.js';
import { ownNamespaces } from '../shared/namespaces.js';
import type { CgroupRoots } from '../shared/cgroup-root.js';
import type { NetworkLock } from '../shared/fd-options.js';
import { scavengeNow } from '../shared/scavenge.js';

export { DumpError, type DumpErrorCode } from '../shared/dump-error.js';
export type { DumpEvent, DumpResult } from './events.js';
export { readCryoFileStats, CRYO_FILES_IMAGE, CRYO_FILES_MAGIC, type CryoFileStat } from '../images/cryo-image.js';

export interface DumpOptions {
  pid: number;
  /** Image directory; created 0700 when missing. */
  dir: string;
  /** Leave the task running after the dump (default: kill it, as CRIU does). */
  leaveRunning?: boolean;
  /** The task may be in a session/process group led by a process that is not dumped. */
  shellJob?: boolean;
  /** Dump established TCP connections through TCP repair (`--tcp-established`); else they are refused. */
  tcpEstablished?: boolean;
  /** Dump TCP connections without TCP repair, to be restored closed (`--tcp-close`, as CRIU's). */
  tcpClose?: boolean;
  /** What keeps a repaired connection's peer from resetting it until restore (CRIU's --network-lock): iptables where the machine has it. */
  networkLock?: NetworkLock;
  /** Resources partly outside the tree that may be dumped anyway, as CRIU's --external names them: 'pipe:[INODE]'. */
  external?: readonly string[];
  /** Unix sockets whose peer is outside the dump are dumped (datagram sockets to a named peer, reconnected at restore), as CRIU's --ext-unix-sk. */
  extUnixSk?: boolean;
  /** The most data of a deleted file the dump copies (CRIU's --ghost-limit, bytes; default 1 MiB). */
  ghostLimit?: bigint;
  /** The tree's own cgroup per hierarchy (CRIU's --cgroup-root at dump): kept with its subtree. */
  cgroupRoots?: CgroupRoots;
  /**
   * A pre-dump: the task's state is written and it runs on (leaveRunning), and from now on cryo
   * tracks the pages it writes, so that a later dump with prevImagesDir writes only those.
   */
  preDump?: boolean;
  /** The dump this one builds on (CRIU's --prev-images-dir; relative paths are relative to `dir`): pages unchanged since are left to it. */
  prevImagesDir?: string;
  /** Go on tracking written pages after this dump (CRIU's --track-mem); takes effect with leaveRunning. */
  trackMem?: boolean;
  /** Send the pages to a page server (`cryo page-server`, or CRIU's) instead of keeping them in `dir`. */
  pageServer?: PageServerTarget;
  /**
   * Called with the complete images before the task is ended (with leaveRunning: once it runs on
   * again), e.g. to send them down a stream; when it throws, the dump fails and the task runs on.
   */
  deliver?: (dir: string, images: readonly string[]) => Promise<void>;
  /**
   * When the dump ends the task: its memory outlives it until result.releaseMemory() (src/dump/mm-keeper.ts),
   * so that its PID is free without waiting for the kernel to free the memory (cryo migrate).
   */
  keepMemory?: boolean;
  smapsAhead?: import('./smaps-ahead.js').SmapsAhead; // /proc/PID/smaps read before the freeze (cryo migrate)
  /** Aborts the dump: the task is restored as it was and detached, dump() throws DumpError ABORTED. */
  signal?: AbortSignal;
  onEvent?: (e: DumpEvent) => void;
}

const SIG = constants.signals;
/** The longest a dump's checkpoints go without a turn of the event loop. */
const TURN_MS = 2;

/** Turns errors from the lower layers into DumpErrors with one clear line. */
function asDumpError(e: unknown, pid: number): DumpError {
  if (e instanceof DumpError) return e;
  if (e instanceof FaultInjected) return new DumpError('FAILED', e.message, { cause: e });
  if (e instanceof ProcReadError && e.gone) return new DumpError('NO_PROCESS', `no process ${pid} (it ended during the dump)`, { cause: e });
  if (e instanceof SysError && e.code === 'ESRCH') return new DumpError('NO_PROCESS', `no process ${pid} (it ended during the dump: ${e.message})`, { cause: e });
  if (e instanceof SysError && (e.code === 'EPERM' || e.code === 'EACCES')) {
    return new DumpError('PERMISSION', `${e.message}: not allowed to trace task ${pid} (run cryo as root or as its owner, and check kernel.yama.ptrace_scope)`, { cause: e });
  }
  if (e instanceof SysError || e instanceof InjectError || e instanceof WaitError || e instanceof ProcReadError) {
    return new DumpError('FAILED', `dump of task ${pid} failed: ${e.message}`, { cause: e });
  }
  return new DumpError('FAILED', `dump of task ${pid} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

export async function dump(opts: DumpOptions): Promise<DumpResult> {
  const endFaults = beginFaults('dump');
  // Started now, not first while the task is frozen (sem-undo.ts asks for it; writeLast needs it).
  const endGuard = beginGuard(true);
  try {
    if (opts.pageServer === undefined) return await dumpTree(opts);
    return await dumpToPageServer(opts, opts.pageServer, (await hostArch()).pageSize, dumpTree);
  } finally {
    endGuard();
    endFaults();
  }
}

/** `pageServer`: the task's pages stream there while it is frozen (dump --page-server). */
async function dumpTree(opts: DumpOptions, pageServer?: PageServerClient): Promise<DumpResult> {
  const { pid } = opts;
  const events = new Events(opts.onEvent);
  const emit = events.emit;
  if (!Number.isInteger(pid) || pid <= 0) throw new DumpError('NO_PROCESS', `no process ${pid}: a PID is a positive integer`);
  if (!existsSync(`/proc/${pid}`)) throw new DumpError('NO_PROCESS', `no process ${pid}`);
  // A turn of the event loop (an abort from outside, image files made ahead) at most every
  // TURN_MS: a turn costs 30-150 us, and a tree-50 dump passes ~300 checkpoints while frozen.
  let turnAt = performance.now();
  const checkpoint = async (): Promise<void> => {
    if (performance.now() - turnAt >= TURN_MS) {
      await new Promise((r) => setImmediate(r));
      turnAt = performance.now();
    }
    if (opts.signal?.aborted) throw new DumpError('ABORTED', `dump of task ${pid} was interrupted; the task runs on as it was`);
  };
  // A named step: an event, and a place CRYO_FAULT can fail or pause at.
  const step = async (name: Extract<DumpEvent, { type: 'stage' }>['stage'] | 'scratch'): Promise<void> => {
    if (name !== 'scratch') emit({ type: 'stage', stage: name });
    await faultStep(name, (message) => emit({ type: 'warning', message }), () => opts.signal?.aborted ?? false);
  };

  try {
    checkDumpable(pid, readStatus(pid));
    checkNotCryosLine(pid);
  } catch (e) {
    throw asDumpError(e, pid);
  }
  const leaveRunning = (opts.leaveRunning ?? false) || (opts.preDump ?? false);
  const continueTracking = (opts.preDump ?? false) || ((opts.trackMem ?? false) && leaveRunning);
  let parentDir: string | undefined;
  if (opts.prevImagesDir !== undefined) {
    parentDir = path.resolve(opts.dir, opts.prevImagesDir);
    if (!existsSync(parentDir)) throw new DumpError('FAILED', `--prev-images-dir ${opts.prevImagesDir}: ${parentDir} does not exist (the path is relative to the images directory, as CRIU's)`);
  }
  const arch = await hostArch();
  const tracking = parentDir !== undefined ? takeTracking(parentDir, pid, arch.pageSize) : continueTracking ? newTracking(arch.pageSize) : undefined;
  const images = new ImageSet(opts.dir, emit);
  const undo = new UndoList();
  const t0 = performance.now();
  // Every thread seized so far: each is detached again whatever happens.
  const seized = new Set<number>();
  // Processes found stopped (a stopped job), with their stop signal: stopped again when let go.
  const stopped = new Map<number, number>();
  let members: TreeMember[] = [];
  let pagesWritten = 0;
  let inventory: MessageValue | undefined;
  let keepable: number[] = [];
  // A task left running gets its images written once it runs again (see 'write').
  let writeLater: (() => void) | undefined;
  // Image files to make once the task runs again (see precreate below).
  let makeLater: [ImageFileKey, number | undefined][] = [];
  // Descriptors' state; kinds may hold some until the dump ends (files.finish).
  const files = new FileTable(pid, { tcpEstablished: opts.tcpEstablished ?? false, tcpClose: opts.tcpClose ?? false, extUnixSk: opts.extUnixSk ?? false, shellJob: opts.shellJob ?? false, leaveRunning, ghostLimit: opts.ghostLimit, networkLock: opts.networkLock });
  images.onRetract(() => removeLinkRemaps(files.linkRemaps));
  // Snapshots of processes whose pages are written once they run again (snapshot.ts): only for a
  // plain dump that leaves the task running (no chain of dumps, no page server).
  const snapshots: Snapshot[] = [];
  const takesSnapshots = leaveRunning && tracking === undefined && pageServer === undefined;
  const endSnapshots = (): void => { for (const s of snapshots.splice(0)) s.end(); };
  // Each one's pages, written after the task is let go.
  const laterPages: (() => void)[] = [];
  try {
    await step('seize');
    scavengeNow();
    members = freezeTree(pid, seized, stopped);
    tracking?.adopt();
    files.treeTids = new Set(members.flatMap((m) => m.tids));
    const frozenAt = performance.now();
    const locks = readLocksLater(); // while frozen (the tree's locks hold still); awaited below
    locks.catch(() => { /* or the dump failed first */ });
    const filesOwner = checkTree(members, opts.shellJob ?? false);
    const listedFds = checkOutsidePipes(members, opts.external ?? []);
    // Each process's images are created on libuv's threads while cryo works on the frozen tree
    // (ext4 here: 0.3-0.8 ms of kernel time per file, 7 files per process). A task left running
    // gets only its pages images while frozen: the rest are made once it runs again, not competing
    // with the frozen work for the cores (small: ~5 ms of CPU in the freeze).
    const live = members.filter((m) => !m.zombie);
    const ids = live.map((_, i) => processIds(i));
    const toMake: [ImageFileKey, number | undefined][] = [
      ...members.filter((m) => m.zombie).map((m): [ImageFileKey, number] => ['core', m.pid]),
      ...live.flatMap((m, i) => processImages(m, ids[i]!, { ownFiles: !filesOwner.has(m.pid), pages: pageServer === undefined })),
      ['pstree', undefined], ['seccomp', undefined], ['statsDump', undefined],
    ];
    const whileFrozen = ([k]: [ImageFileKey, unknown]): boolean => !leaveRunning || k === 'pages' || k === 'pagemap';
    images.precreate(toMake.filter(whileFrozen));
    makeLater = toMake.filter((k) => !whileFrozen(k));
    await checkpoint();

    // One file table for the whole tree: an open file shared by processes gets one id.
    const procs: DumpedProcess[] = [];
    let memTime = 0;
    let memWriteTime = 0;
    const pageStats = { scanned: 0, written: 0, skippedParent: 0 };
    const coreIds = new Map(live.map((m, i) => [m.pid, ids[i]!.coreId]));
    const undoHolders = semUndoHolders(live);
    const started: StartedProcess[] = [];
    const ownNs = ownNamespaces();
    for (const [i, m] of live.entries()) {
      // A process sharing its parent's descriptor table (CLONE_FILES) names that table's id and has no fdinfo of its own.
      const owner = filesOwner.get(m.pid);
      const filesId = owner === undefined ? undefined : coreIds.get(owner)!;
      // The parks of the processes sharing its table are open when it dumps its files (opened below for all at once).
      const othersFds = () => live.flatMap((o, j) => (filesOwner.get(o.pid) === m.pid ? started[j]?.cryoFds() ?? [] : []));
      started.push(await startProcess(m, { arch, images, undo, files, emit, step, checkpoint, ...ids[i]!, filesId, tracking, parentDir, continueTracking, semUndo: undoHolders.has(m.pid), ownNamespaces: ownNs, pageServer, smapsAhead: opts.smapsAhead, othersFds, listedFds: listedFds.get(m.pid), ...(takesSnapshots ? { snapshots } : {}) }));
    }
    // Every process's first call (its call-ending area's mmap) at once, then every scratch page's:
    // each waits to be scheduled, not one after another.
    runStepsTogether(started.map(mmapStep));
    runStepsTogether(started.map((s) => mmapStep(s.scratch())));
    // Their batch areas in lockstep, then every batch started, then each waited for: each runs
    // while cryo waits for another. Every batch is waited for before the first failure is thrown.
    runStepsTogether(started.map((s) => s.area()));
    for (const s of started) s.launch();
    let failed: { e: unknown } | undefined;
    for (const s of started) {
      try { s.settle(); } catch (e) { failed ??= { e }; }
    }
    if (failed !== undefined) throw failed.e;
    // Each one's threads read, then every batch area unmapped in lockstep (two calls each).
    for (const s of started) await s.threads();
    runStepsTogether(started.map((s) => s.unmapArea()));
    for (const s of started) {
      const p = await s.finish();
      procs.push(p);
      memTime += p.memTime;
      memWriteTime += p.memWriteTime;
      pageStats.scanned += p.pages.scanned;
      pageStats.written += p.pages.written;
      pageStats.skippedParent += p.pages.skippedParent;
      const later = p.laterPages;
      if (later !== undefined) {
        laterPages.push(() => {
          const r = later();
          pageStats.scanned += r.scanned;
          pageStats.written += r.written;
          memWriteTime += r.writeMs;
          pagesWritten = pageStats.written;
        });
      }
    }
    pagesWritten = pageStats.written;
    if (opts.keepMemory) keepable = keepablePids(procs);
    files.treeDumped();
    finishTtys(files, new Set(live.map((m) => m.pid)), opts.shellJob ?? false);
    // A POSIX lock of the tree that no descriptor showed would be lost: refuse instead.
    files.locks.checkComplete(await locks, new Set(live.map((m) => m.pid)));

    // Write the images: what is read of the tree (its cgroups, System V objects, zombies' names)
    // while it is frozen; the rest, known already, once it runs again when it is left running.
    await step('write');
    // Which cgroups each process is in: its threads' cores name its set (as CRIU's do).
    const cgroups = collectCgroups(live.map((m) => m.pid), opts.cgroupRoots);
    for (const p of procs) for (const t of p.threads) t.threadCore.cg_set = cgroups.ofPid.get(p.pid)!;
    const zombies = members.filter((x) => x.zombie).map((m) => ({ m, comm: readComm(m.pid) }));
    const semUndo = procs.flatMap((p) => p.semUndo);
    dumpSysvIpc(images, Number(procs[0]!.rootIds.ipc_ns_id), new Set(live.map((m) => m.pid)),
      procs.flatMap((p) => attachesOf(p.pid, p.mm.vmas as MessageValue[])), arch.pageSize, new Set(semUndo.map((u) => u.semid)));
    const t3 = performance.now();
    const us = (a: number, b: number) => Math.round((b - a) * 1000);
    const write = (): void => writeTreeImages({
      images, arch, procs, members, zombies, files, semUndo, cgroupEntry: cgroups.entry,
      ...(parentDir !== undefined ? { parent: { dir: parentDir, given: opts.prevImagesDir! } } : {}),
      stats: {
        freezingUs: us(t0, frozenAt), frozenUs: us(frozenAt, t3), memTime, memWriteTime, ...pageStats,
      },
    });
    if (leaveRunning) writeLater = write;
    else write();
    await checkpoint();
    inventory = {
      img_version: 2, fdinfo_per_id: true, root_ids: procs[0]!.rootIds, ns_per_id: true, root_cg_set: cgroups.ownSet, lsmtype: hostLsmType(),
      network_lock_method: 0, plugins_entry: {}, dump_criu_run_id: randomUUID(),
    };
  } catch (e) {
    endSnapshots();
    const err = asDumpError(e, pid);
    tracking?.end();
    await images.settle();
    images.retract();
    faultsOff();
    events.silence();
    if (seized.size > 0) {
      emit({ type: 'stage', stage: 'undo' });
      const failures = [...files.finish(true), ...undo.run()];
      detachAll(seized, stopped);
      if (failures.length > 0) throw new DumpError(err.code, `${err.message}; and undoing failed: ${failures.join('; ')}`, { cause: e });
    }
    throw err;
  }

  // Success: put the tasks back as they were, then end them or let them run on.
  faultsOff();
  events.silence();
  emit({ type: 'stage', stage: 'undo' });
  const failures = undo.run();
  // The chain goes on (a new holder keeps the tracking) or ends here (the kernel removes it).
  let trackError: unknown;
  // Ending the tracking clears its mark on every page of a live task (~18 ms per GiB): with
  // keepMemory it ends once the task is gone (its memory released, or it runs on after a failure).
  const endLate = opts.keepMemory === true && !continueTracking;
  const lateTrackingEnd = (): void => { if (endLate) tracking?.end(); };
  try {
    if (tracking && continueTracking && failures.length === 0) tracking.handOver(opts.dir, members.filter((m) => !m.zombie).map((m) => m.pid));
    else if (!endLate) tracking?.end();
  } catch (e) {
    tracking?.end();
    trackError = e;
  }
  if (failures.length > 0) {
    endSnapshots();
    detachAll(seized, stopped);
    lateTrackingEnd();
    await images.settle();
    images.retract();
    throw new DumpError('FAILED', `undoing cryo's changes in task ${pid} failed (the images are removed): ${failures.join('; ')}`);
  }
  // A callback that failed while the undo began: the task runs on unharmed, the dump failed.
  const late = events.error(pid, 'dump');
  if (late) {
    endSnapshots();
    await images.settle();
    images.retract();
    files.finish(true);
    detachAll(seized, stopped);
    lateTrackingEnd();
    throw late;
  }
  // Last, and whole or not at all: the manifest of every image, then the inventory, without which
  // restore takes no set. Hashing the images is done once the task is no longer frozen.
  const finishImages = (): void => {
    faultsOn();
    try {
      images.writeLast('inventory', undefined, 'INVENTORY', [inventory!]);
    } catch (e) {
      images.retract();
      throw new DumpError('FAILED', `dump of task ${pid} failed: writing its manifest and inventory: ${(e as Error).message}`, { cause: e });
    } finally {
      faultsOff();
    }
  };
  if (leaveRunning) {
    emit({ type: 'stage', stage: 'detach' });
    const left = files.finish(true);
    detachAll(seized, stopped);
    images.precreate(makeLater);
    try {
      faultsOn();
      try {
        if (laterPages.length > 0) emit({ type: 'stage', stage: 'snapshot' });
        for (const write of laterPages) write();
        await images.settle();
        writeLater?.();
        await images.writesDone();
      } catch (e) {
        throw asDumpError(e, pid);
      } finally {
        faultsOff();
      }
      const lateEvent = events.error(pid, 'dump');
      if (lateEvent) throw lateEvent;
      finishImages();
      await deliverImages(opts, pid, images.written);
      // Killed when their pages were written: collected last, their exits overlapping the images' end.
      endSnapshots();
    } catch (e) {
      endSnapshots();
      await images.settle();
      images.retract(); // link_remap names it made, too
      // No dump: the chain's tracking ends with it (its holder ends when its state file goes).
      rmSync(path.join(opts.dir, TRACK_FILE), { force: true });
      throw e;
    }
    if (trackError !== undefined) throw new DumpError('FAILED', `images of task ${pid} are written, but tracking its memory for the next dump failed (${(trackError as Error).message}); it runs on untracked`);
    if (left.length > 0) throw new DumpError('FAILED', `images of task ${pid} are written, but giving its descriptors back failed: ${left.join('; ')}`);
  } else {
    try {
      await images.writesDone().catch((e: unknown) => { throw asDumpError(e, pid); });
      finishImages();
      await deliverImages(opts, pid, images.written);
    } catch (e) {
      images.retract(); // link_remap names it made, too
      files.finish(true);
      detachAll(seized, stopped);
      lateTrackingEnd();
      throw e;
    }
    emit({ type: 'stage', stage: 'kill' });
    const keepers = keepMemory(keepable, arch);
    killTree(members, seized);
    // Sockets held in TCP repair close silently now that the tasks are gone (as CRIU leaves them).
    files.finish(false);
    if (opts.keepMemory) {
      const releaseMemory = () => { keepers.release(); lateTrackingEnd(); };
      return { pid, dir: opts.dir, images: [...images.written], pagesWritten, leftRunning: false, releaseMemory };
    }
  }
  return { pid, dir: opts.dir, images: [...images.written], pagesWritten, leftRunning: leaveRunning };
}

/** A half's mmap as a step (runStepsTogether), its raw result to `take`; none where it has none. */
function* mmapStep(half: { mmap?: InjectedCall; take(raw: bigint): void }): Steps<void> {
  if (half.mmap !== undefined) half.take(yield half.mmap);
}

/** opts.deliver, its failure as the dump's. */
async function deliverImages(opts: DumpOptions, pid: number, images: readonly string[]): Promise<void> {
  try {
    await opts.deliver?.(opts.dir, images);
  } catch (e) {
    throw new DumpError('FAILED', `dump of task ${pid} failed: ${(e as Error)?.message ?? String(e)}; the task runs on`, { cause: e });
  }
}


/**
 * Kills every process of the tree. As their tracer cryo hears of each thread's death first:
 * collecting the other threads lets a main thread become a zombie, and collecting that lets its
 * parent reap it.
 */
function killTree(members: readonly TreeMember[], seized: ReadonlySet<number>): void {
  for (const m of members) if (!m.zombie) { try { kill(m.pid, SIG.SIGKILL); } catch { /* gone */ } }
  for (const tid of [...seized].filter((t) => !members.some((m) => m.pid === t))) {
    try { waitpid(tid, __WALL); } catch { /* already collected */ }
  }
  for (const m of members) {
    if (m.zombie) continue;
    try { waitpid(m.pid, __WALL); } catch { /* already collected */ }
  }
}

