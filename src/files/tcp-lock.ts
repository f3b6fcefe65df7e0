/**
 * The network lock of a TCP connection dumped through repair mode (CRIU's --network-lock
 * iptables): from just before its socket is frozen until the restored one exists, every segment
 * of the connection is dropped by two iptables rules (INPUT from the peer, OUTPUT to it). Without
 * them a peer outside the dump that keeps sending (a full window's probes, retransmits) gets a
 * reset once the dumped task is gone, and the connection is lost before restore can take it over.
 *
 * Dump: `lockConnection` before repair mode; a dump that fails or leaves the task running removes
 * the rules again (and the guard does, should cryo be killed before the dump ends), and so does a
 * dump whose tree holds both ends (no peer is left to send); a dump that kills the task leaves the
 * rest for the restore. Restore: `unlockConnection` once every socket of the tree exists, for each
 * connection whose peer it did not restore (a rule already gone, or never made, is no error: a
 * restore on another machine).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DumpError } from '../shared/dump-error.js';
import type { NetworkLock } from '../shared/fd-options.js';
import { guardNetLock } from '../sys/guardian.js';
import { AF_INET } from './inet-consts.js';
import type { InetAddr } from './inet-addr.js';

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const toolPath = (name: string): string | undefined => SBIN.map((d) => `${d}/${name}`).find((p) => existsSync(p));

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) travels as IPv4: iptables, not ip6tables, sees it. */
function mapped(addr: Buffer): boolean {
  return addr.length === 16 && addr.subarray(0, 10).every((b) => b === 0) && addr.readUInt16BE(10) === 0xffff;
}

function addrArg(family: number, addr: Buffer): { v6: boolean; text: string } {
  if (family === AF_INET || mapped(addr)) return { v6: false, text: [...addr.subarray(addr.length - 4)].join('.') };
  return { v6: true, text: Array.from({ length: 8 }, (_, i) => addr.readUInt16BE(i * 2).toString(16)).join(':') };
}

/** One end of a connection as "local > peer" (an IPv4-mapped address as IPv4, so that the two ends of one connection match). */
export function connectionKey(family: number, src: InetAddr, dst: InetAddr): string {
  return `${addrArg(family, src.addr).text}:${src.port}>${addrArg(family, dst.addr).text}:${dst.port}`;
}
/** The reverse: the key of the connection's other end. */
export const peerKey = (family: number, src: InetAddr, dst: InetAddr): string => connectionKey(family, dst, src);

const ends = new WeakMap<object, Set<string>>();
/** The connection ends one dump (its file table) or one restore (its tree) has met so far, by connectionKey. */
export function connectionEnds(owner: object): Set<string> {
  let set = ends.get(owner);
  if (!set) ends.set(owner, (set = new Set()));
  return set;
}

/** The two rules of a connection (local end `src`, peer `dst`) as iptables arguments after -I/-D CHAIN. */
function rules(family: number, src: InetAddr, dst: InetAddr): { tool: string; specs: [string, string[]][] } {
  const me = addrArg(family, src.addr);
  const peer = addrArg(family, dst.addr);
  const spec = (from: string, fromPort: number, to: string, toPort: number) =>
    ['-p', 'tcp', '-s', from, '--sport', String(fromPort), '-d', to, '--dport', String(toPort), '-j', 'DROP'];
  return {
    tool: me.v6 ? 'ip6tables' : 'iptables',
    specs: [
      ['INPUT', spec(peer.text, dst.port, me.text, src.port)],
      ['OUTPUT', spec(me.text, src.port, peer.text, dst.port)],
    ],
  };
}

