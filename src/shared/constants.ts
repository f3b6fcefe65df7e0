// open(2)/fcntl(2) numbers the descriptor kinds share: the same on every architecture cryo targets,
// except O_DIRECT, O_DIRECTORY and O_NOFOLLOW (aarch64 and ppc64 move them), which are the arch's (KernelAbi.openFlags).
import { hostKernelAbi } from '../arch/host-abi.js';

export const O_ACCMODE = 0o3;
export const O_RDONLY = 0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_NONBLOCK = 0o4000;
/** FASYNC. */
export const O_ASYNC = 0o20000;
export const O_DIRECT = hostKernelAbi().openFlags.O_DIRECT;
export const O_DIRECTORY = hostKernelAbi().openFlags.O_DIRECTORY;
export const O_NOFOLLOW = hostKernelAbi().openFlags.O_NOFOLLOW;
export { O_CLOEXEC, O_PATH } from '../sys/open-flags.js';
/** Open flags the kernel drops after open; passing them again would create or truncate. */
export const O_OPEN_ONLY = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC;
export const F_DUPFD = 0;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const FD_CLOEXEC = 1;
export const SEEK_SET = 0;
export const F_GETPIPE_SZ = 1032;
export const F_SETPIPE_SZ = 1031;
export const SPLICE_F_NONBLOCK = 2;

export const num = (v: unknown): number => Number((v as bigint | number | undefined) ?? 0);
export const big = (v: unknown): bigint => BigInt((v as bigint | number | undefined) ?? 0);
