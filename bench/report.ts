// The bench's result as data (written as JSON) and the table and target lines made from it.

import { formatRatio, formatSummary, MiB, renderTable } from './format.js';
import { ratio, summarize, type Summary } from './stats.js';
import type { MigrationResult } from './migrate.js';

export type ToolName = 'floor' | 'cryo' | 'cryo-svc' | 'gcore' | 'criu';

/** One run of one tool on one workload. Times in ms, sizes in bytes. */
export interface Sample {
  dumpMs?: number;
  frozenMs?: number;
  restoreMs?: number;
  imageBytes?: number;
  /** The larger of the dump's and the restore's peak resident memory. */
  peakRssBytes?: number;
  /** Why this run has no numbers (or fewer): a tool's one-line error, a skip reason. */
  note?: string;
}

export interface ToolResult {
  tool: ToolName;
  /** ok: every run measured; partial: some part missing (e.g. no restore); unsupported/failed/skipped: see note. */
  status: 'ok' | 'partial' | 'unsupported' | 'failed' | 'skipped';
  note?: string;
  dumpMs: Summary | null;
  frozenMs: Summary | null;
  restoreMs: Summary | null;
  imageBytes: Summary | null;
  peakRssBytes: Summary | null;
  dumpVsFloor: number | null;
  restoreVsFloor: number | null;
}

export interface WorkloadResult {
  name: string;
  description: string;
  /** The task's anonymous resident memory once set up (what a dump must save, what the floor writes). */
  taskBytes: number;
  results: ToolResult[];
}

export interface ToolInfo {
  name: ToolName;
  available: boolean;
  version?: string;
  note?: string;
}

export interface Target {
  name: string;
  /** null: could not be decided in this run (a reference or workload missing). */
  met: boolean | null;
  detail: string;
}

export interface BenchReport {
  schema: 'cryo-bench/1';
  date: string;
  command: string;
  machine: { kernel: string; cpus: number; memBytes: number; node: string };
  runs: number;
  method: { preconditioning: string; frozen: string; peakMemory: string; cryo: string };
  tools: ToolInfo[];
  /** Node's start (bare `node -e 0`) and cryo's CLI start (`cryo --help`), ms. */
  startup: { nodeMs: Summary | null; cryoCliMs: Summary | null; serviceMs?: number; clientMs?: Summary | null };
  workloads: WorkloadResult[];
  targets: Target[];
  /** The migration freeze runs (bench/migrate.ts), when any ran. */
  migrations?: MigrationResult[];
}

const pick = (xs: readonly Sample[], k: keyof Sample): number[] =>
  xs.map((s) => s[k]).filter((v): v is number => typeof v === 'number');

/** Folds a tool's samples into medians and spreads; floor is the same workload's floor result. */
export function toolResult(tool: ToolName, samples: readonly Sample[], floor: ToolResult | undefined, unsupported = false): ToolResult {
  const r: ToolResult = {
    tool, status: 'ok',
    dumpMs: summarize(pick(samples, 'dumpMs')),
    frozenMs: summarize(pick(samples, 'frozenMs')),
    restoreMs: summarize(pick(samples, 'restoreMs')),
    imageBytes: summarize(pick(samples, 'imageBytes')),
    peakRssBytes: summarize(pick(samples, 'peakRssBytes')),
    dumpVsFloor: null, restoreVsFloor: null,
  };
  if (tool !== 'floor' && floor) {
    r.dumpVsFloor = ratio(r.dumpMs, floor.dumpMs);
    r.restoreVsFloor = ratio(r.restoreMs, floor.restoreMs);
  }
  const notes = samples.map((s) => s.note).filter((n): n is string => !!n);
  if (notes.length > 0) r.note = notes.length > 1 ? `${notes[0]} (${notes.length} of ${samples.length} runs)` : notes[0]!;
  if (r.dumpMs === null) r.status = unsupported ? 'unsupported' : samples.length === 0 ? 'skipped' : 'failed';
  else if (notes.length > 0 || (tool !== 'gcore' && r.restoreMs === null)) r.status = 'partial';
  return r;
}

const get = (w: WorkloadResult | undefined, t: ToolName) => w?.results.find((r) => r.tool === t);

/** Each of dump, restore and frozen at most this share of CRIU's (issue 13, round two). */
export const VS_CRIU = 0.8;

