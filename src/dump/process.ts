// One frozen process of a dump: everything read of it (from outside, by injection, its pages and
// descriptors) and its core, mm, fs and ids images.
import { readSemUndo } from './sem-undo.js';
import type { SemUndo } from '../images/cryo-sem-undo.js';
import { closeSync, openSync, statSync } from 'node:fs';
import type { Arch } from '../arch/types.js';
import { ENTRY_BYTES, Injector, batchAreaBytes, batchAreaSteps, batchRunners, batchesTaskCalls, ignoresSigtrap, mapBatchArea, runSteps, scratchAt, startCallEnding, startScratch, type Area, type BatchArea, type CallEnding, type InjectedCall, type Scratch, type Steps, UndoList } from '../inject/index.js';
import {
  readCwd, readExe, readLoginuid, readMaps, readOomScoreAdj, readPersonality, readRoot, readSmaps,
  readStat, readStatus, readTimers, procPath, type FdTarget,
} from '../proc/index.js';
import { pidfdOpen } from '../sys/index.js';
import { type ImageFileKey, type MessageValue } from '../images/index.js';
import type { DumpEvent } from './events.js';
import type { ImageSet } from './image-set.js';
import { readQueuedSignals, readRlimits } from './task-state.js';
import { readThread, readThreadsOutside, threadInjectors, type ThreadOutside, type ThreadState } from './threads.js';
import { readThreadsInjected, startInjectedState, threadsRoom, type InjectedState } from './injected-state.js';
import { collectVmas, type DumpVma } from './vmas.js';
import { parentPageRanges, unchangedRanges } from './mem-track.js';
import type { WriteTracking } from './track-method.js';
import type { Range } from '../shared/ranges.js';
import { dumpPages, type PagesResult } from './memory.js';
import { anonBytes, takeSnapshot, whyNoSnapshot, type Snapshot } from './snapshot.js';
import { PagesFile, ToPageServer } from './page-sink.js';
import type { PageServerClient } from '../page-server/client.js';
import { dumpMemoryTags } from './mem-tags.js';
import type { SmapsAhead } from './smaps-ahead.js';
import { SmapsWhileFrozen } from './smaps-frozen.js';
import { mmEntry } from './mm-image.js';
import { guardRanges } from './guards.js';
import { dumpFds, type FileTable } from './files.js';
import { checkForChildren, namespaceIds, taskNamespaces } from '../shared/namespaces.js';
import type { TreeMember } from './tree.js';
import { cryoCoreOf, writeCryoCore } from '../images/cryo-core.js';

/** Calls per stop for a descriptor's probes (FdDump.eachInThread): an io_uring's 65536 buffer groups in 16. */
const FD_BATCH_CALLS = 4096;
const TASK_ALIVE = 1;
const TASK_STOPPED = 3;

export interface CollectCtx {
  arch: Arch;
  images: ImageSet;
  undo: UndoList;
  files: FileTable;
  emit: (e: DumpEvent) => void;
  /** A named step (event and fault point). */
  step: (name: 'task' | 'inject' | 'scratch' | 'memory' | 'files') => Promise<void>;
  checkpoint: () => Promise<void>;
  /** pages-N.img of this process. */
  pagesId: number;
  /** Its vm/files/fs/sighand ids (CRIU numbers them per process, from 2). */
  coreId: number;
  /** The files_id of the table it shares with its parent (CLONE_FILES); undefined: its own. */
  filesId?: number;
  /** Memory tracking of a chain of dumps (pre-dump, --prev-images-dir), if any. */
  tracking?: WriteTracking;
  /** The parent dump's directory (--prev-images-dir). */
  parentDir?: string;
  /** Track writes from now on (pre-dump, or --track-mem with --leave-running). */
  continueTracking?: boolean;
  /** The process has a System V semaphore undo list to read (sem-undo.ts). */
  semUndo?: boolean;
  /** Stream the pages to this page server while the task is frozen (dump --page-server). */
  pageServer?: PageServerClient;
  /** cryo's own namespaces (ownNamespaces), read once for the tree. */
  ownNamespaces?: Record<string, bigint>;
  /**
   * Where a process's snapshot goes when it gets one (a task left running: its pages are written
   * from it after the freeze, DumpedProcess.laterPages); undefined: none is taken.
   */
  snapshots?: Snapshot[];
  /** smaps read before the freeze (DumpOptions.smapsAhead). */
  smapsAhead?: SmapsAhead;
  /**
   * cryo's descriptors that other processes of the tree hold in this process's table (CLONE_FILES:
   * their batch parks, opened for the whole tree before any file dump): not the task's, left out.
   */
  othersFds?: () => Iterable<number>;
  /** Its descriptors and their targets, listed once the tree was frozen (checkOutsidePipes). */
  listedFds?: ReadonlyMap<number, FdTarget>;
}

