// mmap(2)/mprotect(2)/madvise(2)/mremap(2) numbers of this machine's architecture (KernelAbi.mman): their one home.
import { hostKernelAbi } from './host-abi.js';

const M = hostKernelAbi().mman;
export const PROT_READ = M.PROT_READ;
export const PROT_WRITE = M.PROT_WRITE;
export const PROT_EXEC = M.PROT_EXEC;
export const MAP_SHARED = M.MAP_SHARED;
export const MAP_PRIVATE = M.MAP_PRIVATE;
export const MAP_DROPPABLE = M.MAP_DROPPABLE;
export const MAP_FIXED = M.MAP_FIXED;
export const MAP_ANONYMOUS = M.MAP_ANONYMOUS;
export const MAP_GROWSDOWN = M.MAP_GROWSDOWN;
export const MAP_LOCKED = M.MAP_LOCKED;
export const MAP_NORESERVE = M.MAP_NORESERVE;
export const MAP_HUGETLB = M.MAP_HUGETLB;
export const MAP_FIXED_NOREPLACE = M.MAP_FIXED_NOREPLACE;
export const MAP_POPULATE = M.MAP_POPULATE;
export const MADV_RANDOM = M.MADV_RANDOM;
export const MADV_SEQUENTIAL = M.MADV_SEQUENTIAL;
export const MADV_DONTNEED = M.MADV_DONTNEED;
export const MADV_DONTFORK = M.MADV_DONTFORK;
export const MADV_MERGEABLE = M.MADV_MERGEABLE;
export const MADV_HUGEPAGE = M.MADV_HUGEPAGE;
export const MADV_NOHUGEPAGE = M.MADV_NOHUGEPAGE;
export const MADV_DONTDUMP = M.MADV_DONTDUMP;
export const MADV_WIPEONFORK = M.MADV_WIPEONFORK;
export const MADV_GUARD_INSTALL = M.MADV_GUARD_INSTALL;
/** An image's `madv` bits (one per MADV_* number) after which a fork's child lacks the parent's pages. */
export const MADV_NOT_FORKED_BITS = (1n << BigInt(MADV_DONTFORK)) | (1n << BigInt(MADV_WIPEONFORK));
// mremap(2)'s flags come from include/uapi/linux/mman.h, one header for every architecture.
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
