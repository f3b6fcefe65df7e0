// Device numbers: glibc's st_dev encoding split into major and minor, and the kernel's own form.

export const major = (dev: bigint) => Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
export const minor = (dev: bigint) => Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));

/**
 * A device number as the kernel keeps it inside (major << 20 | minor), the form CRIU writes in
 * ghost_file_entry.dev (and crit shows as "major:minor"); st_dev from stat() is glibc's encoding.
 */
export function kernelDev(dev: bigint): number {
  return ((major(dev) << 20) | minor(dev)) >>> 0;
}