/**
 * The ids of the `i`-th live process of a tree (in tree order): its pages-N.img, and its
 * vm/files/fs/sighand ids (CRIU numbers them per process, from 2; its fdinfo takes its files id).
 */
export const processIds = (i: number): { pagesId: number; coreId: number } => ({ pagesId: i + 1, coreId: i + 2 });

/**
 * The images a live process writes (writeProcess, its pages in finishProcess, its fdinfo in
 * writeFileImages), for ImageSet.precreate: `ownFiles` unless it uses its parent's descriptor table,
 * `pages` unless they go to a page server.
 */
export function processImages(m: TreeMember, ids: { pagesId: number; coreId: number }, o: { ownFiles: boolean; pages: boolean }): [ImageFileKey, number][] {
  return [
    ...m.tids.map((t): [ImageFileKey, number] => ['core', t]), ['mm', m.pid], ['fs', m.pid], ['ids', m.pid],
    ...(o.ownFiles ? [['fdinfo', ids.coreId] as [ImageFileKey, number]] : []),
    ...(o.pages ? [['pagemap', m.pid], ['pages', ids.pagesId]] as [ImageFileKey, number][] : []),
  ];
}

/** What one live process of the tree contributes to the images. */
export interface DumpedProcess {
  pid: number;
  threads: ThreadState[];
  tc: MessageValue;
  mm: MessageValue;
  fs: MessageValue;
  ids: MessageValue;
  rootIds: MessageValue;
  fdinfos: MessageValue[];
  pages: { scanned: number; written: number; skippedParent: number };
  memTime: number;
  memWriteTime: number;
  /** Its semaphore undo values (SEM_UNDO). */
  semUndo: SemUndo[];
  /** Writes its pages from its snapshot (CollectCtx.snapshots), once the task runs again; `pages` are then 0. */
  laterPages?: () => PagesResult;
}

/**
 * Reading everything of one frozen process (memory pages go to their images right away), in
 * halves: startProcess up to its call-ending area's mmap, so that a tree's processes run that
 * first call at the same time (each waits to be scheduled), then `take` its result in each; the
 * same for its scratch page's mmap (`scratch`); then `finish` each in turn. A `mmap` is undefined
 * where the call already ran (or there is no area), or must run alone (finish runs it).
 */
export interface StartedProcess {
  mmap?: InjectedCall;
  /** The mmap's raw result (rawEach): its area recorded in the undo list, or the failure thrown. */
  take(raw: bigint): void;
  /** After take: the scratch page's mmap, its result to `take` as above. */
  scratch(): { mmap?: InjectedCall; take(raw: bigint): void };
  /**
   * After scratch: its batch area mapped (runStepsTogether), then the batch of readInjectedState
   * started (`launch`: a parked one runs on, waited for by `settle`; any other is waited for at once).
   */
  area(): Steps<void>;
  launch(): void;
  settle(): void;
  /** After settle: every thread's state read (launch first where it was not). */
  threads(): Promise<unknown>;
  /** After threads: its batch area unmapped, as steps (runStepsTogether); nothing where it has none. */
  unmapArea(): Steps<void>;
  /** cryo's descriptors in the process's table now (its batch park's; StartedProcess.area). */
  cryoFds(): readonly number[];
  finish(): Promise<DumpedProcess>;
}

