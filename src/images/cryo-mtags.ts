/**
 * cryo-mtags-PID.img: the memory tags of a process (aarch64 MTE allocation tags), which CRIU's
 * images have no place for. The areas are the mappings that have tags (mapped PROT_MTE); the runs
 * are the tags of pages with any non-zero tag (one byte per granule, from `addr` on); every other
 * granule of an area has tag 0, as a freshly tagged page does. Framing as cryo-files.img
 * (src/images/cryo-framing.ts); one entry.
 *
 *   message cryo_tag_area { required uint64 start = 1; required uint64 end = 2; }
 *   message cryo_tag_run  { required uint64 addr = 1;  required bytes tags = 2; }
 *   message cryo_mtags_entry {
 *     required uint32 granule = 1;       // bytes of memory per tag
 *     repeated cryo_tag_area areas = 2;
 *     repeated cryo_tag_run runs = 3;
 *   }
 */
import path from 'node:path';
import { message, rep, req } from './schema.js';
import type { MessageValue } from './index.js';
import { readCryoImage, writeCryoImage } from './cryo-framing.js';

/** 'CRYM' read as a little-endian u32. */
export const CRYO_MTAGS_MAGIC = 0x4d595243;
export const cryoMtagsImage = (pid: number): string => `cryo-mtags-${pid}.img`;

const cryo_tag_area = message('cryo_tag_area', [req(1, 'start', 'uint64'), req(2, 'end', 'uint64')]);
const cryo_tag_run = message('cryo_tag_run', [req(1, 'addr', 'uint64'), req(2, 'tags', 'bytes')]);
export const cryo_mtags_entry = message('cryo_mtags_entry', [
  req(1, 'granule', 'uint32'), rep(2, 'areas', () => cryo_tag_area), rep(3, 'runs', () => cryo_tag_run),
]);

export interface MemoryTags {
  granule: number;
  areas: { start: bigint; end: bigint }[];
  runs: { addr: bigint; tags: Buffer }[];
}

export function writeCryoMtags(dir: string, pid: number, t: MemoryTags): void {
  writeCryoImage(path.join(dir, cryoMtagsImage(pid)), CRYO_MTAGS_MAGIC, cryo_mtags_entry, [t as unknown as MessageValue]);
}

/** DIR/cryo-mtags-PID.img, or undefined when the process had no tagged memory. */
export function readCryoMtags(dir: string, pid: number): MemoryTags | undefined {
  const file = path.join(dir, cryoMtagsImage(pid));
  const entries = readCryoImage(file, CRYO_MTAGS_MAGIC, cryo_mtags_entry, 'cryo-mtags');
  if (entries === undefined) return undefined;
  if (entries.length !== 1) throw new Error(`${file}: holds ${entries.length} entries, not 1: the image is damaged`);
  const e = entries[0]!;
  const big = (v: unknown) => BigInt(v as bigint | number);
  return {
    granule: Number(e.granule),
    areas: ((e.areas as MessageValue[] | undefined) ?? []).map((a) => ({ start: big(a.start), end: big(a.end) })),
    runs: ((e.runs as MessageValue[] | undefined) ?? []).map((r) => ({ addr: big(r.addr), tags: Buffer.from(r.tags as Uint8Array) })),
  };
}
