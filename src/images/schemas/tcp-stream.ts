// tcp-stream.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const tcp_opts_entry = message('tcp_opts_entry', [
  opt(1, 'cork', 'bool'),
  opt(2, 'nodelay', 'bool'),
  opt(3, 'keepcnt', 'uint32'),
  opt(4, 'keepidle', 'uint32'),
  opt(5, 'keepintvl', 'uint32'),
]);

export const tcp_stream_entry = message('tcp_stream_entry', [
  req(1, 'inq_len', 'uint32'),
  req(2, 'inq_seq', 'uint32'),
  req(3, 'outq_len', 'uint32'),
  req(4, 'outq_seq', 'uint32'),
  req(5, 'opt_mask', 'uint32', { hex: true }),
  req(6, 'snd_wscale', 'uint32'),
  req(7, 'mss_clamp', 'uint32'),
  opt(8, 'rcv_wscale', 'uint32'),
  opt(9, 'timestamp', 'uint32'),
  opt(10, 'cork', 'bool'),
  opt(11, 'nodelay', 'bool'),
  opt(12, 'unsq_len', 'uint32'),
  opt(13, 'snd_wl1', 'uint32'),
  opt(14, 'snd_wnd', 'uint32'),
  opt(15, 'max_window', 'uint32'),
  opt(16, 'rcv_wnd', 'uint32'),
  opt(17, 'rcv_wup', 'uint32'),
]);
