// Unix98 ptys (TTY, tty_file_entry + tty-info.img + tty-data.img, as CRIU 4.2 writes them).
//
// Dump: each end (the /dev/ptmx master, a /dev/pts/N slave) gets a tty_info_entry, id
// index*2+1 for the master and index*2 for the slave: termios, locked termios, window size,
// packet mode, lock and exclusive flags, and the session/foreground group it controls. Bytes
// queued in a pair held inside the dump are read out (tty-data.img, by the id of the end they
// were read from) and written back if the task runs on, as CRIU does. A slave whose master is
// outside the dump is the terminal of the shell the job ran in: dumped only with --shell-job.
//
// Restore: a pair is made once per old index (the new index may differ: slaves are opened by the
// new number): /dev/ptmx opened in the task, unlocked, termios and window size set, packet mode;
// once every descriptor is placed the queued bytes are written to the other end, lock and
// exclusive flags set again, and the session leader makes it its controlling terminal with the
// foreground group it had. With --shell-job the outside slave becomes cryo's own terminal (its
// stdin) and the job's group is put in the foreground again if it was there.
import type { FdKind } from './kind.js';
import { isPtmx, isPts } from './tty-pty.js';
import { isDevTty } from './ctty.js';
import { dumpTty } from './tty-dump.js';
import { checkTty } from './tty-check.js';
import { restoreTty } from './tty-restore.js';

export const ttyKind: FdKind = {
  type: 'TTY', field: 'tty', name: 'a pty (master or slave)',
  matches: (c) => c.target.kind === 'path' && c.st.isCharacterDevice() && (isPtmx(BigInt(c.st.rdev)) || isPts(BigInt(c.st.rdev)) || isDevTty(BigInt(c.st.rdev))),
  dump: dumpTty,
  check: checkTty,
  restore: restoreTty,
};
