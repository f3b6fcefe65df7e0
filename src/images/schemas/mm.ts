// mm.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';
import { vma_entry } from './vma.js';

export const aio_ring_entry = message('aio_ring_entry', [
  req(1, 'id', 'uint64'),
  req(2, 'nr_req', 'uint32'),
  req(3, 'ring_len', 'uint32'),
]);

export const mm_entry = message('mm_entry', [
  req(1, 'mm_start_code', 'uint64', { hex: true }),
  req(2, 'mm_end_code', 'uint64', { hex: true }),
  req(3, 'mm_start_data', 'uint64', { hex: true }),
  req(4, 'mm_end_data', 'uint64', { hex: true }),
  req(5, 'mm_start_stack', 'uint64', { hex: true }),
  req(6, 'mm_start_brk', 'uint64', { hex: true }),
  req(7, 'mm_brk', 'uint64', { hex: true }),
  req(8, 'mm_arg_start', 'uint64', { hex: true }),
  req(9, 'mm_arg_end', 'uint64', { hex: true }),
  req(10, 'mm_env_start', 'uint64', { hex: true }),
  req(11, 'mm_env_end', 'uint64', { hex: true }),
  req(12, 'exe_file_id', 'uint32'),
  rep(13, 'mm_saved_auxv', 'uint64'),
  rep(14, 'vmas', () => vma_entry),
  opt(15, 'dumpable', 'int32'),
  rep(16, 'aios', () => aio_ring_entry),
  opt(17, 'thp_disabled', 'bool'),
]);
