// The xsave area as this CPU lays it out (standard, non-compacted format), and
// the conversion between it and CRIU's user_x86_fpregs_entry, derived from
// the tables in regs.ts.

import type { CpuProbe } from '../types.js';
import type { ImageRecord, RegField } from '../regtable.js';
import { decodeTable, encodeTable, readField, writeField } from './byte-order.js';
import {
  FP_XSTATE_MAGIC1, FXSAVE_FIELDS, FXSAVE_SIZE, REGSET_SW_XFEATURES, SW_BYTES, XFEATURE_MASK_FPSSE, XSAVE_COMPONENTS, XSAVE_HEADER,
  XSAVE_HEADER_SIZE, type XsaveComponent,
} from './regs.js';

/** Where this CPU puts each enabled user component, and the whole area's size. */
export interface XsaveLayout {
  /** XCR0: the user components the kernel enabled. */
  readonly xfeatures: bigint;
  /** Size of the standard-format area for xfeatures (CPUID 0xD.0 EBX): NT_X86_XSTATE's size. */
  readonly size: number;
  /** Offset of each enabled component (bit -> offset). */
  readonly offsets: ReadonlyMap<number, number>;
  /** Where the layout came from, for messages. */
  readonly source: 'cpuid' | 'defaults';
}

const byBit = new Map(XSAVE_COMPONENTS.map((c) => [c.bit, c]));

export function componentOf(bit: number): XsaveComponent | undefined {
  return byBit.get(bit);
}

export function bitsOf(mask: bigint): number[] {
  const out: number[] = [];
  for (let b = 0; mask >> BigInt(b) !== 0n; b++) if ((mask >> BigInt(b)) & 1n) out.push(b);
  return out;
}

/** The layout from the table's default offsets, for a given XCR0. */
export function defaultLayout(xfeatures: bigint, size?: number): XsaveLayout {
  const offsets = new Map<number, number>();
  let end = FXSAVE_SIZE + XSAVE_HEADER_SIZE;
  for (const bit of bitsOf(xfeatures)) {
    const c = byBit.get(bit);
    if (c === undefined || c.defaultOffset === undefined) {
      throw new Error(`xsave component ${bit} is enabled but cryo knows no offset for it without CPUID: `
        + 'run on a build of cryo whose sys layer offers cpuid');
    }
    offsets.set(bit, c.defaultOffset);
    end = Math.max(end, c.defaultOffset + c.size);
  }
  return { xfeatures, size: size ?? end, offsets, source: 'defaults' };
}

export type CpuidFn = NonNullable<CpuProbe['cpuid']>;

/** The layout this CPU reports through CPUID leaf 0xD for the enabled features in xcr0. */
export function layoutFromCpuid(cpuid: CpuidFn, xcr0: bigint): XsaveLayout {
  const offsets = new Map<number, number>();
  for (const bit of bitsOf(xcr0)) {
    if (bit < 2) { offsets.set(bit, bit === 0 ? 0 : 160); continue; }
    const r = cpuid(0xd, bit);
    offsets.set(bit, r.ebx >>> 0);
  }
  return { xfeatures: xcr0, size: cpuid(0xd, 0).ebx >>> 0, offsets, source: 'cpuid' };
}

/**
 * Compares the component table with what CPUID leaf 0xD says (sizes always,
 * default offsets too): a list of disagreements, empty when the table is right
 * for this CPU. Offsets differing from the defaults are expected on some CPUs
 * and reported separately so the caller can decide.
 */
export function verifyTableAgainstCpuid(cpuid: CpuidFn, xcr0: bigint): { sizes: string[]; offsets: string[] } {
  const sizes: string[] = [];
  const offsets: string[] = [];
  for (const bit of bitsOf(xcr0)) {
    if (bit < 2) continue;
    const c = byBit.get(bit);
    const r = cpuid(0xd, bit);
    if (c === undefined) { sizes.push(`component ${bit} (${r.eax} bytes) is not in the table`); continue; }
    if (r.eax >>> 0 !== c.size) sizes.push(`${c.name}: CPUID says ${r.eax} bytes, the table ${c.size}`);
    if (c.field && c.field.count * (c.field.image === 'u64' ? 8 : 4) !== c.size) {
      sizes.push(`${c.name}: image field ${c.field.name} does not cover the component`);
    }
    if (c.defaultOffset !== undefined && r.ebx >>> 0 !== c.defaultOffset) {
      offsets.push(`${c.name}: CPUID says offset ${r.ebx}, the table's default ${c.defaultOffset}`);
    }
  }
  return { sizes, offsets };
}

/** The RegField of a component at this layout's offset, when the image can hold it. */
function componentField(c: XsaveComponent, layout: XsaveLayout): RegField | undefined {
  const offset = layout.offsets.get(c.bit);
  if (c.field === undefined || offset === undefined) return undefined;
  return { name: c.field.name, offset, image: c.field.image, count: c.field.count };
}

