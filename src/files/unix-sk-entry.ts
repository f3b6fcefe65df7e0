// The unix_sk_entry of files.img: socket types, shutdown and name encodings, and what an entry
// says (its name, its peer, whether it binds), shared by dump, preflight and restore.
import { readCryoLinks } from '../images/cryo-image.js';
import { RestoreError } from '../shared/restore-error.js';
import type { MessageValue } from '../images/value.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { num } from '../shared/constants.js';
import { TCP_ESTABLISHED } from './unix-diag.js';
import { socketPath, type SocketName } from './unix-names.js';

export const AF_UNIX = 1;
const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
const SOCK_SEQPACKET = 5;
export const TYPE_NAMES: Record<number, string> = { [SOCK_STREAM]: 'stream', [SOCK_DGRAM]: 'datagram', [SOCK_SEQPACKET]: 'seqpacket' };
/** unix_sk_entry.uflags: a peer outside the dump, reconnected by its name. */
export const USK_EXTERN = 1;
/** SIOCUNIXFILE: an O_PATH descriptor of a bound socket's file. */
export const SIOCUNIXFILE = 0x89e0;
/** enum sk_shutdown (the kernel's RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2) and shutdown(2)'s `how` for each. */
export const SHUTDOWN_NAMES = ['NONE', 'READ', 'WRITE', 'BOTH'];
export const SHUT_HOW = [-1, 0, 1, 2];
export const shutdownOf = (v: unknown): number => (typeof v === 'string' ? Math.max(0, SHUTDOWN_NAMES.indexOf(v)) : num(v));
export const SUN_PATH_MAX = 108;
export const SOCKADDR_AT = 512;

export const typeName = (t: number) => TYPE_NAMES[t] ?? `type-${t}`;
export const bytes = (v: unknown): Buffer => (v === undefined ? Buffer.alloc(0) : Buffer.from(v as Uint8Array));
/** A name for messages: a path, or @abstract. */
export function showName(name: Buffer): string {
  if (name.length === 0) return 'unnamed';
  return name[0] === 0 ? `@${name.subarray(1).toString('latin1').replace(/\0/g, '@')}` : pathName(name);
}
export const isPathName = (name: Buffer) => name.length > 0 && name[0] !== 0;
/** A path name as a string: the kernel keeps (and sock_diag reports, and CRIU stores) its terminating NUL. */
export const pathName = (name: Buffer): string => name.toString('utf8', 0, name.indexOf(0) < 0 ? name.length : name.indexOf(0));


const usk = (f: MessageValue | undefined) => f?.usk as MessageValue | undefined;
export const isExtern = (e: MessageValue) => (num(e.uflags) & USK_EXTERN) !== 0;
/** Whether binding belongs to this socket: an accepted connection carries its listener's name, CRIU leaves it unbound. */
export const bindsName = (e: MessageValue) => bytes(e.name).length > 0 && !(num(e.state) === TCP_ESTABLISHED && num(e.type) !== SOCK_DGRAM);

/** Every unix socket entry of files.img, by inode. */
export function socketsByIno(files: Iterable<MessageValue>): Map<number, MessageValue> {
  const out = new Map<number, MessageValue>();
  for (const f of files) {
    const e = usk(f);
    if (f.type === 'UNIXSK' && e) out.set(num(e.ino), e);
  }
  return out;
}

/** cryo-links.img of each image directory (read once). */
const linksByDir = new Map<string, ReadonlyMap<string, string>>();
function dumpLinks(img: RestoreImages): ReadonlyMap<string, string> {
  let links = linksByDir.get(img.dir);
  if (!links) {
    try {
      links = readCryoLinks(img.dir);
    } catch (e) {
      throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${(e as Error).message}`);
    }
    linksByDir.set(img.dir, links);
  }
  return links;
}

/** What a socket entry says about its path name. */
export function socketName(img: RestoreImages, e: MessageValue): SocketName {
  const perms = e.file_perms as MessageValue | undefined;
  return {
    links: dumpLinks(img),
    name: pathName(bytes(e.name)),
    dir: typeof e.name_dir === 'string' ? e.name_dir : undefined,
    deleted: e.deleted === true,
    owner: perms ? { uid: num(perms.uid), gid: num(perms.gid) } : undefined,
  };
}

/** The file-system path of a path name (relative names under name_dir), refused unless clean. */
export function fsPath(img: RestoreImages, e: MessageValue, why: string): string {
  return socketPath(socketName(img, e), why);
}

/** Two sockets that are each other's peer: one socketpair. */
export function pairedWith(e: MessageValue, byIno: Map<number, MessageValue>): MessageValue | undefined {
  const p = byIno.get(num(e.peer));
  return p && p !== e && !isExtern(p) && num(p.peer) === num(e.ino) ? p : undefined;
}
