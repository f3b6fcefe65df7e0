// Lists of address ranges in address order. /proc's maps and mm.img list their VMAs in order
// already, so a list is sorted only when it is not (10,000 VMAs, asked for many times a restore).

/**
 * `list` sorted in place by `start(item)` when it is out of order, and returned (stable: items
 * with equal starts keep their order).
 */
export function inAddressOrder<T>(list: T[], start: (item: T) => bigint): T[] {
  const n = list.length;
  let head = 1;
  while (head < n && start(list[head - 1]!) <= start(list[head]!)) head++;
  if (head >= n) return list;
  const byStart = (a: T, b: T): number => {
    const x = start(a);
    const y = start(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  // A long run in order and a few after it (a task's VMAs, then cryo's own areas appended: a dump
  // asks three times with 10,000 VMAs): only the few are sorted, then merged in from the back.
  const tail = list.slice(head);
  if (tail.length * 16 > n) return list.sort(byStart);
  tail.sort(byStart);
  let h = head - 1;
  let w = n - 1;
  for (let t = tail.length - 1; t >= 0; w--) {
    // An equal start: the tail's item after the head's (where a stable sort puts it).
    if (h >= 0 && start(list[h]!) > start(tail[t]!)) list[w] = list[h--]!;
    else list[w] = tail[t--]!;
  }
  return list;
}

/** A range's start, for inAddressOrder. */
export const rangeStart = (r: { readonly start: bigint }): bigint => r.start;
