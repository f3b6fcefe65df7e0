// A pty slave whose master was closed: the kernel hung it up (read gives 0, write and every ioctl
// EIO) and removed its /dev/pts node. CRIU's image keeps such an end without termios. Restore
// makes it the way it came about: a new pair in the task, the slave opened for each file of the
// old one, then the master closed once every descriptor of the task is placed (as CRIU's "fake"
// master). The new index may differ, as for every pty cryo restores.
import type { MessageValue } from '../images/value.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { openInTask } from '../shared/task-ctx.js';
import { O_CLOEXEC, O_NOCTTY, O_OPEN_ONLY, O_RDWR, num } from '../shared/constants.js';
import { readI32, writeI32 } from '../sys/native-endian.js';
import type { RestoreFd } from './kind.js';
import { park } from './pipe-data.js';
import { TIOCGPTN, TIOCSPTLCK } from './tty-ioctl.js';
import { AT_STRUCT } from './tty-pty.js';

const infoOf = (img: RestoreImages, id: number) => img.all.get('tty-info.img')?.entries.find((e) => num(e.value.id) === id)?.value;

/** A slave end (even id) without a master in the dump and without termios: hung up when dumped. */
export function isHungSlave(img: RestoreImages, id: number): boolean {
  const info = infoOf(img, id);
  return (id & 1) === 0 && info !== undefined && info.termios === undefined && infoOf(img, id + 1) === undefined;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  writeI32(b, v, 0);
  return b;
}

/** The slave of a pair made for old index `oldIndex` in the task, hung up once the task's descriptors are placed. */
export function restoreHungSlave(c: RestoreFd, info: MessageValue): number {
  const { ctx, session, entry, why } = c;
  const oldIndex = num((info.pty as MessageValue).index);
  const pairs = session.state('hung-ptys', () => new Map<number, number>());
  let index = pairs.get(oldIndex);
  if (index === undefined) {
    const master = park(ctx, openInTask(ctx, '/dev/ptmx', O_RDWR | O_NOCTTY | O_CLOEXEC, why), session.high);
    ctx.call('ioctl', master, TIOCSPTLCK, ctx.put(int32(0), AT_STRUCT));
    ctx.call('ioctl', master, TIOCGPTN, ctx.put(int32(-1), AT_STRUCT));
    index = readI32(ctx.get(AT_STRUCT, 4), 0);
    pairs.set(oldIndex, index);
    // Closing the last master descriptor hangs up every open file of its slave.
    session.later(() => ctx.call('close', master));
  }
  return openInTask(ctx, `/dev/pts/${index}`, (num(entry.flags) & ~O_OPEN_ONLY) | O_NOCTTY, why);
}
