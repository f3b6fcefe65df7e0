// What the user chose for descriptors: read by dump's file table, restore's images and the kinds.

/** CRIU's --network-lock words cryo has: iptables rules drop a repaired connection's segments between dump and restore, or nothing does. */
export type NetworkLock = 'iptables' | 'skip';

/** The user's choices that change how descriptors are dumped and restored (`cryo dump`/`restore` flags). */
export interface FdOptions {
  /** Established TCP connections are dumped and restored through TCP repair (`--tcp-established`). */
  readonly tcpEstablished?: boolean;
  /** TCP connections are dumped without their queues and restored closed (`--tcp-close`, as CRIU's). */
  readonly tcpClose?: boolean;
  /** How a connection dumped through TCP repair is kept from its peer until restore (`--network-lock`); absent: iptables where it works (files/tcp-lock.ts). */
  readonly networkLock?: NetworkLock;
  /** A unix socket whose peer is outside the dump is dumped, and reconnected by name at restore (`--ext-unix-sk`). */
  readonly extUnixSk?: boolean;
  /**
   * Restore: open files the caller hands over instead of making them (`--inherit-fd fd[N]:KEY`):
   * by CRIU's name of the dumped file ('pipe:[INODE]'), the caller's descriptor that stands for it.
   */
  readonly inheritFds?: ReadonlyMap<string, number>;
  /** The job's terminal may be outside the dump; restore gives it cryo's own (`--shell-job`). */
  readonly shellJob?: boolean;
  /** Restore: a deleted set-id file comes back set-id even where a process holding it could gain by it (`--allow-setid-files`). */
  readonly allowSetidFiles?: boolean;
  /**
   * Dump: the most bytes of data (blocks the file has, holes not counted) a deleted file may bring
   * into the images (`--ghost-limit`, CRIU's option and default: 1 MiB); a bigger one is refused.
   */
  readonly ghostLimit?: bigint;
  /** Dump: the task runs on after the dump (`--leave-running`, pre-dumps): nothing may be changed that it could see. */
  readonly leaveRunning?: boolean;
}
