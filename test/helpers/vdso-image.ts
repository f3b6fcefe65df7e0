// Edits a dump so that the vDSO it holds is not this kernel's: the dumped vDSO becomes one page
// larger, a new ELF header page in front of the old bytes, every table offset, address and symbol
// value moved by that page. It is a different vDSO (another size, every entry point at another
// offset) whose functions still lie at the addresses the task's libc holds: as if the task had
// been dumped on a kernel with that vDSO. Editors for its symbols make wrong images of it.

import { openSync, readFileSync, readSync, closeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { PageReader } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from './restore-env.js';

const VDSO = 1 << 3;
const VVAR = 1 << 12;
const AT_SYSINFO_EHDR = 33n;
const DT_POINTERS = new Set([4n, 5n, 6n, 0x6ffffef5n, 0x6ffffff0n, 0x6ffffffcn]);
const SHT_DYNSYM = 11;
const SHT_DYNAMIC = 6;

interface Elf { u16(o: number): number; u32(o: number): number; u64(o: number): bigint; set64(o: number, v: bigint): void; set32(o: number, v: number): void }

function elf(b: Buffer): Elf {
  assert.equal(b[4], 2, 'a 64-bit vDSO');
  const le = b[5] === 1;
  return {
    u16: (o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o)),
    u32: (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o)),
    u64: (o) => (le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)),
    set64: (o, v) => { if (le) b.writeBigUInt64LE(v, o); else b.writeBigUInt64BE(v, o); },
    set32: (o, v) => { if (le) b.writeUInt32LE(v, o); else b.writeUInt32BE(v, o); },
  };
}

interface Sections { shoff: number; shnum: number; shentsize: number }
const sections = (e: Elf): Sections => ({ shoff: Number(e.u64(40)), shentsize: e.u16(58), shnum: e.u16(60) });

/** Calls `fn` with the file offset of every dynsym entry that names a defined symbol, and its name. */
function eachSymbol(b: Buffer, fn: (at: number, name: string) => void): void {
  const e = elf(b);
  const { shoff, shnum, shentsize } = sections(e);
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shentsize;
    if (e.u32(s + 4) !== SHT_DYNSYM) continue;
    const off = Number(e.u64(s + 24)), size = Number(e.u64(s + 32));
    const str = Number(e.u64(shoff + e.u32(s + 40) * shentsize + 24));
    for (let at = off + 24; at < off + size; at += 24) {
      if (e.u16(at + 6) === 0) continue;
      const n = str + e.u32(at);
      fn(at, b.toString('latin1', n, b.indexOf(0, n)));
    }
  }
}

/** The vDSO image `v` with one page in front: a copy of its ELF header, everything else moved by `page`. */
export function shiftedVdso(v: Buffer, page: number): Buffer {
  const out = Buffer.alloc(v.length + page);
  v.copy(out, page);
  v.copy(out, 0, 0, 64);
  const e = elf(out);
  const P = BigInt(page);
  const phoff = Number(e.u64(32)) + page;
  e.set64(32, BigInt(phoff));
  e.set64(40, e.u64(40) + P);
  const phentsize = e.u16(54), phnum = e.u16(56);
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (e.u32(p) === 1 && e.u64(p + 8) === 0n) {
      // The PT_LOAD of the whole image: it now starts at the new header, one page longer.
      e.set64(p + 32, e.u64(p + 32) + P);
      e.set64(p + 40, e.u64(p + 40) + P);
      continue;
    }
    for (const f of [8, 16, 24]) e.set64(p + f, e.u64(p + f) + P);
  }
  const { shoff, shnum, shentsize } = sections(e);
  for (let i = 1; i < shnum; i++) {
    const s = shoff + i * shentsize;
    if (e.u64(s + 16) !== 0n) e.set64(s + 16, e.u64(s + 16) + P);
    e.set64(s + 24, e.u64(s + 24) + P);
    if (e.u32(s + 4) === SHT_DYNAMIC) {
      const off = Number(e.u64(s + 24)), size = Number(e.u64(s + 32));
      for (let d = off; d < off + size; d += 16) if (DT_POINTERS.has(e.u64(d))) e.set64(d + 8, e.u64(d + 8) + P);
    }
  }
  eachSymbol(out, (at) => e.set64(at + 8, e.u64(at + 8) + P));
  return out;
}

/** Swaps the values of the symbols named `a` and `b` (and of their aliases: the same old value). */
export function swapSymbols(v: Buffer, a: string, b: string): void {
  const e = elf(v);
  const value = new Map<string, bigint>();
  eachSymbol(v, (at, name) => value.set(name, e.u64(at + 8)));
  const va = value.get(a), vb = value.get(b);
  assert.ok(va !== undefined && vb !== undefined, `the vDSO has ${a} and ${b}`);
  eachSymbol(v, (at) => {
    const x = e.u64(at + 8);
    if (x === va) e.set64(at + 8, vb); else if (x === vb) e.set64(at + 8, va);
  });
}

