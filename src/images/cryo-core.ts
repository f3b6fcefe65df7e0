/**
 * cryo-core-TID.img: a thread's CPU state that CRIU's core messages have no field for (aarch64's
 * SVE registers and vector length, its SME state, its tagged-address control, TPIDR2_EL0). Dump writes the thread_info keys this schema knows here and
 * the rest in core-TID.img; restore merges them back, so every reader sees one thread_info.
 * Framing as cryo-files.img (src/images/cryo-framing.ts); one entry.
 *
 *   message cryo_aarch64_sve {
 *     required uint32 vl = 1;      // the vector length in bytes (NT_ARM_SVE's header)
 *     required uint32 flags = 2;   // the header's flags: SVE_PT_REGS_SVE (registers live), SVE_PT_VL_INHERIT
 *     optional bytes regs = 3;     // Z0..Z31, P0..P15, FFR in the kernel's layout, when live
 *   }
 *   message cryo_aarch64_sme {
 *     required uint32 vl = 1;      // the streaming vector length in bytes (NT_ARM_ZA's header)
 *     required uint32 flags = 2;   // ZA_PT_VL_INHERIT
 *     optional bytes ssve = 3;     // streaming mode on: its Z0..Z31, P0..P15, FFR (NT_ARM_SSVE's layout)
 *     optional bytes za = 4;       // ZA on: its vl x vl bytes, row after row (NT_ARM_ZA's layout)
 *     optional bytes zt0 = 5;      // SME2's ZT0 (NT_ARM_ZT), with ZA on
 *   }
 *   message cryo_ti_aarch64 {
 *     optional cryo_aarch64_sve sve = 1;
 *     optional uint64 tagged_addr_ctrl = 2;  // NT_ARM_TAGGED_ADDR_CTRL: prctl(PR_SET_TAGGED_ADDR_CTRL)'s value
 *     optional uint64 tpidr2 = 3;            // TPIDR2_EL0 (SME), NT_ARM_TLS's second word, when not 0
 *     optional cryo_aarch64_sme sme = 4;     // on CPUs with SME
 *   }
 *   message cryo_core_entry { optional cryo_ti_aarch64 ti_aarch64 = 1; }  // named as core_entry's field
 */
import path from 'node:path';
import { isMessageType, message, opt, req, type MessageDef } from './schema.js';
import type { MessageValue } from './index.js';
import { readCryoImage, writeCryoImage } from './cryo-framing.js';

/** 'CRYT' read as a little-endian u32. */
export const CRYO_CORE_MAGIC = 0x54595243;
export const cryoCoreImage = (tid: number): string => `cryo-core-${tid}.img`;

const cryo_aarch64_sve = message('cryo_aarch64_sve', [req(1, 'vl', 'uint32'), req(2, 'flags', 'uint32'), opt(3, 'regs', 'bytes')]);
const cryo_aarch64_sme = message('cryo_aarch64_sme', [
  req(1, 'vl', 'uint32'), req(2, 'flags', 'uint32'), opt(3, 'ssve', 'bytes'), opt(4, 'za', 'bytes'), opt(5, 'zt0', 'bytes'),
]);
const cryo_ti_aarch64 = message('cryo_ti_aarch64', [
  opt(1, 'sve', () => cryo_aarch64_sve), opt(2, 'tagged_addr_ctrl', 'uint64'), opt(3, 'tpidr2', 'uint64'), opt(4, 'sme', () => cryo_aarch64_sme),
]);
export const cryo_core_entry = message('cryo_core_entry', [opt(1, 'ti_aarch64', () => cryo_ti_aarch64)]);

/** The message cryo's image holds for core_entry's field `field`, if any. */
function ownDef(field: string): MessageDef | undefined {
  const f = cryo_core_entry.fields.find((x) => x.name === field);
  return f !== undefined && isMessageType(f.type) ? f.type() : undefined;
}

/** The keys of thread info `ti` (core_entry field `field`) that only cryo's image holds; undefined when none. */
export function cryoCoreOf(field: string, ti: MessageValue): MessageValue | undefined {
  const def = ownDef(field);
  const own: MessageValue = {};
  for (const f of def?.fields ?? []) if (ti[f.name] !== undefined) own[f.name] = ti[f.name]!;
  return Object.keys(own).length === 0 ? undefined : { [field]: own };
}

export function writeCryoCore(dir: string, tid: number, entry: MessageValue): void {
  writeCryoImage(path.join(dir, cryoCoreImage(tid)), CRYO_CORE_MAGIC, cryo_core_entry, [entry]);
}

/** `core` with DIR/cryo-core-TID.img's keys merged into its thread info (a copy), or `core` when there is none. */
export function withCryoCore(dir: string, tid: number, core: MessageValue): MessageValue {
  const file = path.join(dir, cryoCoreImage(tid));
  const entries = readCryoImage(file, CRYO_CORE_MAGIC, cryo_core_entry, 'cryo-core');
  if (entries === undefined) return core;
  if (entries.length !== 1) throw new Error(`${file}: holds ${entries.length} entries, not 1: the image is damaged`);
  const out: MessageValue = { ...core };
  for (const [field, own] of Object.entries(entries[0]!)) {
    const ti = core[field] as MessageValue | undefined;
    if (ti === undefined) throw new Error(`${file}: has ${field} but core-${tid}.img has none: the image is damaged`);
    out[field] = { ...ti, ...(own as MessageValue) };
  }
  return out;
}

/** DIR/cryo-core-TID.img's entry, or undefined when there is none. */
export function readCryoCore(dir: string, tid: number): MessageValue | undefined {
  return readCryoImage(path.join(dir, cryoCoreImage(tid)), CRYO_CORE_MAGIC, cryo_core_entry, 'cryo-core')?.[0];
}
