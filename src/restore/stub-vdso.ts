// The stub's vDSO and vvar become the task's: moved to where the task had them (every injected call
// runs on the syscall instruction in the vDSO), or kept aside while the task's old vDSO comes back
// patched when the two differ (vdso-choice.ts), or replaced by the vDSO of the task's own ABI (an ia32
// task under a 64-bit stub), or dropped for a task that had unmapped its own (the calls run on a page
// of cryo's then). The rest of the stub's mappings go.
import { findHole, injectMmap, Injector, syscallFailed, UndoList, type SyscallBatch } from '../inject/index.js';
import type { MessageValue } from '../images/value.js';
import { inAddressOrder, rangeStart, readMaps, type Vma } from '../proc/index.js';
import { processVmReadv, processVmWritev } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { VMA } from '../shared/vma-kinds.js';
import type { VdsoMapCall } from '../arch/types.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';
import { chooseVdso, type VdsoChoice } from './vdso-choice.js';
import { patchedVdso } from './vdso-trampoline.js';
import { asVmas, big, dumpedVmas, hex, mapOwnArea } from './dumped-layout.js';
import { batchFor, ownAreas } from './scratch.js';
import { inheritedRanges } from './inherited.js';
import { withoutRanges, type Range } from '../shared/ranges.js';


/** The stub's vdso-like areas, in address order, and the dumped addresses they must move to. */
function vdsoMoves(ctx: TaskCtx, maps: Vma[]): { from: bigint; size: bigint; to: bigint; name: string }[] {
  const names = ctx.arch.vdso.areas;
  const mine = inAddressOrder(maps.filter((m) => names.includes(m.name)), rangeStart);
  const vmas = dumpedVmas(ctx);
  const vdso = vmas.find((v) => Number(v.status) & VMA.VDSO);
  const vvar = vmas.find((v) => Number(v.status) & VMA.VVAR);
  if (vdso === undefined) throw new RestoreError('UNSUPPORTED', 'the dumped process has no vdso; cryo cannot restore a process without one yet');
  const size = (m: MessageValue | Vma) => big(m.end) - big(m.start);
  const myVdso = mine.find((m) => m.name === ctx.arch.vdso.vdso);
  if (!myVdso) throw new RestoreError('FAILED', `the restore stub has no ${ctx.arch.vdso.vdso}`);
  if (size(myVdso) !== size(vdso)) {
    throw new RestoreError('UNSUPPORTED', `this kernel's vdso is ${size(myVdso)} bytes, the dumped one ${size(vdso)}: cryo cannot restore across different vdsos yet`);
  }
  const data = mine.filter((m) => m !== myVdso);
  const dataSize = data.reduce((s, m) => s + size(m), 0n);
  if (vvar === undefined ? dataSize !== 0n : dataSize !== size(vvar)) {
    throw new RestoreError('UNSUPPORTED', `this kernel's vvar area is ${dataSize} bytes, the dumped one ${vvar ? size(vvar) : 0n}: cryo cannot restore across different vdsos yet`);
  }
  // The data areas keep their order and sit back to back in the dumped vvar area.
  let at = vvar ? big(vvar.start) : 0n;
  const moves = data.map((m) => { const mv = { from: m.start, size: size(m), to: at, name: m.name }; at += size(m); return mv; });
  moves.push({ from: myVdso.start, size: size(myVdso), to: big(vdso.start), name: myVdso.name });
  return moves;
}