function run(tool: string, args: string[]): string | undefined {
  const r = spawnSync(tool, ['-w', ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) return r.error.message;
  return r.status === 0 ? undefined : (r.stderr.trim().split('\n')[0] ?? `exit status ${r.status}`);
}

const chosen = new WeakMap<object, NetworkLock>();
/**
 * Which lock one dump (its file table) or restore (its tree) uses: the one asked for, else iptables
 * where this machine has it and it works here. Asked once, at the first connection that needs it.
 */
export function networkLockFor(owner: object, asked: NetworkLock | undefined): NetworkLock {
  if (asked !== undefined) return asked;
  let lock = chosen.get(owner);
  if (lock === undefined) {
    const bin = toolPath('iptables');
    // Installed is not enough: a kernel without netfilter, or a namespace without the right, refuses it.
    lock = bin !== undefined && run(bin, ['-S', 'INPUT']) === undefined ? 'iptables' : 'skip';
    chosen.set(owner, lock);
  }
  return lock;
}

/**
 * Inserts (-I) or deletes (-D) rules in one `TOOL-restore --noflush`: iptables reads the whole chain
 * for each rule it is given (1000 deletions one by one took 22 s). False where that tool is missing
 * or refused the batch (which it then applied not at all).
 */
function inOneGo(tool: string, op: '-I' | '-D', specs: readonly [string, string[]][]): boolean {
  const batch = toolPath(`${tool}-restore`);
  if (batch === undefined) return false;
  const text = `*filter\n${specs.map(([chain, spec]) => `${op} ${chain} ${spec.join(' ')}\n`).join('')}COMMIT\n`;
  return spawnSync(batch, ['-w', '--noflush'], { input: text, encoding: 'utf8', stdio: ['pipe', 'ignore', 'pipe'] }).status === 0;
}

/** Deletes rules all at once, or one by one where that fails (a rule gone already). */
function removeRules(tool: string, specs: readonly [string, string[]][]): void {
  const bin = toolPath(tool);
  if (bin === undefined || specs.length === 0 || inOneGo(tool, '-D', specs)) return;
  for (const [chain, spec] of specs) run(bin, ['-D', chain, ...spec]);
}

/** The rules of `list` deleted, a batch per tool. */
function removeAll(list: readonly { family: number; src: InetAddr; dst: InetAddr }[]): void {
  const byTool = new Map<string, [string, string[]][]>();
  for (const { family, src, dst } of list) {
    const { tool, specs } = rules(family, src, dst);
    const list = byTool.get(tool);
    if (list) list.push(...specs); else byTool.set(tool, [...specs]);
  }
  for (const [tool, specs] of byTool) removeRules(tool, specs);
}

interface Lock { family: number; src: InetAddr; dst: InetAddr; taken: (() => void)[] }
const held = new WeakMap<object, Lock[]>();
/** The connectionKeys of the locks `owner` holds. */
const heldKeys = new WeakMap<object, Set<string>>();

function hold(owner: object, lock: Lock): void {
  let list = held.get(owner);
  if (!list) held.set(owner, (list = []));
  list.push(lock);
  let keys = heldKeys.get(owner);
  if (!keys) heldKeys.set(owner, (keys = new Set()));
  keys.add(connectionKey(lock.family, lock.src, lock.dst));
}

/**
 * Locks the connections `conns` (those of a process about to be dumped) in one go per tool (one
 * by one, 500 connections took 4 s of the freeze). What this does not lock, lockConnection does.
 */
export function lockAhead(owner: object, conns: readonly { family: number; src: InetAddr; dst: InetAddr }[]): void {
  const keys = heldKeys.get(owner);
  const byTool = new Map<string, { family: number; src: InetAddr; dst: InetAddr; specs: [string, string[]][] }[]>();
  for (const c of conns) {
    if (keys?.has(connectionKey(c.family, c.src, c.dst))) continue;
    const { tool, specs } = rules(c.family, c.src, c.dst);
    const list = byTool.get(tool);
    if (list) list.push({ ...c, specs }); else byTool.set(tool, [{ ...c, specs }]);
  }
  for (const [tool, list] of byTool) {
    const bin = toolPath(tool);
    if (bin === undefined || list.length < 2) continue;
    const taken = list.map((c) => c.specs.map(([chain, spec]) => guardNetLock(bin, chain, spec)));
    if (!inOneGo(tool, '-I', list.flatMap((c) => c.specs))) {
      for (const t of taken.flat()) t();
      continue;
    }
    list.forEach((c, i) => hold(owner, { family: c.family, src: c.src, dst: c.dst, taken: taken[i]! }));
  }
}

/**
 * Drops the connection's segments both ways until releaseLocks lets it go; one dump (`owner`: its
 * file table) holds its locks together. `what` names the connection for the error.
 */
export function lockConnection(owner: object, family: number, src: InetAddr, dst: InetAddr, what: string): void {
  if (heldKeys.get(owner)?.has(connectionKey(family, src, dst))) return; // locked ahead
  const { tool, specs } = rules(family, src, dst);
  const bin = toolPath(tool);
  if (bin === undefined) {
    throw new DumpError('UNSUPPORTED', `${what} needs a network lock and this machine has no ${tool}: install it (Debian: apt-get install iptables), or dump with --network-lock skip`);
  }
  const made: [string, string[]][] = [];
  const taken: (() => void)[] = [];
  for (const [chain, spec] of specs) {
    taken.push(guardNetLock(bin, chain, spec));
    const err = run(bin, ['-I', chain, ...spec]);
    if (err !== undefined) {
      for (const t of taken) t();
      for (const [c, sp] of made.reverse()) run(bin, ['-D', c, ...sp]);
      throw new DumpError('FAILED', `${what}: ${tool} could not add its network lock (${err}): dump with --network-lock skip to go without one`);
    }
    made.push([chain, spec]);
  }
  hold(owner, { family, src, dst, taken });
}

/**
 * Lets go of every lock `owner` holds that `release` picks (the others stay for the restore), all
 * at once: the first connection's turn does it for all, before any leaves repair mode.
 */
export function releaseLocks(owner: object, release: (l: { family: number; src: InetAddr; dst: InetAddr }) => boolean): void {
  const list = held.get(owner)?.splice(0) ?? [];
  heldKeys.delete(owner);
  const going = list.filter(release);
  for (const l of going) for (const t of l.taken) t();
  removeAll(going);
}

const queued = new WeakMap<object, { family: number; src: InetAddr; dst: InetAddr }[]>();

/** Queues the removal of a dump's lock of a connection the restore (`owner`: its tree) makes. */
export function queueUnlock(owner: object, family: number, src: InetAddr, dst: InetAddr): void {
  let list = queued.get(owner);
  if (!list) queued.set(owner, (list = []));
  list.push({ family, src, dst });
}

/**
 * Removes the locks queued so far, but not those of a connection whose other end the restore makes
 * too (the dump of both ends left none), all at once.
 */
export function unlockQueued(owner: object): void {
  const restored = connectionEnds(owner);
  removeAll((queued.get(owner)?.splice(0) ?? []).filter(({ family, src, dst }) => !restored.has(peerKey(family, src, dst))));
}
