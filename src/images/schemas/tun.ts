// tun.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const tunfile_entry = message('tunfile_entry', [
  req(1, 'id', 'uint32'),
  opt(2, 'netdev', 'string'),
  opt(3, 'detached', 'bool'),
  opt(4, 'ns_id', 'uint32'),
]);

export const tun_link_entry = message('tun_link_entry', [
  req(1, 'flags', 'uint32', { hex: true }),
  req(2, 'owner', 'int32'),
  req(3, 'group', 'int32'),
  req(4, 'vnethdr', 'uint32'),
  req(5, 'sndbuf', 'uint32'),
]);
