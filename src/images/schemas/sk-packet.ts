// sk-packet.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const scm_entry = message('scm_entry', [
  req(1, 'type', 'uint32'),
  rep(2, 'rights', 'uint32'),
]);

export const sk_packet_entry = message('sk_packet_entry', [
  req(1, 'id_for', 'uint32'),
  req(2, 'length', 'uint32'),
  rep(4, 'scm', () => scm_entry),
]);
