// Image file names as CRIU writes them (criu/image-desc.c): a format with at
// most one %-placeholder for the task/object id, and the magic the file holds.

/** key -> [file name format, crit magic name ('RAW' for raw images)] */
export const imageFiles = {
  inventory: ['inventory.img', 'INVENTORY'],
  fdinfo: ['fdinfo-%u.img', 'FDINFO'],
  pagemap: ['pagemap-%lu.img', 'PAGEMAP'],
  shmemPagemap: ['pagemap-shmem-%lu.img', 'PAGEMAP'],
  pages: ['pages-%u.img', 'RAW'],
  regFiles: ['reg-files.img', 'REG_FILES'],
  extFiles: ['ext-files.img', 'EXT_FILES'],
  nsFiles: ['ns-files.img', 'NS_FILES'],
  eventfd: ['eventfd.img', 'EVENTFD_FILE'],
  eventpoll: ['eventpoll.img', 'EVENTPOLL_FILE'],
  eventpollTfd: ['eventpoll-tfd.img', 'EVENTPOLL_TFD'],
  signalfd: ['signalfd.img', 'SIGNALFD'],
  inotify: ['inotify.img', 'INOTIFY_FILE'],
  inotifyWd: ['inotify-wd.img', 'INOTIFY_WD'],
  fanotify: ['fanotify.img', 'FANOTIFY_FILE'],
  fanotifyMark: ['fanotify-mark.img', 'FANOTIFY_MARK'],
  core: ['core-%u.img', 'CORE'],
  ids: ['ids-%u.img', 'IDS'],
  mm: ['mm-%u.img', 'MM'],
  vmas: ['vmas-%u.img', 'VMAS'],
  pipes: ['pipes.img', 'PIPES'],
  pipesData: ['pipes-data.img', 'PIPES_DATA'],
  fifo: ['fifo.img', 'FIFO'],
  fifoData: ['fifo-data.img', 'FIFO_DATA'],
  pstree: ['pstree.img', 'PSTREE'],
  sigacts: ['sigacts-%u.img', 'SIGACT'],
  unixsk: ['unixsk.img', 'UNIXSK'],
  inetsk: ['inetsk.img', 'INETSK'],
  packetsk: ['packetsk.img', 'PACKETSK'],
  netlinksk: ['netlinksk.img', 'NETLINK_SK'],
  skQueues: ['sk-queues.img', 'SK_QUEUES'],
  itimers: ['itimers-%u.img', 'ITIMERS'],
  posixTimers: ['posix-timers-%u.img', 'POSIX_TIMERS'],
  creds: ['creds-%u.img', 'CREDS'],
  utsns: ['utsns-%u.img', 'UTSNS'],
  ipcVar: ['ipcns-var-%u.img', 'IPC_VAR'],
  ipcShm: ['ipcns-shm-%u.img', 'IPCNS_SHM'],
  ipcMsg: ['ipcns-msg-%u.img', 'IPCNS_MSG'],
  ipcSem: ['ipcns-sem-%u.img', 'IPCNS_SEM'],
  fs: ['fs-%u.img', 'FS'],
  remapFpath: ['remap-fpath.img', 'REMAP_FPATH'],
  ghostFile: ['ghost-file-%x.img', 'GHOST_FILE'],
  memfd: ['memfd.img', 'MEMFD_INODE'],
  tcpStream: ['tcp-stream-%x.img', 'TCP_STREAM'],
  mountpoints: ['mountpoints-%u.img', 'MNTS'],
  netdev: ['netdev-%u.img', 'NETDEV'],
  netns: ['netns-%u.img', 'NETNS'],
  autofs: ['autofs-%u.img', 'AUTOFS'],
  binfmtMisc: ['binfmt-misc.img', 'BINFMT_MISC'],
  tty: ['tty.img', 'TTY_FILES'],
  ttyInfo: ['tty-info.img', 'TTY_INFO'],
  ttyData: ['tty-data.img', 'TTY_DATA'],
  filelocks: ['filelocks.img', 'FILE_LOCKS'],
  rlimit: ['rlimit-%u.img', 'RLIMIT'],
  signalShared: ['signal-s-%u.img', 'SIGNAL'],
  signalPrivate: ['signal-p-%u.img', 'SIGNAL'],
  tunfile: ['tunfile.img', 'TUNFILE'],
  cgroup: ['cgroup.img', 'CGROUP'],
  timerfd: ['timerfd.img', 'TIMERFD'],
  cpuinfo: ['cpuinfo.img', 'CPUINFO'],
  seccomp: ['seccomp.img', 'SECCOMP'],
  userns: ['userns-%u.img', 'USERNS'],
  files: ['files.img', 'FILES'],
  timens: ['timens-%u.img', 'TIMENS'],
  pidns: ['pidns-%u.img', 'PIDNS'],
  bpfmapFile: ['bpfmap-file.img', 'BPFMAP_FILE'],
  bpfmapData: ['bpfmap-data.img', 'BPFMAP_DATA'],
  apparmor: ['apparmor.img', 'APPARMOR'],
  pidfd: ['pidfd.img', 'PIDFD'],
  statsDump: ['stats-dump', 'STATS'],
  statsRestore: ['stats-restore', 'STATS'],
  irmapCache: ['irmap-cache', 'IRMAP_CACHE'],
} as const satisfies Record<string, readonly [string, string]>;

export type ImageFileKey = keyof typeof imageFiles;

/** The file name of an image, e.g. imageFileName('core', 1234) -> 'core-1234.img'. */
export function imageFileName(key: ImageFileKey, id?: number | bigint): string {
  const fmt: string = imageFiles[key][0];
  const m = /%(u|lu|d|ld|x)/.exec(fmt);
  if (!m) return fmt;
  if (id === undefined) throw new Error(`image ${key} needs an id for ${fmt}`);
  const text = m[1] === 'x' ? id.toString(16) : id.toString();
  return fmt.replace(m[0], text);
}

/** The magic name an image file key holds ('RAW' for pages). */
export function imageFileMagic(key: ImageFileKey): string {
  return imageFiles[key][1];
}

/** Each kind's name as a pattern, and the text before its number (a restore asks for 100s of names: the prefix is tested first). */
const namePatterns = Object.values(imageFiles).map(([fmt, magic]) => ({
  prefix: fmt.split('%')[0]!,
  re: new RegExp(`^${fmt.replace(/[.]/g, '\\.').replace(/%(u|lu|d|ld)/, '\\d+').replace('%x', '[0-9a-f]+')}$`),
  magic,
}));

/** The magic name an image file of this name must hold, or undefined for a name no kind has. */
export function magicForFileName(name: string): string | undefined {
  return namePatterns.find((p) => name.startsWith(p.prefix) && p.re.test(name))?.magic;
}
