// Sizes as CRIU's options take them (--ghost-limit): bytes, or a number with K, M or G (powers of 1024).

const SHIFT = { '': 0n, K: 10n, M: 20n, G: 30n } as const;

/** `text` in bytes, or undefined when it is no such size. */
export function parseSize(text: string): bigint | undefined {
  const m = /^(\d+)([KMG]?)$/.exec(text);
  return m ? BigInt(m[1]!) << SHIFT[m[2] as keyof typeof SHIFT] : undefined;
}

/** A size the way parseSize takes it: with the largest of G, M, K it is a whole multiple of. */
export function showSize(bytes: bigint): string {
  for (const unit of ['G', 'M', 'K'] as const) {
    if (bytes > 0n && bytes % (1n << SHIFT[unit]) === 0n) return `${bytes >> SHIFT[unit]}${unit}`;
  }
  return String(bytes);
}

/** The smallest size parseSize takes that is `bytes` or more, in whole K, M or G where it is short. */
export function sizeAtLeast(bytes: bigint): string {
  for (const unit of ['G', 'M', 'K'] as const) {
    const u = 1n << SHIFT[unit];
    if (bytes >= u) return showSize(((bytes + u - 1n) / u) * u);
  }
  return String(bytes);
}
