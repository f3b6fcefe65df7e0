// Socket numbers the TCP/UDP kind uses. SOL_SOCKET options, FIONREAD and TIOCOUTQ are the
// architecture's (KernelAbi in src/arch; ppc64 differs); the rest are the same on every
// architecture cryo targets.
import { hostKernelAbi } from '../arch/host-abi.js';

const ABI = hostKernelAbi();
const SO = ABI.socketOptions;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_UDPLITE = 136;
/** A raw socket whose packets carry their own IP header. */
export const IPPROTO_RAW = 255;

export const SOL_SOCKET = ABI.solSocket;
export const SO_REUSEADDR = SO.REUSEADDR;
export const SO_TYPE = SO.TYPE;
export const SO_DONTROUTE = SO.DONTROUTE;
export const SO_BROADCAST = SO.BROADCAST;
export const SO_SNDBUF = SO.SNDBUF;
export const SO_RCVBUF = SO.RCVBUF;
export const SO_KEEPALIVE = SO.KEEPALIVE;
export const SO_OOBINLINE = SO.OOBINLINE;
export const SO_NO_CHECK = SO.NO_CHECK;
export const SO_PRIORITY = SO.PRIORITY;
export const SO_LINGER = SO.LINGER;
export const SO_REUSEPORT = SO.REUSEPORT;
export const SO_RCVLOWAT = SO.RCVLOWAT;
export const SO_RCVTIMEO = SO.RCVTIMEO;
export const SO_SNDTIMEO = SO.SNDTIMEO;
export const SO_BINDTODEVICE = SO.BINDTODEVICE;
export const SO_GET_FILTER = SO.GET_FILTER;
export const SO_SNDBUFFORCE = SO.SNDBUFFORCE;
export const SO_RCVBUFFORCE = SO.RCVBUFFORCE;
export const SO_MARK = SO.MARK;
export const SO_PROTOCOL = SO.PROTOCOL;
export const SO_DOMAIN = SO.DOMAIN;
export const SO_BUF_LOCK = SO.BUF_LOCK;

export const SOL_IP = 0;
export const IP_TOS = 1;
export const IP_TTL = 2;
export const IP_PKTINFO = 8;
export const IP_FREEBIND = 15;
/** bind() takes the address only; connect() picks the port (as for a socket never bound). */
export const IP_BIND_ADDRESS_NO_PORT = 24;
/** The ports connect() may pick for this socket: low | high << 16 (Linux 6.3). */
export const IP_LOCAL_PORT_RANGE = 51;
export const SOL_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_FREEBIND = 78;
export const SOL_UDP = 17;
export const UDP_CORK = 1;

export const SOL_TCP = 6;
export const TCP_NODELAY = 1;
export const TCP_MAXSEG = 2;
export const TCP_CORK = 3;
export const TCP_KEEPIDLE = 4;
export const TCP_KEEPINTVL = 5;
export const TCP_KEEPCNT = 6;
export const TCP_INFO = 11;
export const TCP_REPAIR = 19;
export const TCP_REPAIR_QUEUE = 20;
export const TCP_QUEUE_SEQ = 21;
export const TCP_REPAIR_OPTIONS = 22;
export const TCP_TIMESTAMP = 24;
export const TCP_REPAIR_WINDOW = 29;
/** TCP_REPAIR_QUEUE values. */
export const TCP_NO_QUEUE = 0;
export const TCP_RECV_QUEUE = 1;
export const TCP_SEND_QUEUE = 2;
/** tcp_info.tcpi_options bits. */
export const TCPI_OPT_TIMESTAMPS = 1;
export const TCPI_OPT_SACK = 2;
export const TCPI_OPT_WSCALE = 4;
/** TCP option kinds for TCP_REPAIR_OPTIONS. */
export const TCPOPT_MAXSEG = 2;
export const TCPOPT_WINDOW = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_TIMESTAMP = 8;

/** TCP states (include/net/tcp_states.h). */
export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
export const TCP_FIN_WAIT1 = 4;
export const TCP_FIN_WAIT2 = 5;
export const TCP_CLOSE = 7;
export const TCP_CLOSE_WAIT = 8;
export const TCP_LAST_ACK = 9;
export const TCP_LISTEN = 10;
export const TCP_CLOSING = 11;
/** Bound, neither listening nor connected (sock_diag reports it since Linux 6.7); CRIU writes TCP_CLOSE. */
export const TCP_BOUND_INACTIVE = 12;
export const TCP_STATE_NAMES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'BOUND_INACTIVE'];

export const MSG_PEEK = 2;
export const MSG_DONTWAIT = 0x40;
export const SIOCINQ = ABI.ioctls.FIONREAD;
export const SIOCOUTQ = ABI.ioctls.TIOCOUTQ;
export const SIOCOUTQNSD = 0x894b;
export const ENOTCONN = 107;
/** Both ends of a socket whose connection ended (getpeername says ENOTCONN then). */
export const SO_PEERNAME = 28;
export const SO_ERROR = 4;
