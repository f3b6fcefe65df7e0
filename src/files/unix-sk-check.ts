// Preflight of a unix socket entry: type, state, name, a peer the dump has (or, outside it, a
// socket bound there now), and a name restore may bind.
import { RestoreError } from '../shared/restore-error.js';
import type { MessageValue } from '../images/value.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { num } from '../shared/constants.js';
import { TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN } from './unix-diag.js';
import { planBind, realPath } from './unix-names.js';
import { lookupNoSymlinks } from '../sys/safe-path.js';
import { SUN_PATH_MAX, TYPE_NAMES, bindsName, bytes, isExtern, isPathName, pairedWith, showName, socketName, socketsByIno } from './unix-sk-entry.js';

/** Per restore: the unix sockets by inode, and the file ids some process of the dump (an fdinfo-N.img) has a descriptor of. */
const indexes = new WeakMap<RestoreImages, { byIno: Map<number, MessageValue>; held: Set<number> }>();

function indexFor(img: RestoreImages) {
  let x = indexes.get(img);
  if (!x) {
    const held = new Set<number>();
    for (const [name, image] of img.all) if (/^fdinfo-\d+\.img$/.test(name)) for (const f of image.entries) held.add(num(f.value.id));
    for (const f of img.fdinfo) held.add(num(f.id));
    indexes.set(img, (x = { byIno: socketsByIno(img.files.values()), held }));
  }
  return x;
}

export function checkUnix(img: RestoreImages, e: MessageValue, why: string): void {
  if (!TYPE_NAMES[num(e.type)]) throw new RestoreError('UNSUPPORTED', `${why} is a unix socket of type ${num(e.type)}: cryo restores stream, datagram and seqpacket ones`);
  if (![TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN].includes(num(e.state))) throw new RestoreError('UNSUPPORTED', `${why} is a unix socket in state ${num(e.state)}: cryo cannot restore it`);
  const name = bytes(e.name);
  if (name.length > SUN_PATH_MAX) throw new RestoreError('IMAGE_CORRUPT', `${why}: unix socket name of ${name.length} bytes (at most ${SUN_PATH_MAX})`);
  const { byIno, held } = indexFor(img);
  if (num(e.peer) !== 0) {
    const peer = byIno.get(num(e.peer));
    if (!peer) throw new RestoreError('IMAGE_INCONSISTENT', `${why} is a unix socket connected to socket:[${num(e.peer)}], which files.img has no entry for`);
    if (isExtern(peer)) {
      const pname = bytes(peer.name);
      if (isPathName(pname) && !isSocketFile(realPath(socketName(img, peer), why))) {
        throw new RestoreError('UNSUPPORTED', `${why} is a unix socket connected to ${showName(pname)} outside the dump (--ext-unix-sk), and no socket is bound there now: start its owner first`);
      }
    } else {
      if (!held.has(num(peer.id))) throw new RestoreError('IMAGE_INCONSISTENT', `${why} is a unix socket connected to socket:[${num(e.peer)}], which no process of the dump has a descriptor of`);
      if (!pairedWith(e, byIno) && bytes(peer.name).length === 0 && num(peer.ino) !== num(e.ino)) {
        throw new RestoreError('IMAGE_INCONSISTENT', `${why} is a unix socket connected to socket:[${num(e.peer)}], which has no name to connect to`);
      }
    }
  }
  if (bindsName(e) && isPathName(name)) planBind(socketName(img, e), why);
}

/** Whether a socket file is at `p`, reached without a symbolic link. */
function isSocketFile(p: string): boolean {
  const got = lookupNoSymlinks(p);
  return got.kind === 'found' && got.st.isSocket();
}
