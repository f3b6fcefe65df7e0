/**
 * cryo-cpu.img: the dumping CPU's feature words, for architectures CRIU's cpuinfo.img has no entry
 * for (CRIU 4.2: aarch64). Restore refuses an image from a CPU with a feature this one lacks.
 * Framing as cryo-files.img (src/images/cryo-framing.ts); one entry.
 *
 *   message cryo_cpu_entry {
 *     repeated uint64 hwcap = 1;   // AT_HWCAP, AT_HWCAP2, ... of the dumping machine
 *   }
 */
import path from 'node:path';
import { message, rep } from './schema.js';
import type { MessageValue } from './index.js';
import { readCryoImage, writeCryoImage } from './cryo-framing.js';

export const CRYO_CPU_IMAGE = 'cryo-cpu.img';
/** 'CRYC' read as a little-endian u32. */
export const CRYO_CPU_MAGIC = 0x43595243;

export const cryo_cpu_entry = message('cryo_cpu_entry', [rep(1, 'hwcap', 'uint64')]);

export function writeCryoCpu(dir: string, entry: MessageValue): void {
  writeCryoImage(path.join(dir, CRYO_CPU_IMAGE), CRYO_CPU_MAGIC, cryo_cpu_entry, [entry]);
}

/** DIR/cryo-cpu.img's entry, or undefined when the dump has none. */
export function readCryoCpu(dir: string): MessageValue | undefined {
  const file = path.join(dir, CRYO_CPU_IMAGE);
  const entries = readCryoImage(file, CRYO_CPU_MAGIC, cryo_cpu_entry, 'cryo-cpu');
  if (entries !== undefined && entries.length !== 1) throw new Error(`${file}: holds ${entries.length} entries, not 1: the image is damaged`);
  return entries?.[0];
}
