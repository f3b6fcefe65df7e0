// Which message each image holds, by image magic name: crit's `handlers`
// table as data. Most images are a list of one message type, some entries
// carry an extra payload, and two images have their own layout.

import type { MessageDef } from './schema.js';
import * as S from './schemas/index.js';
import { type ExtraHandler, bpfmapData, ipcMsg, ipcSem, ipcShm, pipeData, skQueue, tcpStream } from './extras.js';

export type ImageLayout =
  /** u32 size + payload (+ extra), repeated. */
  | 'entries'
  /** one pagemap_head, then pagemap_entry items. */
  | 'pagemap'
  /** one ghost_file_entry, then the file contents, or ghost_chunk_entry + data chunks. */
  | 'ghost-file';

export interface ImageKind {
  readonly magic: string;
  readonly layout: ImageLayout;
  /** The message of every entry (for pagemap/ghost-file: of the first one). */
  readonly payload: MessageDef;
  /** The message of the following entries, where it differs. */
  readonly rest?: MessageDef;
  readonly extra?: ExtraHandler;
}

const kinds: ImageKind[] = [];
function entries(magic: string, payload: MessageDef, extra?: ExtraHandler): void {
  kinds.push({ magic, layout: 'entries', payload, ...(extra ? { extra } : {}) });
}

entries('INVENTORY', S.inventory_entry);
entries('CORE', S.core_entry);
entries('IDS', S.task_kobj_ids_entry);
entries('CREDS', S.creds_entry);
entries('UTSNS', S.utsns_entry);
entries('TIMENS', S.timens_entry);
entries('PIDNS', S.pidns_entry);
entries('IPC_VAR', S.ipc_var_entry);
entries('FS', S.fs_entry);
kinds.push({ magic: 'GHOST_FILE', layout: 'ghost-file', payload: S.ghost_file_entry, rest: S.ghost_chunk_entry });
entries('MM', S.mm_entry);
entries('CGROUP', S.cgroup_entry);
entries('TCP_STREAM', S.tcp_stream_entry, tcpStream);
entries('STATS', S.stats_entry);
kinds.push({ magic: 'PAGEMAP', layout: 'pagemap', payload: S.pagemap_head, rest: S.pagemap_entry });
entries('PSTREE', S.pstree_entry);
entries('REG_FILES', S.reg_file_entry);
entries('NS_FILES', S.ns_file_entry);
entries('EVENTFD_FILE', S.eventfd_file_entry);
entries('EVENTPOLL_FILE', S.eventpoll_file_entry);
entries('EVENTPOLL_TFD', S.eventpoll_tfd_entry);
entries('SIGNALFD', S.signalfd_entry);
entries('TIMERFD', S.timerfd_entry);
entries('INOTIFY_FILE', S.inotify_file_entry);
entries('INOTIFY_WD', S.inotify_wd_entry);
entries('FANOTIFY_FILE', S.fanotify_file_entry);
entries('FANOTIFY_MARK', S.fanotify_mark_entry);
entries('VMAS', S.vma_entry);
entries('PIPES', S.pipe_entry);
entries('FIFO', S.fifo_entry);
entries('SIGACT', S.sa_entry);
entries('NETLINK_SK', S.netlink_sk_entry);
entries('REMAP_FPATH', S.remap_file_path_entry);
entries('MNTS', S.mnt_entry);
entries('TTY_FILES', S.tty_file_entry);
entries('TTY_INFO', S.tty_info_entry);
entries('TTY_DATA', S.tty_data_entry);
entries('RLIMIT', S.rlimit_entry);
entries('TUNFILE', S.tunfile_entry);
entries('EXT_FILES', S.ext_file_entry);
entries('IRMAP_CACHE', S.irmap_cache_entry);
entries('FILE_LOCKS', S.file_lock_entry);
entries('FDINFO', S.fdinfo_entry);
entries('UNIXSK', S.unix_sk_entry);
entries('INETSK', S.inet_sk_entry);
entries('PACKETSK', S.packet_sock_entry);
entries('ITIMERS', S.itimer_entry);
entries('POSIX_TIMERS', S.posix_timer_entry);
entries('NETDEV', S.net_device_entry);
entries('PIPES_DATA', S.pipe_data_entry, pipeData);
entries('FIFO_DATA', S.pipe_data_entry, pipeData);
entries('SK_QUEUES', S.sk_packet_entry, skQueue);
entries('IPCNS_SHM', S.ipc_shm_entry, ipcShm);
entries('IPCNS_SEM', S.ipc_sem_entry, ipcSem);
entries('IPCNS_MSG', S.ipc_msg_entry, ipcMsg);
entries('NETNS', S.netns_entry);
entries('USERNS', S.userns_entry);
entries('SECCOMP', S.seccomp_entry);
entries('AUTOFS', S.autofs_entry);
entries('FILES', S.file_entry);
entries('CPUINFO', S.cpuinfo_entry);
entries('MEMFD_FILE', S.memfd_file_entry);
entries('MEMFD_INODE', S.memfd_inode_entry);
entries('BPFMAP_FILE', S.bpfmap_file_entry);
entries('BPFMAP_DATA', S.bpfmap_data_entry, bpfmapData);
entries('APPARMOR', S.apparmor_entry);
// Not in crit's table, but CRIU writes them: signal queues, binfmt_misc and pidfds.
entries('SIGNAL', S.signal_queue_entry);
entries('BINFMT_MISC', S.binfmt_misc_entry);
entries('PIDFD', S.pidfd_entry);

export const imageKinds: ReadonlyMap<string, ImageKind> = new Map(kinds.map((k) => [k.magic, k]));

export function imageKind(magic: string): ImageKind | undefined {
  return imageKinds.get(magic);
}