export async function startProcess(m: TreeMember, c: CollectCtx): Promise<StartedProcess> {
  const { pid } = m;
  const { undo, step, checkpoint } = c;
  // The ABI this process runs in (an ia32 process on x86_64 has its own), asked before anything changes it.
  const arch = c.arch.forTask(pid);
  const tids = m.tids;
  // Everything readable from outside, before anything is changed.
  await step('task');
  const status = m.status ?? readStatus(pid); // read once it was stopped (freezeTree)
  const stat = m.stat;
  const signalsS = readQueuedSignals(pid, true, status.shdPnd);
  const outside = await readThreadsOutside(pid, tids, arch, status);
  const rlimits = readRlimits(pid);
  const timers = readTimers(pid);
  const ns = taskNamespaces(pid);
  const [rootIds, taskIds0] = namespaceIds(pid, c.ownNamespaces, ns);
  checkForChildren(pid, tids, ns);
  const taskIds: MessageValue = { ...taskIds0, vm_id: c.coreId, files_id: c.filesId ?? c.coreId, fs_id: c.coreId, sighand_id: c.coreId };
  // Its mappings before cryo adds its own (maps); their VmFlags from smaps read meanwhile on the
  // thread pool (smaps-frozen.ts: from now, or once cryo's areas are mapped), or read ahead of the freeze (smaps-ahead.ts).
  let flagsRead: SmapsWhileFrozen | undefined;
  const startSmapsRead = (when: 'now' | 'mapped'): void => {
    if (c.smapsAhead || flagsRead || (when === 'now' && SmapsWhileFrozen.waitsForMmaps(status))) return;
    flagsRead = SmapsWhileFrozen.start(pid);
  };
  startSmapsRead('now');
  const maps = readMaps(pid);
  await checkpoint();

  // What only the task can tell.
  await step('inject');
  const trapIgnored = ignoresSigtrap(status.sigIgn);
  const inj = Injector.attach(pid, arch, undo, { maps, survivable: true, trapIgnored, known: outside[0] });
  // First, so that every later call (cryo's other areas too) ends in the thread's own state if cryo dies in it.
  // The batch runners go in its area too: batch areas then need no mprotect call.
  const starting = startCallEnding(inj, undo, maps, outside.map((o) => ({ ti: o.runOn, sigmask: o.sigmask, eintr: o.fixed.action === 'eintr' })), batchRunners(inj)?.codes);
  let ending = starting !== undefined && starting.mmap === undefined ? starting.finish() : undefined;
  let scratch: Scratch | undefined;
  let area: BatchArea | undefined;
  let areaMapped = false;
  let injected: (() => InjectedState) | undefined;
  let read: Promise<ThreadsRead> | undefined;
  const own = (): Area[] => [...(ending ? [{ start: ending.start, end: ending.end }] : []), ...(scratch ? [scratchArea(scratch)] : [])];
  // The scratch page lands below the call-ending area: the ending's munmap removes it too.
  const mapped = (s: Scratch): Scratch => {
    ending?.unmapsAlso(scratchArea(s), s.dropUnmap);
    return s;
  };
  // The batch area's table and room (areaSteps) in the scratch page's mmap, where its runners are
  // in the ending's area: one injected mmap and one munmap less.
  const areaTablePages = 2;
  const areaRoom = (): number => (batchesTaskCalls(arch) && ending?.runnersAt !== undefined ? batchAreaBytes(arch.pageSize, areaTablePages, threadsRoom(tids.length - 1)) : 0);
  const mapScratch = (): Scratch => (scratch ??= mapped(startScratch(inj, undo, [...maps, ...own()], arch.pageSize, 1, areaRoom()).finish()));
  function* areaSteps(): Steps<void> {
    if (areaMapped) return;
    areaMapped = true;
    mapScratch();
    // A batch runner for the signal actions (62 calls in one stop), in the scratch page's room
    // (else a hole beside it). Two pages of table: readInjectedState's 74 calls in one run; room
    // for the other threads' calls, run at the same time (readThreadsInjected).
    if (batchesTaskCalls(arch)) area = yield* batchAreaSteps(inj, undo, [...maps, ...own()], areaTablePages, threadsRoom(tids.length - 1), ending?.runnersAt, scratch?.room);
  }
  const launch = (): void => {
    runSteps(areaSteps());
    startSmapsRead('mapped');
    injected ??= startInjectedState(inj, mapScratch(), timers, arch, area?.place);
  };
  const threads = (): Promise<ThreadsRead> => {
    launch();
    return (read ??= readThreads(m, c, { arch, status, stat, signalsS, outside, rlimits, timers, rootIds, taskIds, maps, flagsRead, trapIgnored, inj, ending, scratch: mapScratch(), area, injected: injected! }));
  };
  return {
    ...(starting?.mmap ? { mmap: starting.mmap } : {}),
    take(raw) { ending = starting!.finish(raw); },
    scratch() {
      const half = startScratch(inj, undo, [...maps, ...own()], arch.pageSize, 1, areaRoom());
      return { ...(half.mmap ? { mmap: half.mmap } : {}), take(raw) { scratch = mapped(half.finish(raw)); } };
    },
    area: areaSteps,
    launch,
    settle: () => inj.settleInFlight(),
    cryoFds: () => area?.taskFds() ?? [],
    threads,
    *unmapArea() {
      if (area) yield* area.unmapSteps(); // after a failure, the undo list unmaps it
    },
    async finish() {
      const st = await threads();
      area?.unmap();
      return finishProcess(m, c, st);
    },
  };
}

