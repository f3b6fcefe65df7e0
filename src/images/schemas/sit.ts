// sit.proto of CRIU 4.2, as cryo schema data.

import { message, opt, rep } from '../schema.js';

export const sit_entry = message('sit_entry', [
  opt(1, 'link', 'uint32'),
  rep(2, 'local', 'uint32', { ipadd: true }),
  rep(3, 'remote', 'uint32', { ipadd: true }),
  opt(4, 'ttl', 'uint32'),
  opt(5, 'tos', 'uint32'),
  opt(6, 'pmtudisc', 'bool'),
  opt(7, 'proto', 'uint32'),
  opt(8, 'flags', 'uint32'),
  opt(9, 'encap_type', 'uint32'),
  opt(10, 'encap_flags', 'uint32'),
  opt(11, 'encap_sport', 'uint32'),
  opt(12, 'encap_dport', 'uint32'),
  opt(13, 'rd_prefixlen', 'uint32'),
  rep(14, 'rd_prefix', 'uint32', { ipadd: true }),
  opt(15, 'relay_prefixlen', 'uint32'),
  rep(16, 'relay_prefix', 'uint32', { ipadd: true }),
]);
