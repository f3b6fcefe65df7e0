// pagemap.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const pagemap_head = message('pagemap_head', [
  req(1, 'pages_id', 'uint32'),
]);

export const pagemap_entry = message('pagemap_entry', [
  req(1, 'vaddr', 'uint64', { hex: true }),
  req(2, 'compat_nr_pages', 'uint32'),
  opt(3, 'in_parent', 'bool'),
  opt(4, 'flags', 'uint32', { flags: 'pmap.flags' }),
  opt(5, 'nr_pages', 'uint64'),
]);