interface Started {
  arch: Arch; status: ReturnType<typeof readStatus>; stat: ReturnType<typeof readStat>; signalsS: MessageValue; outside: ThreadOutside[];
  rlimits: ReturnType<typeof readRlimits>; timers: ReturnType<typeof readTimers>; rootIds: MessageValue; taskIds: MessageValue; maps: ReturnType<typeof readMaps>; flagsRead: SmapsWhileFrozen | undefined;
  trapIgnored: boolean; inj: Injector; ending: CallEnding | undefined; scratch: Scratch; area: BatchArea | undefined; injected: () => InjectedState;
}

/** What readThreads adds: every thread's state and what the injected calls told. */
interface ThreadsRead extends Started {
  threads: ThreadState[]; injectedState: InjectedState; semUndo: SemUndo[]; others: ReturnType<typeof threadInjectors>;
}

async function readThreads(m: TreeMember, c: CollectCtx, st: Started): Promise<ThreadsRead> {
  const { pid } = m;
  const { undo, step, checkpoint } = c;
  const { arch, outside, trapIgnored, inj, ending, scratch, area } = st;
  await step('scratch');
  await checkpoint();
  const injected = st.injected();
  const semUndo = c.semUndo === true ? readSemUndo(pid, inj, scratch) : [];
  await checkpoint();
  // Each thread's own state, the per-thread injected calls run in that thread.
  const others = threadInjectors(outside.slice(1), arch, undo, inj.site, trapIgnored);
  outside.forEach((o, i) => { if (i > 0) ending?.use(others.get(o.tid)!, i); });
  const rest = outside.slice(1);
  const theirs = readThreadsInjected(rest.map((o) => others.get(o.tid)!), scratch, area);
  await checkpoint();
  const threads: ThreadState[] = [readThread(outside[0]!, arch, inj, scratch, injected)];
  rest.forEach((o, i) => threads.push(readThread(o, arch, others.get(o.tid)!, scratch, theirs[i])));
  return { ...st, threads, injectedState: injected, semUndo, others };
}

