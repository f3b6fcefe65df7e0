// vma.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const vma_entry = message('vma_entry', [
  req(1, 'start', 'uint64', { hex: true }),
  req(2, 'end', 'uint64', { hex: true }),
  req(3, 'pgoff', 'uint64'),
  req(4, 'shmid', 'uint64'),
  req(5, 'prot', 'uint32', { flags: 'mmap.prot' }),
  req(6, 'flags', 'uint32', { flags: 'mmap.flags' }),
  req(7, 'status', 'uint32', { flags: 'mmap.status' }),
  req(8, 'fd', 'sint64'),
  opt(9, 'madv', 'uint64', { hex: true }),
  opt(10, 'fdflags', 'uint32', { hex: true }),
]);
