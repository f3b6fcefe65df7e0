// Unix sockets (UNIXSK): stream, datagram and seqpacket; listening, connected, socketpairs,
// in-flight connections; path and abstract names; queued packets. Images and semantics as
// CRIU 4.2 (unix_sk_entry in files.img, sk-queues.img, sk_opts_entry):
//  - dump: the kernel's view of each socket comes from sock_diag (src/files/unix-diag.ts), the
//    queue is peeked from cryo's copy of the socket (src/files/unix-queue.ts). A peer outside the
//    dump is refused, naming the process that holds it, unless --ext-unix-sk (then, as CRIU, only
//    a datagram socket connected to a named peer: the peer is written as an external entry).
//  - restore: two sockets that are each other's peer come back as one socketpair() (its other end
//    copied into another process of the tree where it belongs there); any other
//    socket is socket() + bind() to its name (not an accepted connection: it shares its
//    listener's name) + listen(), and, once every socket exists, connect() to its peer's name
//    (an in-flight connection connects to its listener again). Queues are then sent again from
//    the peer end; a socket nobody in the dump sends to gets a helper peer, as CRIU's fake queuer.
//    Options, shutdown and file flags come last.
import type { FdKind } from './kind.js';
import { socketFamily } from './socket-opts.js';
import { AF_UNIX } from './unix-sk-entry.js';
import { dumpUnix } from './unix-sk-dump.js';
import { checkUnix } from './unix-sk-check.js';
import { restoreUnix } from './unix-sk-restore.js';

export const unixSocketKind: FdKind = {
  type: 'UNIXSK', field: 'usk', name: 'unix sockets',
  matches: (c) => c.target.kind === 'socket' && socketFamily(c.stolen) === AF_UNIX,
  dump: dumpUnix,
  check: (img, entry, why) => checkUnix(img, entry, why),
  restore: restoreUnix,
};