function mremap(ctx: TaskCtx, from: bigint, size: bigint, to: bigint): void {
  ctx.call('mremap', from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
}

/**
 * The stub's mappings go but its vdso areas (and [vsyscall], which cannot go), cryo's own areas and
 * the mappings a forked child keeps from its parent (inherited.ts; the kernel may have merged one
 * with a neighbour: only what lies outside them goes).
 */
function unmapStubRest(ctx: TaskCtx, maps: Vma[], cryos: Range[]): void {
  const batch = batchFor(ctx); // one stop for all (the batch runner uses no stack)
  queueStubUnmaps(ctx, maps, cryos, batch);
  batch.flush();
}

/** unmapStubRest's munmaps, queued in `batch`. */
function queueStubUnmaps(ctx: TaskCtx, maps: Vma[], cryos: Range[], batch: SyscallBatch): void {
  // In address order once; the maps (in address order, apart) take the ranges from the first that
  // ends past their start (a forked child's stub has its parent's maps: no sort per map).
  const keep = inAddressOrder([...cryos, ...inheritedRanges(ctx)], rangeStart);
  let from = 0;
  for (const m of maps) {
    while (from < keep.length && keep[from]!.end <= m.start) from++;
    if (ctx.arch.vdso.areas.includes(m.name) || m.kind === 'vsyscall') continue;
    let to = from;
    while (to < keep.length && keep[to]!.start < m.end) to++;
    for (const part of withoutRanges(m.start, m.end, keep.slice(from, to))) batch.add('munmap', part.start, part.end - part.start);
  }
}

/**
 * Clears the stub's address space down to its vdso areas and moves those into place. Its munmaps
 * may stay queued in `batch`, for the caller to run with its own calls (before any call that needs
 * the space free).
 */
export function replaceStubMappings(ctx: TaskCtx, batch = batchFor(ctx)): void {
  const maps = readMaps(ctx.pid);
  if (!dumpedVmas(ctx).some((v) => Number(v.status) & VMA.VDSO) && !ctx.arch.vdso.map) {
    dropStubVdso(ctx, maps);
    return;
  }
  if (ctx.arch.vdso.map) {
    mapTaskVdso(ctx, maps, ctx.arch.vdso.map);
    return;
  }
  const choice = stubVdsoChoice(ctx, maps);
  if (choice.kind === 'patched') {
    keepStubVdso(ctx, maps, choice);
    return;
  }
  const moves = vdsoMoves(ctx, maps);
  const own = ownAreas(ctx);
  // With the vDSO in place the munmaps stay queued: the dumped mappings join them in one stop.
  queueStubUnmaps(ctx, maps, own, batch);
  if (moves.every((m) => m.from === m.to)) return;
  // Park everything first in a hole free of both layouts, so no move lands on an area not moved yet.
  const total = moves.reduce((s, m) => s + m.size, 0n);
  const occupied: Range[] = [
    ...moves.map((m) => ({ start: m.from, end: m.from + m.size })),
    ...dumpedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) })),
    ...own,
  ].filter((r) => r.end <= ctx.arch.mmapTop);
  const park = findHole(asVmas(occupied), total, BigInt(ctx.arch.pageSize), ctx.arch.mmapTop);
  // All moves in one batch (the runner is in cryo's area, not in the vDSO); one by one, the
  // calls run on the vDSO's syscall instruction, found again each time it moved.
  const move = (from: bigint, size: bigint, to: bigint, name: string) => {
    batch.add('mremap', from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (!batch.batched && name === ctx.arch.vdso.vdso) ctx.reattach();
  };
  let off = 0n;
  for (const m of moves) {
    move(m.from, m.size, park + off, m.name);
    off += m.size;
  }
  off = 0n;
  for (const m of moves) {
    move(park + off, m.size, m.to, m.name);
    off += m.size;
  }
  batch.flush();
  if (batch.batched) ctx.reattach();
}

/** What the task gets: this kernel's vDSO where it had its own, or its old one patched (vdso-choice.ts). */
function stubVdsoChoice(ctx: TaskCtx, maps: Vma[]): VdsoChoice {
  const areas = maps.filter((m) => ctx.arch.vdso.areas.includes(m.name));
  const mine = areas.find((m) => m.name === ctx.arch.vdso.vdso);
  if (mine === undefined) return { kind: 'same' }; // vdsoMoves says what is missing
  return chooseVdso(ctx.img, ctx.arch, {
    size: mine.end - mine.start,
    dataSize: areas.filter((m) => m !== mine).reduce((s, m) => s + m.end - m.start, 0n),
    bytes: () => processVmReadv(ctx.pid, mine.start, Number(mine.end - mine.start)),
  });
}

/** The task's old vDSO to write back patched, where this kernel's went, and the range it takes. */
const patchedVdsos = new WeakMap<TaskCtx, { choice: Extract<VdsoChoice, { kind: 'patched' }>; newVdso: bigint; range: Range }>();

/**
 * A task whose vDSO differs from this kernel's keeps the stub's (so the kernel's own uses of it, the
 * signal return trampoline on some architectures, find the real one: mremap tells the kernel where
 * it went), its areas together as the kernel laid them out, moved out of the dumped layout's way.
 */
