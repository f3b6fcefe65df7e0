// A session's controlling terminal before its members exist. The kernel gives a process its
// controlling terminal only when it is forked from one that has it (TIOCSCTTY reaches the leader
// alone), so a member made before its leader took the terminal has none. A session leader whose
// pty pair is held in the tree therefore makes the pair and takes the slave during the tree build,
// right after its setsid; the pty restore (tty-restore.ts) adopts that pair.
import type { RestoreImages, TreeEntry } from '../shared/restore-images.js';
import { RestoreError } from '../shared/restore-error.js';
import type { SharedState } from '../shared/task-ctx.js';
import { F_DUPFD_CLOEXEC, O_CLOEXEC, O_NOCTTY, O_RDWR, num } from '../shared/constants.js';
import { readI32, writeI32 } from '../sys/native-endian.js';
import { errnoName } from '../sys/index.js';
import { TIOCGPTN, TIOCSCTTY, TIOCSPTLCK } from './tty-ioctl.js';

/** Calls into a process being built (src/restore/tree.ts's BuildCalls). */
interface BuildCalls {
  raw(name: string, ...args: (bigint | number)[]): bigint;
  put(data: Buffer, offset: number): bigint;
  read(at: bigint, len: number): Buffer;
}

/** A pair made in a session leader during the build: its ends, parked above the leader's own descriptors. */
export interface EarlyPair { pid: number; master: number; slave: number; index: number }

const AT_PATH = 1024;
const AT_INT = 1536;

/** The old index of the in-tree pty (both ends dumped) that controls each session, by session id. */
function sessionTerminals(all: RestoreImages['all']): Map<number, number> {
  const infos = (all.get('tty-info.img')?.entries ?? []).map((e) => e.value);
  const ids = new Set(infos.map((i) => num(i.id)));
  const out = new Map<number, number>();
  for (const i of infos) {
    const id = num(i.id);
    if (i.type === 'PTY' && num(i.sid) !== 0 && ids.has(id | 1) && ids.has(id & ~1)) out.set(num(i.sid), id >> 1);
  }
  return out;
}

export class EarlyTerminals {
  /** By old pty index. */
  readonly pairs = new Map<number, EarlyPair>();
  private readonly bySession: Map<number, number>;

  constructor(all: RestoreImages['all']) {
    this.bySession = sessionTerminals(all);
  }

  /** In a session leader just after its setsid: the pair its session's terminal was, taken as its controlling terminal. */
  take(e: TreeEntry, sys: BuildCalls): void {
    const oldIndex = this.bySession.get(e.pid);
    if (oldIndex === undefined || e.zombie || !e.img) return;
    const high = Math.max(0, ...e.img.fdinfo.map((f) => num(f.fd))) + 1;
    const what = `the controlling terminal of session ${e.pid} (pty ${oldIndex})`;
    const check = (r: bigint, call: string) => {
      if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from ${call} in process ${e.pid}: cannot make ${what}`);
      return Number(r);
    };
    const open = (path: string, flags: number) => {
      const fd = check(sys.raw('openat', -100, sys.put(Buffer.from(`${path}\0`), AT_PATH), flags, 0), `open(${path})`);
      const hi = check(sys.raw('fcntl', fd, F_DUPFD_CLOEXEC, high), 'fcntl(F_DUPFD_CLOEXEC)');
      sys.raw('close', fd);
      return hi;
    };
    const int = (v: number) => {
      const b = Buffer.alloc(4);
      writeI32(b, v, 0);
      return sys.put(b, AT_INT);
    };
    const master = open('/dev/ptmx', O_RDWR | O_NOCTTY | O_CLOEXEC);
    check(sys.raw('ioctl', master, TIOCSPTLCK, int(0)), 'ioctl(TIOCSPTLCK)');
    const at = int(-1);
    check(sys.raw('ioctl', master, TIOCGPTN, at), 'ioctl(TIOCGPTN)');
    const index = readI32(sys.read(at, 4), 0);
    const slave = open(`/dev/pts/${index}`, O_RDWR | O_NOCTTY | O_CLOEXEC);
    check(sys.raw('ioctl', slave, TIOCSCTTY, 0), 'ioctl(TIOCSCTTY)');
    this.pairs.set(oldIndex, { pid: e.pid, master, slave, index });
  }

  /** Hands the pairs to the restore of the files: the pty restore adopts them, the leaders keep their ends until then. */
  share(tree: SharedState): void {
    tree.state('earlyPtys', () => this.pairs);
    const keep = tree.state('buildFds', () => new Map<number, number[]>());
    for (const p of this.pairs.values()) keep.set(p.pid, [...(keep.get(p.pid) ?? []), p.master, p.slave]);
  }
}
