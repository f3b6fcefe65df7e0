// A short description of an image directory for the demo: files and sizes, the process tree
// (like `cryo x DIR ps`), and how much memory was saved.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, imageToCrit } from '../images/image.js';
import type { JsonObject, JsonValue } from '../images/json-text.js';

export interface ImageFile {
  name: string;
  bytes: number;
}

export interface ImageSummary {
  files: ImageFile[];
  totalBytes: number;
  /** One row per process, as `cryo x DIR ps` lists them. */
  processes: { pid: number; pgid: number; sid: number; comm: string; threads: number }[];
  /** Memory areas and saved pages of each process, by PID. */
  memory: Map<number, { vmas: number; pages: number }>;
}

const num = (v: JsonValue | undefined): number => Number(v ?? 0);

function entries(dir: string, name: string): JsonObject[] {
  return imageToCrit(decodeImageFile(path.join(dir, name)), false).entries as JsonObject[];
}

export function summarizeImages(dir: string): ImageSummary {
  const files = readdirSync(dir).sort().map((name) => ({ name, bytes: statSync(path.join(dir, name)).size }));
  const processes = entries(dir, 'pstree.img').map((p) => {
    const pid = num(p.pid);
    const core = entries(dir, `core-${pid}.img`)[0] ?? {};
    const tc = (core.tc ?? {}) as JsonObject;
    return { pid, pgid: num(p.pgid), sid: num(p.sid), comm: String(tc.comm ?? '?'), threads: ((p.threads ?? []) as JsonValue[]).length };
  });
  const memory = new Map<number, { vmas: number; pages: number }>();
  for (const { pid } of processes) {
    const mm = entries(dir, `mm-${pid}.img`)[0] ?? {};
    const pagemap = entries(dir, `pagemap-${pid}.img`).slice(1); // the first entry names the pages file
    memory.set(pid, {
      vmas: ((mm.vmas ?? []) as JsonValue[]).length,
      pages: pagemap.reduce((s, e) => s + num(e.nr_pages), 0),
    });
  }
  return { files, totalBytes: files.reduce((s, f) => s + f.bytes, 0), processes, memory };
}

/** 2.1 MiB, 12 KiB, 86 B. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The summary as indented lines for the terminal. */
export function formatSummary(s: ImageSummary, pageSize: number): string[] {
  const w = Math.max(...s.files.map((f) => f.name.length));
  const out = s.files.map((f) => `  ${f.name.padEnd(w)}  ${humanBytes(f.bytes).padStart(9)}`);
  out.push(`  ${'total'.padEnd(w)}  ${humanBytes(s.totalBytes).padStart(9)}  in ${s.files.length} files`);
  out.push('', `  ${'PID'.padStart(7)} ${'PGID'.padStart(7)} ${'SID'.padStart(7)}  COMM`);
  for (const p of s.processes) {
    out.push(`  ${String(p.pid).padStart(7)} ${String(p.pgid).padStart(7)} ${String(p.sid).padStart(7)}  ${p.comm}`);
  }
  for (const p of s.processes) {
    const m = s.memory.get(p.pid);
    if (m === undefined) continue;
    const threads = `${p.threads} thread${p.threads === 1 ? '' : 's'}`;
    out.push(`  process ${p.pid}: ${threads}, ${m.vmas} memory areas, ${m.pages} pages (${humanBytes(m.pages * pageSize)}) of memory saved`);
  }
  return out;
}
