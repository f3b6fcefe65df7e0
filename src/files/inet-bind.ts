// Binding a restored inet socket's address: the IP_FREEBIND choice, and restore's preflight probe
// that the address (a connection's four addresses) is still free on this machine.
import { closeSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import { num } from '../shared/constants.js';
import { SysError, rawSyscall } from '../sys/index.js';
import { writeI32 } from '../sys/native-endian.js';
import { sleepSync } from '../sys/wait.js';
import * as K from './inet-consts.js';
import { addrOf, addrText, sockaddr } from './inet-addr.js';

/** The socket had IP_FREEBIND / IPV6_FREEBIND: it may bind an address the machine does not have. */
export const freebind = (e: MessageValue) => (e.ip_opts as MessageValue | undefined)?.freebind === true;
/** Bound with IP_FREEBIND (one flag for both families): as it had it, and every IPv6 socket (as CRIU does). */
export const bindsFree = (e: MessageValue) => freebind(e) || num(e.family) === K.AF_INET6;
/** IP_FREEBIND; a raw IPv6 socket takes SOL_IP options no more (ENOPROTOOPT): IPV6_FREEBIND, the same flag. */
export const freebindOpt = (e: MessageValue): [number, number, string] => (num(e.family) === K.AF_INET6 && num(e.type) === K.SOCK_RAW
  ? [K.SOL_IPV6, K.IPV6_FREEBIND, 'IPV6_FREEBIND'] : [K.SOL_IP, K.IP_FREEBIND, 'IP_FREEBIND']);

/**
 * The address is still free on this machine: a probe socket of cryo's binds it (SO_REUSEADDR and
 * SO_REUSEPORT, as the restore). A connection (`conn`) is restored in TCP repair mode, whose bind
 * shares any port (a listener outside the dump keeps the one its connections came from, as sshd's
 * master for a dumped session): its probe binds in repair mode too and connects (in repair mode
 * nothing is sent), so only its four addresses must be free.
 */
export function checkBindable(e: MessageValue, what: string, conn: boolean): void {
  const f = num(e.family);
  const fd = Number(rawSyscall('socket', f, num(e.type) | K.SOCK_CLOEXEC, num(e.proto)));
  try {
    const one = Buffer.alloc(4);
    writeI32(one, 1, 0);
    rawSyscall('setsockopt', fd, K.SOL_SOCKET, K.SO_REUSEADDR, one, 4);
    // Connections a listener of a REUSEPORT group accepted and closed wait in TIME_WAIT on its port
    // with REUSEPORT but not REUSEADDR: only REUSEPORT binds past them, as the restore's own socket does.
    rawSyscall('setsockopt', fd, K.SOL_SOCKET, K.SO_REUSEPORT, one, 4);
    if (f === K.AF_INET6 && e.v6only === true) rawSyscall('setsockopt', fd, K.SOL_IPV6, K.IPV6_V6ONLY, one, 4);
    if (bindsFree(e)) rawSyscall('setsockopt', fd, K.SOL_IP, K.IP_FREEBIND, one, 4);
    // Without CAP_NET_ADMIN no repair (the restore then says so): the plain probe.
    const repair = conn && tryRepair(fd, one);
    const sa = sockaddr(f, addrOf(e, 'src'));
    const da = sockaddr(f, addrOf(e, 'dst'));
    // A task killed just after its dump may hold its sockets a moment longer: io_uring releases
    // registered files (a listener in a ring's table) from a workqueue after the process is gone, and a
    // loaded machine may take seconds to tear down a killed tree's sockets (CI saw 3 s pass at load 5).
    let bound = false;
    for (const deadline = Date.now() + 10_000; ;) {
      try {
        if (!bound) rawSyscall('bind', fd, sa, sa.length);
        bound = true;
        if (repair) rawSyscall('connect', fd, da, da.length);
        break;
      } catch (err) {
        if (!(err instanceof SysError && (err.code === 'EADDRINUSE' || (bound && err.code === 'EADDRNOTAVAIL'))) || Date.now() > deadline) throw err;
        sleepSync(20);
      }
    }
  } catch (err) {
    if (err instanceof SysError && (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL')) {
      const src = addrText(f, addrOf(e, 'src'));
      const cause = err.call.startsWith('connect') ? 'another connection on this machine has the same addresses'
        : err.code === 'EADDRINUSE' ? `${src} is taken by another socket on this machine` : `${src} is not an address of this machine`;
      throw new RestoreError('FAILED', `${what}: ${err.code}: ${cause}`);
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}

/** TCP_REPAIR on `fd` (closed in repair mode, it leaves without a FIN or reset); false without CAP_NET_ADMIN. */
function tryRepair(fd: number, one: Buffer): boolean {
  try {
    rawSyscall('setsockopt', fd, K.SOL_TCP, K.TCP_REPAIR, one, 4);
    return true;
  } catch (err) {
    if (err instanceof SysError && err.code === 'EPERM') return false;
    throw err;
  }
}
