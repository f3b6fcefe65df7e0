// CRIU's vma_entry.status bits (criu/include/image.h) and what each kind of
// mapping needs from restore. One table: adding a kind = one row.

export const VMA = {
  REGULAR: 1 << 0,
  STACK: 1 << 1,
  VSYSCALL: 1 << 2,
  VDSO: 1 << 3,
  HEAP: 1 << 5,
  FILE_PRIVATE: 1 << 6,
  FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8,
  ANON_PRIVATE: 1 << 9,
  SYSVIPC: 1 << 10,
  SOCKET: 1 << 11,
  VVAR: 1 << 12,
  AIORING: 1 << 13,
  MEMFD: 1 << 14,
  SHSTK: 1 << 15,
  GUARD: 1 << 16,
  UPROBES: 1 << 17,
  /** cryo's own bit (CRIU has none): a mapping of an io_uring ring, shmid = the ring's file id (src/files/io-uring.ts). */
  IO_URING: 1 << 18,
  UNSUPP: 1 << 31,
} as const;

/** How restore treats a VMA. */
export type VmaKind =
  | 'skip' // the kernel provides it ([vsyscall]) or it is not a real mapping
  | 'vdso' // moved from the stub's own vdso/vvar, never mapped
  | 'anon-private'
  | 'file-private'
  | 'file-shared'
  | 'shmem' // a memfd or shared anonymous memory (VMA_AREA_MEMFD, VMA_ANON_SHARED): shared/shmem.ts
  | 'sysv-shm' // a System V segment, attached by shmat (restore/sysv-ipc.ts made it)
  | 'io-uring' // mapped with its ring when the descriptor is restored (src/files/io-uring.ts)
  | 'packet-ring' // a packet socket's RX/TX ring, mapped when the socket is restored (src/files/packet-ring.ts)
  | 'aio' // a libaio ring: its bytes as private memory first, then a new ring moved there (restore/aio.ts)
  | { unsupported: string };

/** Status bits cryo cannot restore yet, with the words for the error. */
const UNSUPPORTED: readonly [number, string][] = [
  [VMA.SHSTK, 'a shadow stack'],
  [VMA.UPROBES, 'the uprobes area'],
  [VMA.UNSUPP, 'a mapping CRIU marked unsupported'],
];

/** Every bit of UNSUPPORTED: most mappings have none (a task of 10,000 asks 10,000 times). */
const UNSUPPORTED_BITS = UNSUPPORTED.reduce((m, [bit]) => m | bit, 0);

export function vmaKind(status: number): VmaKind {
  if (status & VMA.VSYSCALL) return 'skip';
  if (status & (VMA.VDSO | VMA.VVAR)) return 'vdso';
  if (status & UNSUPPORTED_BITS) for (const [bit, what] of UNSUPPORTED) if (status & bit) return { unsupported: what };
  if (status & VMA.AIORING) return 'aio';
  if (status & VMA.SYSVIPC) return 'sysv-shm';
  if (status & VMA.IO_URING) return 'io-uring';
  if (status & VMA.SOCKET) return 'packet-ring';
  if (status & (VMA.MEMFD | VMA.ANON_SHARED)) return 'shmem';
  if (status & VMA.FILE_PRIVATE) return 'file-private';
  if (status & VMA.FILE_SHARED) return 'file-shared';
  if (status & VMA.ANON_PRIVATE) return 'anon-private';
  return { unsupported: `a mapping of unknown kind (status 0x${(status >>> 0).toString(16)})` };
}
