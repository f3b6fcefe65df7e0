// sk-inet.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';
import { fown_entry } from './fown.js';
import { sk_opts_entry, sk_shutdown } from './sk-opts.js';
import { tcp_opts_entry } from './tcp-stream.js';

export const ip_opts_raw_entry = message('ip_opts_raw_entry', [
  opt(1, 'hdrincl', 'bool'),
  opt(2, 'nodefrag', 'bool'),
  opt(3, 'checksum', 'bool'),
  rep(4, 'icmpv_filter', 'uint32'),
]);

export const ip_opts_entry = message('ip_opts_entry', [
  opt(1, 'freebind', 'bool'),
  opt(4, 'raw', () => ip_opts_raw_entry),
  opt(5, 'pktinfo', 'bool'),
  opt(6, 'tos', 'uint32'),
  opt(7, 'ttl', 'uint32'),
]);

export const inet_sk_entry = message('inet_sk_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'family', 'uint32', { dict: 'sk' }),
  req(4, 'type', 'uint32', { dict: 'sk' }),
  req(5, 'proto', 'uint32', { dict: 'sk' }),
  req(6, 'state', 'uint32', { dict: 'sk' }),
  req(7, 'src_port', 'uint32'),
  req(8, 'dst_port', 'uint32'),
  req(9, 'flags', 'uint32', { hex: true }),
  req(10, 'backlog', 'uint32'),
  rep(11, 'src_addr', 'uint32', { ipadd: true }),
  rep(12, 'dst_addr', 'uint32', { ipadd: true }),
  req(13, 'fown', () => fown_entry),
  req(14, 'opts', () => sk_opts_entry),
  opt(15, 'v6only', 'bool'),
  opt(16, 'ip_opts', () => ip_opts_entry),
  opt(17, 'ifname', 'string'),
  opt(18, 'ns_id', 'uint32'),
  opt(19, 'shutdown', sk_shutdown),
  opt(20, 'tcp_opts', () => tcp_opts_entry),
]);