/** Components the image format holds and this layout has. */
export function imageComponents(layout: XsaveLayout): { comp: XsaveComponent; field: RegField }[] {
  const out: { comp: XsaveComponent; field: RegField }[] = [];
  for (const c of XSAVE_COMPONENTS) {
    const field = componentField(c, layout);
    if (field) out.push({ comp: c, field });
  }
  return out;
}

/** The xfeatures the kernel wrote in an NT_X86_XSTATE regset's sw_reserved bytes (XCR0 of the dumping kernel). */
export function swXfeatures(buf: Buffer): bigint | undefined {
  const xf = readField(buf, REGSET_SW_XFEATURES) as bigint;
  return xf === 0n ? undefined : xf;
}

/** Where the xsave bytes go: a regset (PTRACE_SETREGSET) or a signal frame (rt_sigreturn). */
export type XsaveTarget = 'regset' | 'sigframe';

/** Writes sw_reserved the way the kernel fills it for GETREGSET ('regset') or a signal frame. */
export function writeSwBytes(buf: Buffer, base: number, layout: XsaveLayout, target: XsaveTarget): void {
  if (target === 'regset') {
    writeField(buf, REGSET_SW_XFEATURES, layout.xfeatures, base);
    return;
  }
  encodeTable(SW_BYTES.fields, {
    magic1: FP_XSTATE_MAGIC1,
    extended_size: layout.size + 4, // FP_XSTATE_MAGIC2 follows the area
    xfeatures: layout.xfeatures,
    xstate_size: layout.size,
  }, buf, base + SW_BYTES.offset);
}

/** fxsave bytes (no layout) or a whole xsave area -> user_x86_fpregs_entry. */
export function fpregsFromBuffer(buf: Buffer, layout: XsaveLayout | undefined): ImageRecord {
  const fp = decodeTable(FXSAVE_FIELDS, buf);
  if (layout === undefined) return fp;
  const xsave: ImageRecord = decodeTable(XSAVE_HEADER, buf);
  for (const { field } of imageComponents(layout)) xsave[field.name] = readField(buf, field);
  fp.xsave = xsave;
  return fp;
}

/** The image's component fields that hold data, as a mask of feature bits. */
export function presentComponents(xsave: ImageRecord): bigint {
  let mask = 0n;
  for (const c of XSAVE_COMPONENTS) {
    const v = c.field && xsave[c.field.name];
    if (Array.isArray(v) && v.length > 0) mask |= 1n << BigInt(c.bit);
  }
  return mask;
}

/**
 * user_x86_fpregs_entry -> xsave bytes in this layout (or fxsave bytes when
 * the layout is absent). The header's xstate_bv keeps the image's bits for
 * components the image holds; others come back in their init state.
 * `base` lets a signal frame place the area inside a bigger buffer.
 */
export function fpregsToBuffer(fp: ImageRecord, layout: XsaveLayout | undefined, buf: Buffer, base: number,
  target: XsaveTarget): void {
  encodeTable(FXSAVE_FIELDS, fp, buf, base, 'fpregs');
  const xsave = fp.xsave as ImageRecord | undefined;
  if (layout === undefined) return;
  writeSwBytes(buf, base, layout, target);
  let bv = XFEATURE_MASK_FPSSE;
  if (xsave !== undefined) {
    const present = presentComponents(xsave);
    bv = (BigInt(xsave.xstate_bv as bigint | number) & (present | XFEATURE_MASK_FPSSE));
    const lacking = bv & ~layout.xfeatures;
    if (lacking !== 0n) {
      throw new Error(`${describeMissing(lacking)[0]?.message ?? 'the image uses xsave state this CPU lacks'}`);
    }
    // A component outside xstate_bv comes back in its init state whatever its bytes: not written
    // (a thread that never used AVX-512 has 192 words of it; 100 threads' frames and regsets took 30 ms).
    for (const { comp, field } of imageComponents(layout)) {
      const v = xsave[field.name];
      if (((bv >> BigInt(comp.bit)) & 1n) !== 0n && Array.isArray(v) && v.length > 0) writeField(buf, field, v, base, `fpregs.xsave.${field.name}`);
    }
  }
  writeField(buf, XSAVE_HEADER[0]!, bv, base, 'fpregs.xsave.xstate_bv');
}

/** Groups missing feature bits by the feature a user knows, one message each. */
export function describeMissing(mask: bigint): { name: string; bits: number[]; message: string }[] {
  const groups = new Map<string, number[]>();
  for (const bit of bitsOf(mask)) {
    const name = byBit.get(bit)?.feature ?? `xsave component ${bit}`;
    groups.set(name, [...(groups.get(name) ?? []), bit]);
  }
  return [...groups].map(([name, bits]) => ({
    name,
    bits,
    message: `the image uses ${name} (xsave feature ${bitRange(bits)}) but this CPU does not offer it: `
      + 'restore on a CPU that has it',
  }));
}

function bitRange(bits: number[]): string {
  if (bits.length === 1) return `bit ${bits[0]}`;
  const contiguous = bits.every((b, i) => i === 0 || b === bits[i - 1]! + 1);
  return contiguous ? `bits ${bits[0]}-${bits[bits.length - 1]}` : `bits ${bits.join(', ')}`;
}