function keepStubVdso(ctx: TaskCtx, maps: Vma[], choice: Extract<VdsoChoice, { kind: 'patched' }>): void {
  const names = ctx.arch.vdso.areas;
  const own = maps.filter((m) => names.includes(m.name));
  const cryos = ownAreas(ctx);
  unmapStubRest(ctx, maps, cryos);
  const lo = own.reduce((a, m) => (m.start < a ? m.start : a), own[0]!.start);
  const hi = own.reduce((a, m) => (m.end > a ? m.end : a), own[0]!.end);
  const dumped: Range[] = dumpedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) }));
  let base = lo;
  if ([...dumped, ...cryos].some((r) => r.start < hi && r.end > lo)) {
    const occupied = [...dumped, ...cryos, { start: lo, end: hi }].filter((r) => r.end <= ctx.arch.mmapTop);
    base = findHole(asVmas(occupied), hi - lo, BigInt(ctx.arch.pageSize), ctx.arch.mmapTop);
    for (const m of own) {
      mremap(ctx, m.start, m.end - m.start, base + (m.start - lo));
      if (m.name === ctx.arch.vdso.vdso) ctx.reattach();
    }
  }
  const vdso = own.find((m) => m.name === ctx.arch.vdso.vdso)!;
  patchedVdsos.set(ctx, { choice, newVdso: base + (vdso.start - lo), range: { start: base, end: base + (hi - lo) } });
}

