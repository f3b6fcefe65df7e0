// Every descriptor kind cryo dumps and restores: the one list (see kind.ts for how to add one).
import type { FdKind } from './kind.js';
import { fifoKind } from './fifo.js';
import { memfdKind } from './memfd.js';
import { pipeKind } from './pipe.js';
import { regKind } from './reg.js';
import { eventfdKind } from './eventfd.js';
import { eventpollKind } from './eventpoll.js';
import { signalfdKind } from './signalfd.js';
import { timerfdKind } from './timerfd.js';
import { inotifyKind } from './inotify.js';
import { fanotifyKind } from './fanotify.js';
import { pidfdKind } from './pidfd.js';
import { unixSocketKind } from './unix-socket.js';
import { inetKind } from './inet.js';
import { ttyKind } from './tty.js';
import { ioUringKind } from './io-uring.js';
import { nsFileKind } from './nsfile.js';
import { netlinkKind } from './netlink-sk.js';
import { packetKind } from './packet-sk.js';

/** Tried in this order at dump time: the first kind whose `matches` is true dumps the descriptor. */
export const FD_KINDS: readonly FdKind[] = [
  memfdKind, pipeKind, fifoKind, regKind,
  eventfdKind, eventpollKind, signalfdKind, timerfdKind, inotifyKind, fanotifyKind, pidfdKind, unixSocketKind,
  inetKind, netlinkKind, packetKind, ttyKind, ioUringKind, nsFileKind,
];

/** The kind restoring file_entry.type `type`, or undefined when cryo has none. */
export function fdKindOfType(type: unknown): FdKind | undefined {
  return FD_KINDS.find((k) => k.type === type);
}

/** Names of the kinds, for messages ('regular files, ..., memfds'). */
export function fdKindNames(): string {
  return FD_KINDS.map((k) => k.name).join(', ');
}
