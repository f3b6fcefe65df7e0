// Lists of address ranges in address order. /proc's maps and mm.img list their VMAs in order
// already, so a list is sorted only when it is not (10,000 VMAs, asked for many times a restore).

/** `list` sorted in place by `start(item)` when it is out of order, and returned. */
export function inAddressOrder<T>(list: T[], start: (item: T) => bigint): T[] {
  for (let i = 1; i < list.length; i++) {
    if (start(list[i - 1]!) > start(list[i]!)) {
      return list.sort((a, b) => {
        const x = start(a);
        const y = start(b);
        return x < y ? -1 : x > y ? 1 : 0;
      });
    }
  }
  return list;
}

/** A range's start, for inAddressOrder. */
export const rangeStart = (r: { readonly start: bigint }): bigint => r.start;