async function finishProcess(m: TreeMember, c: CollectCtx, st: ThreadsRead): Promise<DumpedProcess> {
  const { pid } = m;
  const { undo, files, step, checkpoint, images } = c;
  const { arch, status, stat, signalsS, rlimits, rootIds, taskIds, maps, flagsRead, inj, ending, scratch, threads, injectedState: injected, semUndo, others } = st;
  const own = ending ? [{ start: ending.start, end: ending.end }] : [];
  own.push(scratchArea(scratch));
  const main = threads[0]!;

  // Memory.
  await step('memory');
  // Only VmFlags are used: read meanwhile or ahead of the freeze where they hold (smaps-frozen.ts, smaps-ahead.ts).
  const beforeCryo = c.smapsAhead ? await c.smapsAhead.take(pid, maps, status.raw.VmLck) : await flagsRead!.take(maps);
  const smaps = beforeCryo ?? readSmaps(pid, { sizes: [] });
  // Those read before cryo mapped its areas need no look for them.
  const vmas = collectVmas(pid, smaps, files, beforeCryo ? [] : own, arch.protVmFlags);
  const exeLink = readExe(pid);
  const exeId = files.mappedFile(procPath(pid, 'exe'), exeLink.path, statOf(procPath(pid, 'exe')));
  const ti = main.threadInfo;
  const { sp } = arch.threadPointers(ti);
  const t1 = performance.now();
  const inParent = trackWrites(pid, inj, vmas, arch.pageSize, c);
  const pagemapFile = images.path('pagemap', pid);
  const guards = guardRanges(pid, vmas);
  // The sink is made when the pages move: a snapshot's pages may never (a dump that fails first).
  // From a snapshot the task is not frozen: the pages' hashing need not wait for an idle core.
  const movePages = (via: Injector, viaUndo: UndoList, frozen: boolean): PagesResult => {
    const sink = c.pageServer ? new ToPageServer(c.pageServer, pagemapFile, c.pagesId, arch.pageSize) : new PagesFile(pagemapFile, images.path('pages', c.pagesId), c.pagesId, arch.pageSize, frozen);
    let r: PagesResult;
    try {
      r = dumpPages(via.pid, vmas, arch.pageSize, sink, sp, { inj: via, scratch: scratchAt(via.pid, scratch.addr, scratch.size), undo: viaUndo, maps: beforeCryo ? [...beforeCryo, ...own] : smaps }, inParent, guards);
    } catch (e) {
      if (sink instanceof PagesFile) sink.hashing.stop();
      throw e;
    }
    images.record(pagemapFile, sink instanceof PagesFile ? sink.pagemapBytes : undefined);
    if (sink instanceof PagesFile) images.hashedAhead(images.path('pages', c.pagesId), sink.hashing);
    return r;
  };
  // A task left running gets its private pages written from a snapshot once it runs again (snapshot.ts).
  const noSnapshot = c.snapshots === undefined ? 'not asked' : whyNoSnapshot(pid, vmas, guards.length > 0, anonBytes(status.raw), injected.childSubreaper);
  const snap = noSnapshot === undefined ? takeSnapshot(inj, undo, status.seccomp !== 0, scratch) : undefined;
  if (c.snapshots !== undefined && snap === undefined) c.emit({ type: 'note', message: `pages of process ${pid} written while it is frozen: no snapshot (${noSnapshot ?? 'clone refused'})` });
  let pages: PagesResult = { scanned: 0, written: 0, skippedParent: 0, writeMs: 0 };
  let laterPages: (() => PagesResult) | undefined;
  if (snap) {
    c.snapshots!.push(snap);
    laterPages = () => {
      snap.letGo();
      const r = movePages(snap.inj, new UndoList(), false);
      // Its memory goes while the rest of the images are written; the dump's end collects it.
      snap.kill();
      return r;
    };
  } else {
    pages = movePages(inj, undo, true);
  }
  if (arch.memoryTags !== undefined) {
    const tags = dumpMemoryTags(pid, vmas, arch.memoryTags, arch.pageSize, images.dir);
    if (tags !== undefined) images.record(tags);
  }
  const t2 = performance.now();
  await checkpoint();

  // Files.
  await step('files');
  if (c.filesId === undefined) {
    const pidfd = pidfdOpen(pid);
    let fdArea: { area: BatchArea; room: number } | undefined;
    try {
      dumpFds(files, pid, pidfd, status, new Map([[pid, inj], ...others]), c.listedFds, new Set(c.othersFds?.()), (room) => {
        // One area for the descriptors' many calls, mapped when first needed (FdDump.eachInThread).
        if (fdArea && fdArea.room >= room) return fdArea.area;
        fdArea?.area.unmap();
        const area = mapBatchArea(inj, undo, [...maps, ...own], Math.ceil(FD_BATCH_CALLS * ENTRY_BYTES / arch.pageSize), room, ending?.runnersAt);
        fdArea = area ? { area, room } : undefined;
        return area;
      });
      // Not in the finally: after a failure the undo list unmaps it (its calls would hide the failure).
      fdArea?.area.unmap();
    } finally {
      closeSync(pidfd);
    }
  }
  const fdinfos = files.fdinfos.splice(0);
  const cwdId = files.newId();
  files.addReg(cwdId, procPath(pid, 'cwd'), readCwd(pid).path, 0, 0n);
  const rootId = files.newId();
  files.addReg(rootId, procPath(pid, 'root'), readRoot(pid).path, 0, 0n);
  await checkpoint();

  const tc: MessageValue = {
    task_state: m.stopSignal !== 0 ? TASK_STOPPED : TASK_ALIVE, exit_code: 0, personality: readPersonality(pid), flags: stat.flags, blk_sigset: main.sigmask, comm: status.name,
    timers: { ...injected.itimers, posix: injected.posixTimers },
    rlimits: { rlimits },
    signals_s: signalsS,
    loginuid: readLoginuid(pid),
    oom_score_adj: readOomScoreAdj(pid),
    sigactions: injected.sigactions,
    child_subreaper: injected.childSubreaper,
  };
  if (injected.membarrierMask) tc.membarrier_registration_mask = injected.membarrierMask;
  if (m.stopSignal !== 0) tc.stop_signo = m.stopSignal;
  return {
    pid, threads, tc, ids: taskIds, rootIds, fdinfos,
    mm: mmEntry(pid, stat, injected.brk, exeId, vmas, guards, injected.dumpable, injected.thpDisabled, arch.wordSize),
    fs: { cwd_id: cwdId, root_id: rootId, umask: status.umask ?? 0o22 },
    pages: { scanned: pages.scanned, written: pages.written, skippedParent: pages.skippedParent },
    memTime: t2 - t1,
    memWriteTime: pages.writeMs,
    semUndo,
    ...(laterPages ? { laterPages } : {}),
  };
}