/** The issue's targets, judged from the report's numbers. */
export function judgeTargets(workloads: readonly WorkloadResult[]): Target[] {
  const big = workloads.find((w) => w.name === 'anon-1g');
  const small = workloads.find((w) => w.name === 'small');
  const out: Target[] = [];
  // Every workload: dump, restore and frozen each <= 0.8x CRIU's (medians of the same run).
  for (const w of workloads) {
    const c = get(w, 'cryo');
    const q = get(w, 'criu');
    const rs = (['dumpMs', 'restoreMs', 'frozenMs'] as const).map((k) => ratio(c?.[k], q?.[k]));
    const missing = rs.some((r) => r === null);
    out.push({
      name: `${w.name}: dump, restore, frozen <= ${VS_CRIU}x CRIU`,
      met: missing ? null : rs.every((r) => r! <= VS_CRIU),
      detail: missing ? 'needs cryo and CRIU numbers for all three' : `dump ${formatRatio(rs[0])}, restore ${formatRatio(rs[1])}, frozen ${formatRatio(rs[2])}`,
    });
  }
  const rf = get(big, 'cryo')?.restoreVsFloor ?? null;
  out.push({
    name: '1 GiB: restore <= 1.0x the single-core floor', met: rf === null ? null : rf <= 1,
    detail: rf === null ? 'not measured in this run' : `${formatRatio(rf)} the floor`,
  });
  const peaks = workloads.flatMap((w) => {
    const p = get(w, 'cryo')?.peakRssBytes;
    return p ? [{ w: w.name, max: p.max }] : [];
  });
  const worst = peaks.reduce<{ w: string; max: number } | null>((a, b) => (a === null || b.max > a.max ? b : a), null);
  out.push({
    name: 'cryo peak memory < 200 MiB', met: worst === null ? null : worst.max < 200 * MiB,
    detail: worst === null ? 'no cryo run measured' : `largest ${(worst.max / MiB).toFixed(0)} MiB (${worst.w}), over ${peaks.length} workload(s)`,
  });
  const images = workloads.flatMap((w) => {
    const r = ratio(get(w, 'cryo')?.imageBytes, get(w, 'criu')?.imageBytes);
    return r === null ? [] : [{ w: w.name, r }];
  });
  const largest = images.reduce<{ w: string; r: number } | null>((a, b) => (a === null || b.r > a.r ? b : a), null);
  out.push({
    name: 'image size <= CRIU', met: largest === null ? null : largest.r <= 1,
    detail: largest === null ? 'needs cryo and CRIU numbers' : `largest ${formatRatio(largest.r)} CRIU's (${largest.w})`,
  });
  const sum = (r: ToolResult | undefined) => (r?.dumpMs && r.restoreMs ? r.dumpMs.median + r.restoreMs.median : null);
  const sr = sum(get(small, 'criu'));
  // The CLI as typed with no service, and through a running `cryo service` (when measured).
  for (const [tool, label] of [['cryo', 'cryo'], ['cryo-svc', 'cryo through its service']] as const) {
    const sc = sum(get(small, tool));
    if (tool === 'cryo-svc' && sc === null) continue;
    out.push({
      name: `small: dump+restore <= CRIU${tool === 'cryo' ? '' : ' (cryo service)'}`, met: sc === null || sr === null ? null : sc <= sr,
      detail: sc === null || sr === null ? `needs ${label} and CRIU numbers for small` : `${label} ${sc.toFixed(0)} ms, CRIU ${sr.toFixed(0)} ms: ${formatRatio(sc / sr)}`,
    });
  }
  return out;
}

/** The terminal form: one row per workload and tool, then the comparisons and the targets. */
export function renderReport(rep: BenchReport): string {
  const rows: string[][] = [];
  for (const w of rep.workloads) {
    for (const r of w.results) {
      rows.push([
        w.name, r.tool, formatSummary(r.dumpMs), formatRatio(r.dumpVsFloor), formatSummary(r.frozenMs),
        formatSummary(r.restoreMs), formatRatio(r.restoreVsFloor), formatSummary(r.imageBytes, 1 / MiB),
        formatSummary(r.peakRssBytes, 1 / MiB), r.status === 'ok' ? '' : r.note?.startsWith(r.status) ? r.note : `${r.status}${r.note ? `: ${r.note}` : ''}`,
      ]);
    }
  }
  const main = renderTable(
    ['workload', 'tool', 'dump ms', 'xfloor', 'frozen ms', 'restore ms', 'xfloor', 'image MiB', 'peak MiB', 'note'], rows);
  const cmp: string[][] = rep.workloads.map((w) => {
    const c = get(w, 'cryo');
    const q = get(w, 'criu');
    const g = get(w, 'gcore');
    const v = get(w, 'cryo-svc');
    return [
      w.name, formatRatio(ratio(c?.dumpMs, q?.dumpMs)), formatRatio(ratio(c?.restoreMs, q?.restoreMs)),
      formatRatio(ratio(c?.frozenMs, q?.frozenMs)), formatRatio(ratio(c?.imageBytes, q?.imageBytes)),
      formatRatio(ratio(c?.dumpMs, g?.dumpMs)), formatRatio(ratio(c?.frozenMs, g?.frozenMs)),
      formatRatio(ratio(v?.dumpMs, q?.dumpMs)), formatRatio(ratio(v?.restoreMs, q?.restoreMs)),
    ];
  });
  const cmpTable = renderTable(
    ['workload', 'dump cryo/criu', 'restore cryo/criu', 'frozen cryo/criu', 'image cryo/criu', 'dump cryo/gcore', 'frozen cryo/gcore', 'dump svc/criu', 'restore svc/criu'], cmp);
  const tools = rep.tools.map((t) => `  ${t.name}: ${t.available ? `yes${t.version ? ` (${t.version})` : ''}` : 'no'}${t.note ? ` - ${t.note}` : ''}`);
  const targets = rep.targets.map((t) => `  [${t.met === null ? ' ? ' : t.met ? 'met' : 'NOT'}] ${t.name}: ${t.detail}`);
  return [
    `cryo bench, ${rep.date}, ${rep.runs} run(s) each, median (min-max); kernel ${rep.machine.kernel}, ${rep.machine.cpus} CPUs, node ${rep.machine.node}`,
    `command: ${rep.command}`,
    'tools:', ...tools,
    `startup: node ${formatSummary(rep.startup.nodeMs)} ms, cryo CLI (--help) ${formatSummary(rep.startup.cryoCliMs)} ms (counted in every cryo time)${rep.startup.serviceMs ? `; cryo service to listening ${rep.startup.serviceMs.toFixed(0)} ms (once, before the runs; not in cryo-svc's times), the client's --help through it ${formatSummary(rep.startup.clientMs ?? null)} ms` : ''}`,
    '', main, '', 'cryo against the references (ratio of medians, < 1 is cryo faster/smaller):', cmpTable,
    '', 'targets:', ...targets,
    '', `frozen: ${rep.method.frozen}`, `preconditioning: ${rep.method.preconditioning}`, `peak memory: ${rep.method.peakMemory}`,
  ].join('\n');
}
