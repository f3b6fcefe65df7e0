// sk-opts.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';

export const sk_shutdown = enumDef('sk_shutdown', {
  NONE: 0,
  READ: 1,
  WRITE: 2,
  BOTH: 3,
});

export const sk_opts_entry = message('sk_opts_entry', [
  req(1, 'so_sndbuf', 'uint32'),
  req(2, 'so_rcvbuf', 'uint32'),
  req(3, 'so_snd_tmo_sec', 'uint64'),
  req(4, 'so_snd_tmo_usec', 'uint64'),
  req(5, 'so_rcv_tmo_sec', 'uint64'),
  req(6, 'so_rcv_tmo_usec', 'uint64'),
  opt(7, 'reuseaddr', 'bool'),
  opt(8, 'so_priority', 'uint32'),
  opt(9, 'so_rcvlowat', 'uint32'),
  opt(10, 'so_mark', 'uint32'),
  opt(11, 'so_passcred', 'bool'),
  opt(12, 'so_passsec', 'bool'),
  opt(13, 'so_dontroute', 'bool'),
  opt(14, 'so_no_check', 'bool'),
  opt(15, 'so_bound_dev', 'string'),
  rep(16, 'so_filter', 'fixed64'),
  opt(17, 'so_reuseport', 'bool'),
  opt(18, 'so_broadcast', 'bool'),
  opt(19, 'so_keepalive', 'bool'),
  opt(20, 'tcp_keepcnt', 'uint32'),
  opt(21, 'tcp_keepidle', 'uint32'),
  opt(22, 'tcp_keepintvl', 'uint32'),
  opt(23, 'so_oobinline', 'uint32'),
  opt(24, 'so_linger', 'uint32'),
  opt(25, 'so_buf_lock', 'uint32'),
]);
