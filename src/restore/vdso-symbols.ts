// The vDSO's entry points, read from its ELF image (dynamic symbol table), to tell whether the
// kernel restore runs on has the same vDSO the task was dumped with: the task's code (libc)
// holds pointers into the vDSO, so a vDSO of the same size whose functions moved would crash
// it later (DESIGN rule 4). Pure code; the ELF's own EI_DATA byte says its byte order.

const ELFMAG = 0x7f454c46;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const PT_LOAD = 1;

interface Reader { u16(o: number): number; u32(o: number): number; word(o: number): number; wordSize: number }

function reader(b: Buffer): Reader {
  if (b.length < 64 || b.readUInt32BE(0) !== ELFMAG) throw new Error('not an ELF image');
  const le = b[5] === 1;
  const is64 = b[4] === 2;
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  return { u16, u32, word: is64 ? u64 : u32, wordSize: is64 ? 8 : 4 };
}

/** A function symbol of an ELF image: its name, offset in the image as mapped, and where its st_value is. */
export interface ElfFunction { name: string; offset: number; valueAt: number }

/** Every defined function symbol of the ELF image's dynamic symbol table (a vDSO's entry points). */
export function elfFunctions(img: Buffer): ElfFunction[] {
  const r = reader(img);
  const w = r.wordSize;
  // ELF header: e_phoff, e_shoff after e_entry; then the sizes and counts.
  const phoff = r.word(24 + w), shoff = r.word(24 + 2 * w);
  const base = 24 + 3 * w + 4; // e_ehsize
  const phentsize = r.u16(base + 2), phnum = r.u16(base + 4), shentsize = r.u16(base + 6), shnum = r.u16(base + 8);
  // The first PT_LOAD maps file offset p_offset at p_vaddr: symbol values are vaddrs.
  let loadDelta = 0;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (r.u32(p) !== PT_LOAD) continue;
    const [off, vaddr] = w === 8 ? [r.word(p + 8), r.word(p + 16)] : [r.word(p + 4), r.word(p + 8)];
    loadDelta = vaddr - off;
    break;
  }
  const sh = (i: number) => {
    const s = shoff + i * shentsize;
    return w === 8
      ? { type: r.u32(s + 4), offset: r.word(s + 24), size: r.word(s + 32), link: r.u32(s + 40), entsize: r.word(s + 56) }
      : { type: r.u32(s + 4), offset: r.word(s + 16), size: r.word(s + 20), link: r.u32(s + 24), entsize: r.word(s + 36) };
  };
  const out: ElfFunction[] = [];
  for (let i = 0; i < shnum; i++) {
    const sym = sh(i);
    if (sym.type !== SHT_DYNSYM || sym.entsize === 0) continue;
    const str = sh(sym.link);
    for (let e = sym.offset; e + sym.entsize <= sym.offset + sym.size; e += sym.entsize) {
      const name = r.u32(e);
      const valueAt = w === 8 ? e + 8 : e + 4;
      const [info, shndx] = w === 8 ? [img[e + 4]!, r.u16(e + 6)] : [img[e + 12]!, r.u16(e + 14)];
      if ((info & 0xf) !== STT_FUNC || shndx === 0) continue;
      const end = img.indexOf(0, str.offset + name);
      out.push({ name: img.toString('latin1', str.offset + name, end < 0 ? undefined : end), offset: r.word(valueAt) - loadDelta, valueAt });
    }
  }
  return out;
}

/** Section types a name lookup in a loaded ELF image reads (hash tables, symbols, names, versions, dynamic). */
const LOOKUP_SECTIONS = new Set([3, 5, 6, SHT_DYNSYM, 0x6ffffff6, 0x6ffffffd, 0x6ffffffe, 0x6fffffff]);

/**
 * The byte ranges of an ELF image that a lookup of its symbols by name reads (the ELF header,
 * program and section headers, symbol and string tables, hashes, versions, dynamic section):
 * the parts of an old vDSO that must stay intact when its code is patched.
 */
export function elfLookupRanges(img: Buffer): { start: number; end: number }[] {
  const r = reader(img);
  const w = r.wordSize;
  const phoff = r.word(24 + w), shoff = r.word(24 + 2 * w);
  const base = 24 + 3 * w + 4;
  const ehsize = r.u16(base), phentsize = r.u16(base + 2), phnum = r.u16(base + 4), shentsize = r.u16(base + 6), shnum = r.u16(base + 8);
  const out = [{ start: 0, end: ehsize }, { start: phoff, end: phoff + phentsize * phnum }, { start: shoff, end: shoff + shentsize * shnum }];
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shentsize;
    const type = r.u32(s + 4);
    const [offset, size] = w === 8 ? [r.word(s + 24), r.word(s + 32)] : [r.word(s + 16), r.word(s + 20)];
    if (LOOKUP_SECTIONS.has(type)) out.push({ start: offset, end: offset + size });
  }
  return out.filter((x) => x.end > x.start);
}

/** Function symbols of an ELF image (a vDSO) by name -> offset in the image as mapped. */
export function elfFunctionSymbols(img: Buffer): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of elfFunctions(img)) if (!out.has(f.name)) out.set(f.name, f.offset);
  return out;
}

/** How the vDSO `mine` differs from the dumped one, in a few words; undefined when it does not. */
export function vdsoDifference(dumped: Buffer, mine: Buffer): string | undefined {
  if (dumped.length !== mine.length) return `${mine.length} bytes here, ${dumped.length} in the dump`;
  const a = elfFunctionSymbols(dumped);
  const b = elfFunctionSymbols(mine);
  const hex = (v: number) => `0x${v.toString(16)}`;
  for (const [name, off] of a) {
    const here = b.get(name);
    if (here === undefined) return `${name} is missing here`;
    if (here !== off) return `${name} is at offset ${hex(here)} here, ${hex(off)} in the dump`;
  }
  return undefined;
}