/** Renames symbol `name` by replacing its last character with `last`. */
export function renameSymbol(v: Buffer, name: string, last: string): void {
  let done = false;
  eachSymbol(v, (at, n) => {
    if (n !== name) return;
    const e = elf(v);
    const { shoff, shnum, shentsize } = sections(e);
    for (let i = 0; i < shnum && !done; i++) {
      const s = shoff + i * shentsize;
      if (e.u32(s + 4) !== SHT_DYNSYM) continue;
      const str = Number(e.u64(shoff + e.u32(s + 40) * shentsize + 24));
      v.write(last, str + e.u32(at) + name.length - 1, 'latin1');
      done = true;
    }
  });
  assert.ok(done, `the vDSO has ${name}`);
}

/**
 * Replaces the dumped vDSO in the images in `dir` (task `pid`) by shiftedVdso() of it, then lets
 * `edit` change its bytes further. The [vvar] area below moves down by the same page (or loses its
 * top page where something lies right below it).
 */
export function editDumpedVdso(dir: string, pid: number, page: number, edit?: (v: Buffer) => void): void {
  const P = BigInt(page);
  let start = 0n, end = 0n;
  editImage(dir, `mm-${pid}.img`, (e) => {
    const vmas = e[0]!.vmas as MessageValue[];
    const vdso = vmas.find((x) => Number(x.status) & VDSO)!;
    const vvar = vmas.find((x) => Number(x.status) & VVAR);
    start = BigInt(vdso.start as bigint); end = BigInt(vdso.end as bigint);
    vdso.start = start - P;
    const lo = vvar && BigInt(vvar.end as bigint) === start ? BigInt(vvar.start as bigint) : start;
    const free = vmas.every((x) => x === vdso || x === vvar || BigInt(x.end as bigint) <= lo - P || BigInt(x.start as bigint) >= end);
    if (vvar && lo !== start) {
      // The data pages below: one page lower when there is room, else one page fewer (another kernel's layout).
      if (free) vvar.start = lo - P;
      else assert.ok(start - lo > P, 'a free page below the vDSO areas, or data pages to spare');
      vvar.end = start - P;
    } else {
      assert.ok(free, 'a free page below the vDSO');
    }
    const auxv = e[0]!.mm_saved_auxv as bigint[];
    for (let i = 0; i + 1 < auxv.length; i += 2) if (BigInt(auxv[i]!) === AT_SYSINFO_EHDR) auxv[i + 1] = start - P;
  });
  const { fileOff, bytes: old, ownRun } = dumpedVdso(dir, pid, page, start, end);
  assert.ok(ownRun, 'the vDSO is one pagemap run of its own');
  const pagesFile = path.join(dir, 'pages-1.img');
  const pages = readFileSync(pagesFile);
  const v = shiftedVdso(old, page);
  edit?.(v);
  writeFileSync(pagesFile, Buffer.concat([pages.subarray(0, fileOff), v, pages.subarray(fileOff + old.length)]));
  editImage(dir, `pagemap-${pid}.img`, (e) => {
    const run = e.find((x) => x.vaddr !== undefined && BigInt(x.vaddr as bigint) === start)!;
    run.vaddr = start - P;
    run.nr_pages = Number(run.nr_pages) + 1;
  });
}

/**
 * The vDSO's bytes in the dump in `dir` (task `pid`, its area at start..end), where they are in
 * pages-1.img, and whether they are a pagemap run of their own (not merged with a neighbour's pages).
 */
export function dumpedVdso(dir: string, pid: number, page: number, start: bigint, end: bigint): { fileOff: number; bytes: Buffer; ownRun: boolean } {
  const reader = new PageReader(path.join(dir, `pagemap-${pid}.img`), undefined, page);
  let fileOff = -1;
  let ownRun = false;
  try {
    for (const run of reader) {
      const runEnd = run.vaddr + BigInt(run.nrPages * page);
      if (run.vaddr > start || runEnd < end) continue;
      fileOff = run.offset + Number(start - run.vaddr);
      ownRun = run.vaddr === start && runEnd === end;
    }
  } finally {
    reader.close();
  }
  assert.ok(fileOff >= 0, 'the dump holds the vDSO\'s pages');
  const bytes = Buffer.alloc(Number(end - start));
  const fd = openSync(path.join(dir, 'pages-1.img'), 'r');
  try { readSync(fd, bytes, 0, bytes.length, fileOff); } finally { closeSync(fd); }
  return { fileOff, bytes, ownRun };
}