/** All of a scratch page's mapping (its room too). */
const scratchArea = (s: Scratch): Area => ({ start: s.addr, end: s.room?.end ?? s.addr + BigInt(s.size) });

/** core-TID.img of every thread, mm, fs and ids of one process. */
export function writeProcess(p: DumpedProcess, images: ImageSet, arch: Arch): void {
  const main = p.threads[0]!;
  // As CRIU: the main thread's mask is the task's (tc), every other thread's is in its thread_core.
  images.write('core', p.pid, 'CORE', [{ mtype: arch.criuMarch, [arch.threadInfoField]: main.threadInfo as MessageValue, tc: p.tc, thread_core: main.threadCore }]);
  // State CRIU's thread_info has no field for goes in cryo's own image beside the core.
  for (const t of p.threads) {
    const own = cryoCoreOf(arch.threadInfoField, t.threadInfo as MessageValue);
    if (own !== undefined) writeCryoCore(images.dir, t.tid, own);
  }
  for (const t of p.threads.slice(1)) {
    const thread_core: MessageValue = { ...t.threadCore, blk_sigset: t.sigmask };
    images.write('core', t.tid, 'CORE', [{ mtype: arch.criuMarch, [arch.threadInfoField]: t.threadInfo as MessageValue, thread_core }]);
  }
  images.write('mm', p.pid, 'MM', [p.mm]);
  images.write('fs', p.pid, 'FS', [p.fs]);
  images.write('ids', p.pid, 'IDS', [p.ids]);
}

/**
 * With a chain's tracking: the pages unchanged since the parent dump (left to it), found and
 * protected again while the process is frozen; then tracking is extended to its new mappings.
 */
function trackWrites(pid: number, inj: Injector, vmas: readonly DumpVma[], pageSize: number, c: CollectCtx): Range[] {
  const t = c.tracking;
  if (!t) return [];
  const pagemapFd = openSync(procPath(pid, 'pagemap'), 'r');
  try {
    const written = t.tracked(pid) ? t.writtenSince(pid, pagemapFd, vmas) : new Map<DumpVma, Range[]>();
    const inParent = c.parentDir !== undefined && written.size > 0 ? unchangedRanges(written, parentPageRanges(c.parentDir, pid, pageSize)) : [];
    if (c.continueTracking) t.track(pid, inj, pagemapFd, vmas, written);
    return inParent;
  } finally {
    closeSync(pagemapFd);
  }
}

/** dev and ino of a path, as the file table keys files. */
function statOf(p: string): { dev: bigint; ino: bigint } {
  const s = statSync(p, { bigint: true });
  return { dev: s.dev, ino: s.ino };
}
