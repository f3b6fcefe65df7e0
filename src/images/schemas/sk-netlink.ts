// sk-netlink.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';
import { fown_entry } from './fown.js';
import { sk_opts_entry } from './sk-opts.js';

export const netlink_sk_entry = message('netlink_sk_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'protocol', 'uint32'),
  req(4, 'state', 'uint32'),
  req(6, 'flags', 'uint32', { hex: true }),
  req(7, 'portid', 'uint32'),
  rep(8, 'groups', 'uint32'),
  req(9, 'dst_portid', 'uint32'),
  req(10, 'dst_group', 'uint32'),
  req(11, 'fown', () => fown_entry),
  req(12, 'opts', () => sk_opts_entry),
  opt(13, 'ns_id', 'uint32'),
]);
