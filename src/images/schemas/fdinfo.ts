// fdinfo.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt } from '../schema.js';
import { bpfmap_file_entry } from './bpfmap-file.js';
import { eventfd_file_entry } from './eventfd.js';
import { eventpoll_file_entry } from './eventpoll.js';
import { ext_file_entry } from './ext-file.js';
import { fifo_entry } from './fifo.js';
import { fanotify_file_entry, inotify_file_entry } from './fsnotify.js';
import { memfd_file_entry } from './memfd.js';
import { ns_file_entry } from './ns.js';
import { packet_sock_entry } from './packet-sock.js';
import { pidfd_entry } from './pidfd.js';
import { pipe_entry } from './pipe.js';
import { reg_file_entry } from './regfile.js';
import { signalfd_entry } from './signalfd.js';
import { inet_sk_entry } from './sk-inet.js';
import { netlink_sk_entry } from './sk-netlink.js';
import { unix_sk_entry } from './sk-unix.js';
import { timerfd_entry } from './timerfd.js';
import { tty_file_entry } from './tty.js';
import { tunfile_entry } from './tun.js';

export const fd_types = enumDef('fd_types', {
  UND: 0,
  REG: 1,
  PIPE: 2,
  FIFO: 3,
  INETSK: 4,
  UNIXSK: 5,
  EVENTFD: 6,
  EVENTPOLL: 7,
  INOTIFY: 8,
  SIGNALFD: 9,
  PACKETSK: 10,
  TTY: 11,
  FANOTIFY: 12,
  NETLINKSK: 13,
  NS: 14,
  TUNF: 15,
  EXT: 16,
  TIMERFD: 17,
  MEMFD: 18,
  BPFMAP: 19,
  PIDFD: 20,
  CTL_TTY: 65534,
  AUTOFS_PIPE: 65535,
});

export const fdinfo_entry = message('fdinfo_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32'),
  req(3, 'type', fd_types),
  req(4, 'fd', 'uint32'),
  opt(5, 'xattr_security_selinux', 'string'),
]);

export const file_entry = message('file_entry', [
  req(1, 'type', fd_types),
  req(2, 'id', 'uint32'),
  opt(3, 'reg', () => reg_file_entry),
  opt(4, 'isk', () => inet_sk_entry),
  opt(5, 'nsf', () => ns_file_entry),
  opt(6, 'psk', () => packet_sock_entry),
  opt(7, 'nlsk', () => netlink_sk_entry),
  opt(8, 'efd', () => eventfd_file_entry),
  opt(9, 'epfd', () => eventpoll_file_entry),
  opt(10, 'sgfd', () => signalfd_entry),
  opt(11, 'tunf', () => tunfile_entry),
  opt(12, 'tfd', () => timerfd_entry),
  opt(13, 'ify', () => inotify_file_entry),
  opt(14, 'ffy', () => fanotify_file_entry),
  opt(15, 'ext', () => ext_file_entry),
  opt(16, 'usk', () => unix_sk_entry),
  opt(17, 'fifo', () => fifo_entry),
  opt(18, 'pipe', () => pipe_entry),
  opt(19, 'tty', () => tty_file_entry),
  opt(20, 'memfd', () => memfd_file_entry),
  opt(21, 'bpf', () => bpfmap_file_entry),
  opt(22, 'pidfd', () => pidfd_entry),
]);