/** The task's old vDSO back where it was, as private memory, each entry point jumping into the new one. */
export function writeOldVdso(ctx: TaskCtx): void {
  const p = patchedVdsos.get(ctx);
  const tr = ctx.arch.vdso.trampoline;
  if (p === undefined || tr === undefined) return;
  const { choice } = p;
  const len = BigInt(choice.dumped.length);
  const at = BigInt.asUintN(64, injectMmap(ctx.inj, choice.start, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  if (at !== choice.start) throw new RestoreError('FAILED', `the old vDSO's place ${hex(choice.start)} is taken (mmap gave ${hex(at)})`);
  const bytes = patchedVdso(choice.dumped, choice.plan, tr, choice.start, p.newVdso);
  if (processVmWritev(ctx.pid, choice.start, bytes) !== bytes.length) throw new RestoreError('FAILED', `cannot write the old vDSO at ${hex(choice.start)}`);
  ctx.call('mprotect', choice.start, len, choice.prot);
}

/**
 * For a task whose vDSO is not the stub's (an ia32 task restored by a 64-bit stub): the stub's
 * mappings all go and the task's vDSO is mapped where it was by the arch's call. The kernel maps
 * one vDSO per process, so the stub's goes first; meanwhile injected calls run on a copy of the
 * syscall instruction in a page of cryo's, removed again once the new vDSO offers one.
 */
function mapTaskVdso(ctx: TaskCtx, maps: Vma[], call: VdsoMapCall): void {
  const vmas = dumpedVmas(ctx);
  const areas = vmas.filter((v) => Number(v.status) & (VMA.VDSO | VMA.VVAR));
  const vdso = vmas.find((v) => Number(v.status) & VMA.VDSO);
  if (vdso === undefined) throw new RestoreError('UNSUPPORTED', 'the dumped process has no vdso; cryo cannot restore a process without one yet');
  const start = areas.reduce((m, v) => (big(v.start) < m ? big(v.start) : m), big(vdso.start));
  const cryos = ownAreas(ctx);
  unmapStubRest(ctx, maps, cryos);
  const page = BigInt(ctx.arch.pageSize);
  const site = mapSyscallPage(ctx, maps, cryos);
  unmapStubVdso(ctx, maps);
  ctx.call(call.name, ...call.args(start));
  ctx.reattach();
  ctx.call('munmap', site, page);
  const now = readMaps(ctx.pid).find((m) => m.name === ctx.arch.vdso.vdso);
  const size = (m: MessageValue | Vma) => big(m.end) - big(m.start);
  if (now === undefined || now.start !== big(vdso.start) || size(now) !== size(vdso)) {
    throw new RestoreError('UNSUPPORTED', `this kernel's ${ctx.arch.abi} vdso came at ${now ? `${hex(now.start)} (${size(now)} bytes)` : 'no address'}, the dumped one was at ${hex(big(vdso.start))} (${size(vdso)} bytes): cryo cannot restore across different vdsos yet`);
  }
}

/**
 * A page of cryo's holding the syscall instruction, in a hole of both layouts, mapped read+exec;
 * returns its address.
 */
function mapSyscallPage(ctx: TaskCtx, maps: Vma[], cryos: Range[]): bigint {
  const page = BigInt(ctx.arch.pageSize);
  const vdso = maps.filter((m) => ctx.arch.vdso.areas.includes(m.name)).map((m) => ({ start: m.start, end: m.end }));
  const site = mapOwnArea(ctx, ctx.arch.pageSize, [...vdso, ...cryos]);
  if (processVmWritev(ctx.pid, site, ctx.arch.syscall.instruction) !== ctx.arch.syscall.instruction.length) {
    throw new RestoreError('FAILED', `cannot write cryo's syscall page at ${hex(site)}`);
  }
  ctx.call('mprotect', site, page, PROT_READ | PROT_EXEC);
  return site;
}

/** The stub's vDSO areas go, the vDSO the calls ran on last (its munmap traps right after the syscall, before returning there). */
function unmapStubVdso(ctx: TaskCtx, maps: Vma[]): void {
  const names = ctx.arch.vdso.areas;
  const own = maps.filter((m) => names.includes(m.name)).sort((a, b) => Number(a.name === ctx.arch.vdso.vdso) - Number(b.name === ctx.arch.vdso.vdso));
  for (const m of own) ctx.call('munmap', m.start, m.end - m.start);
  ctx.reattach();
}

/**
 * A task dumped without a vDSO (it unmapped its own) gets none: the stub's goes, and the calls run
 * on a syscall page of cryo's, kept until the task has returned into its own registers
 * (dropCryoPages).
 */
function dropStubVdso(ctx: TaskCtx, maps: Vma[]): void {
  // A child forked from a restored parent without a vDSO runs on its copy of the parent's page until it has its own.
  const copy = ctx.syscallPage;
  const page = BigInt(ctx.arch.pageSize);
  const cryos = [...ownAreas(ctx), ...(copy === undefined ? [] : [{ start: copy, end: copy + page }])];
  unmapStubRest(ctx, maps, cryos);
  ctx.syscallPage = mapSyscallPage(ctx, maps, cryos);
  unmapStubVdso(ctx, maps);
  if (copy !== undefined) ctx.call('munmap', copy, page);
}

/** cryo's syscall page in the task, if it has one. */
export function syscallPageOf(ctx: TaskCtx): Range[] {
  const page = ctx.syscallPage;
  return page === undefined ? [] : [{ start: page, end: page + BigInt(ctx.arch.pageSize) }];
}

/**
 * After the tasks' rt_sigreturn (resume.ts): each task's cryo `areas` and its syscall page go, by
 * calls run in its main thread (on that page, else on the task's own syscall instruction), whose
 * registers and signal mask are put back after. The page goes last: its munmap stops at the
 * syscall's exit.
 */
export function dropCryoPages(list: readonly { ctx: TaskCtx; areas: readonly Range[] }[]): void {
  // Each main thread is at rt_sigreturn's syscall-exit stop.
  const tasks = list.map(({ ctx, areas }) => ({
    inj: Injector.attach(ctx.pid, ctx.arch, new UndoList(), { site: ctx.syscallPage ?? ctx.inj.site, atSyscallStop: true }),
    areas: [...areas, ...syscallPageOf(ctx)],
  }));
  try {
    // The k-th munmap of every task at once (most have one): one wait after another finds most done.
    for (let k = 0; tasks.some((t) => t.areas.length > k); k++) {
      const round = tasks.filter((t) => t.areas.length > k);
      const args = round.map((t) => [t.areas[k]!.start, t.areas[k]!.end - t.areas[k]!.start]);
      const got = Injector.rawTogether(round.map((t, i) => ({ inj: t.inj, name: 'munmap', args: args[i]! })));
      got.forEach((r, i) => { if (r < 0n && r >= -4095n) throw syscallFailed(round[i]!.inj.pid, 'munmap', args[i]!, r); });
    }
  } finally {
    for (const { inj } of tasks) {
      inj.restoreRegs();
      inj.restoreSigmask();
    }
  }
  for (const { ctx } of list) ctx.syscallPage = undefined;
}
