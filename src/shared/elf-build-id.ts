// The GNU build id of an ELF file, which CRIU keeps in files.img to tell a file changed since the dump.
import { readSync } from 'node:fs';
import { HOST_LITTLE_ENDIAN, readU16, readU32, readU64 } from '../sys/native-endian.js';

const ELFCLASS64 = 2;
/** EI_DATA of the host's own binaries: ELFDATA2LSB 1, ELFDATA2MSB 2. */
const ELFDATA_HOST = HOST_LITTLE_ENDIAN ? 1 : 2;

/** The GNU build id of a native ELF file (the host's class and byte order) as CRIU stores it (u32 words in host order), or undefined. */
export function elfBuildId(fd: number): number[] | undefined {
  const h = Buffer.alloc(64);
  if (readSync(fd, h, 0, 64, 0) < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== ELFCLASS64 || h[5] !== ELFDATA_HOST) return undefined;
  const phoff = Number(readU64(h, 32));
  const phentsize = readU16(h, 54);
  const phnum = readU16(h, 56);
  const ph = Buffer.alloc(phentsize * phnum);
  readSync(fd, ph, 0, ph.length, phoff);
  for (let i = 0; i < phnum; i++) {
    const p = i * phentsize;
    if (readU32(ph, p) !== 4) continue; // PT_NOTE
    const off = Number(readU64(ph, p + 8));
    const size = Math.min(Number(readU64(ph, p + 32)), 1 << 16);
    const notes = Buffer.alloc(size);
    readSync(fd, notes, 0, size, off);
    for (let n = 0; n + 12 <= size;) {
      const namesz = readU32(notes, n);
      const descsz = readU32(notes, n + 4);
      const type = readU32(notes, n + 8);
      const name = notes.toString('latin1', n + 12, n + 12 + namesz);
      const desc = n + 12 + ((namesz + 3) & ~3);
      if (type === 3 && name === 'GNU\0') {
        const id = Buffer.alloc((descsz + 3) & ~3);
        notes.copy(id, 0, desc, desc + descsz);
        return Array.from({ length: id.length / 4 }, (_, k) => readU32(id, k * 4));
      }
      n = desc + ((descsz + 3) & ~3);
    }
  }
  return undefined;
}
