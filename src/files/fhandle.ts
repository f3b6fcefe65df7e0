// File handles of watched inodes (fh_entry): how the kernel names an inode without a path
// (name_to_handle_at's struct file_handle, shown in fdinfo), turned back into a path with
// open_by_handle_at on a mount of the same device. Works where the file system and the inode
// are the same as at dump time: the same machine, the directory never recreated.
import { closeSync, openSync, readlinkSync, statSync } from 'node:fs';
import { readMountinfo } from '../proc/index.js';
import { rawSyscall } from '../sys/index.js';
import { hostKernelAbi } from '../arch/host-abi.js';
import type { MessageValue } from '../images/value.js';
import type { FileHandle } from '../proc/index.js';
import { O_PATH, big, num } from '../shared/constants.js';
import { readU64, writeU64, writeU32, writeI32 } from '../sys/native-endian.js';
import { lookupNoSymlinks, notCleanAbsolute } from '../sys/safe-path.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { DumpFd } from './kind.js';

const O_RDONLY_DIR = hostKernelAbi().openFlags.O_DIRECTORY; // O_RDONLY (0) | O_DIRECTORY
/** CRIU writes at least 16 u64 words of handle (FH_ENTRY_SIZES__min_entries). */
const MIN_WORDS = 16;

/** fdinfo's handle as CRIU stores it: bytes, type, the handle as little-endian u64 words. */
export function fhEntry(h: FileHandle): MessageValue {
  const words = Math.max(MIN_WORDS, Math.ceil(h.handle.length / 8));
  const buf = Buffer.alloc(words * 8);
  h.handle.copy(buf);
  return { bytes: h.bytes, type: h.type, handle: Array.from({ length: words }, (_, i) => readU64(buf, i * 8)) };
}

/** A device in the kernel's internal encoding (major << 20 | minor). */
const devOf = (sdev: number) => ({ major: sdev >>> 20, minor: sdev & 0xfffff });

/**
 * The path (as cryo sees it) of the inode `ino` on device `sdev` named by handle `fh`, or
 * undefined when no mount of that device opens the handle to that inode.
 */
export function pathOfHandle(fh: MessageValue, sdev: number, ino: bigint): string | undefined {
  const { major, minor } = devOf(sdev);
  const bytes = num(fh.bytes);
  const words = ((fh.handle as (bigint | number)[] | undefined) ?? []).map(big);
  const raw = Buffer.alloc(Math.max(bytes, words.length * 8));
  words.forEach((w, i) => writeU64(raw, BigInt.asUintN(64, w), i * 8));
  // struct file_handle { u32 handle_bytes; int handle_type; unsigned char f_handle[]; }
  const fhs = Buffer.alloc(8 + bytes);
  writeU32(fhs, bytes, 0);
  writeI32(fhs, num(fh.type), 4);
  raw.copy(fhs, 8, 0, bytes);
  for (const m of readMountinfo('self')) {
    if (m.devMajor !== major || m.devMinor !== minor) continue;
    let mnt: number;
    try {
      mnt = openSync(m.mountPoint, O_RDONLY_DIR); // not O_PATH: open_by_handle_at wants a real descriptor
    } catch {
      continue;
    }
    try {
      const fd = Number(rawSyscall('open_by_handle_at', mnt, fhs, O_PATH));
      try {
        const p = readlinkSync(`/proc/self/fd/${fd}`);
        if (p.startsWith('/') && statSync(p, { bigint: true }).ino === ino) return p;
      } finally {
        closeSync(fd);
      }
    } catch { /* not on this mount (ESTALE, ...) */ } finally {
      closeSync(mnt);
    }
  }
  return undefined;
}

/**
 * The image's handle of a watched inode (inotify watch, fanotify mark), with the path it opens to
 * as a hint (as CRIU 4.2 writes it); for a file deleted since, the ghost file of the tree that is
 * it, once every descriptor is dumped.
 */
export function watchedHandle(c: DumpFd, h: FileHandle, sdev: number, ino: bigint): MessageValue {
  const fh = fhEntry(h);
  const p = pathOfHandle(fh, sdev, ino);
  if (p !== undefined) fh.path = p;
  else c.table.whenTreeDumped(() => { const g = c.table.ghostName(sdev, ino); if (g !== undefined) fh.path = g; });
  return fh;
}

/** Where a watch is to be put again: its path hint if it is there (no link on the way), else what its handle opens. */
export function watchedPath(fh: MessageValue | undefined, sdev: number, ino: bigint): string | undefined {
  const hint = fh?.path === undefined ? undefined : String(fh.path);
  // Only a hint the dump could have written: a clean absolute path reached without a symbolic link.
  if (hint !== undefined && notCleanAbsolute(hint) === undefined && lookupNoSymlinks(hint).kind === 'found') return hint;
  return fh ? pathOfHandle(fh, sdev, ino) : undefined;
}

/** The names of the dump's ghost files: they exist again only from the files step on, so count as found. */
export function ghostNames(img: RestoreImages): Set<string> {
  return new Set((img.all.get('remap-fpath.img')?.entries ?? []).map((e) => String((img.files.get(num(e.value.orig_id))?.reg as MessageValue | undefined)?.name)));
}
