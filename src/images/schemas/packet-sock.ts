// packet-sock.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';
import { fown_entry } from './fown.js';
import { sk_opts_entry } from './sk-opts.js';

export const packet_mclist = message('packet_mclist', [
  req(1, 'index', 'uint32'),
  req(2, 'type', 'uint32'),
  req(3, 'addr', 'bytes'),
]);

export const packet_ring = message('packet_ring', [
  req(1, 'block_size', 'uint32'),
  req(2, 'block_nr', 'uint32'),
  req(3, 'frame_size', 'uint32'),
  req(4, 'frame_nr', 'uint32'),
  req(5, 'retire_tmo', 'uint32'),
  req(6, 'sizeof_priv', 'uint32'),
  req(7, 'features', 'uint32'),
]);

export const packet_sock_entry = message('packet_sock_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'type', 'uint32'),
  req(3, 'protocol', 'uint32'),
  req(4, 'flags', 'uint32', { hex: true }),
  req(5, 'ifindex', 'uint32'),
  req(6, 'fown', () => fown_entry),
  req(7, 'opts', () => sk_opts_entry),
  req(8, 'version', 'uint32'),
  req(9, 'reserve', 'uint32'),
  req(10, 'aux_data', 'bool'),
  req(11, 'orig_dev', 'bool'),
  req(12, 'vnet_hdr', 'bool'),
  req(13, 'loss', 'bool'),
  req(14, 'timestamp', 'uint32'),
  req(15, 'copy_thresh', 'uint32'),
  rep(16, 'mclist', () => packet_mclist),
  opt(17, 'fanout', 'uint32'),  // proto default 0xffffffff: defaults.ts
  opt(18, 'rx_ring', () => packet_ring),
  opt(19, 'tx_ring', () => packet_ring),
  opt(20, 'ns_id', 'uint32'),
]);
