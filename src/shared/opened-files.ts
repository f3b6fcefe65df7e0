// The open files a dump has given ids, found again for every descriptor of the tree: by device and
// inode, then kcmp (the same struct file, not only the same inode). kcmp also orders files, so
// each inode's files are kept sorted and searched in halves: thousands of opens of one file cost
// a few kcmp calls each, not one per earlier open.
import { KCMP_FILE, kcmp } from '../sys/index.js';

export interface OpenedFile { pid: number; fd: number; dev: number; ino: number; id: number }

/** kcmp's answers: the same file, the first before the second, after it. */
const SAME = 0;
const BEFORE = 1;
const AFTER = 2;

export class OpenedFiles {
  /** Every one, in the order they were added. */
  readonly list: OpenedFile[] = [];
  /** Each inode's files in kcmp's order. */
  private readonly byInode = new Map<string, OpenedFile[]>();

  /**
   * The open file `fd` of process `pid` (of inode `dev`:`ino`) is: one added before (`known`), else
   * added now with the id `newId` gives.
   */
  claim(pid: number, fd: number, dev: number, ino: number, newId: () => number): { file: OpenedFile; known: boolean } {
    const key = `${dev}:${ino}`;
    let group = this.byInode.get(key);
    if (!group) this.byInode.set(key, (group = []));
    const { at, same } = this.search(group, pid, fd);
    if (same) return { file: group[at]!, known: true };
    const file = { pid, fd, dev, ino, id: newId() };
    group.splice(at, 0, file);
    this.list.push(file);
    return { file, known: false };
  }

  private search(group: OpenedFile[], pid: number, fd: number): { at: number; same: boolean } {
    let lo = 0;
    let hi = group.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = kcmp(group[mid]!.pid, pid, KCMP_FILE, group[mid]!.fd, fd);
      if (r === SAME) return { at: mid, same: true };
      if (r === BEFORE) lo = mid + 1;
      else if (r === AFTER) hi = mid - 1;
      else return this.scan(group, pid, fd); // unordered (3): one by one
    }
    return { at: lo, same: false };
  }

  private scan(group: OpenedFile[], pid: number, fd: number): { at: number; same: boolean } {
    const at = group.findIndex((s) => kcmp(s.pid, pid, KCMP_FILE, s.fd, fd) === SAME);
    return at >= 0 ? { at, same: true } : { at: group.length, same: false };
  }
}
