// core-riscv64.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const user_riscv64_regs_entry = message('user_riscv64_regs_entry', [
  req(1, 'pc', 'uint64'),
  req(2, 'ra', 'uint64'),
  req(3, 'sp', 'uint64'),
  req(4, 'gp', 'uint64'),
  req(5, 'tp', 'uint64'),
  req(6, 't0', 'uint64'),
  req(7, 't1', 'uint64'),
  req(8, 't2', 'uint64'),
  req(9, 's0', 'uint64'),
  req(10, 's1', 'uint64'),
  req(11, 'a0', 'uint64'),
  req(12, 'a1', 'uint64'),
  req(13, 'a2', 'uint64'),
  req(14, 'a3', 'uint64'),
  req(15, 'a4', 'uint64'),
  req(16, 'a5', 'uint64'),
  req(17, 'a6', 'uint64'),
  req(18, 'a7', 'uint64'),
  req(19, 's2', 'uint64'),
  req(20, 's3', 'uint64'),
  req(21, 's4', 'uint64'),
  req(22, 's5', 'uint64'),
  req(23, 's6', 'uint64'),
  req(24, 's7', 'uint64'),
  req(25, 's8', 'uint64'),
  req(26, 's9', 'uint64'),
  req(27, 's10', 'uint64'),
  req(28, 's11', 'uint64'),
  req(29, 't3', 'uint64'),
  req(30, 't4', 'uint64'),
  req(31, 't5', 'uint64'),
  req(32, 't6', 'uint64'),
]);

export const user_riscv64_d_ext_entry = message('user_riscv64_d_ext_entry', [
  rep(1, 'f', 'uint64'),
  req(2, 'fcsr', 'uint32'),
]);

export const thread_info_riscv64 = message('thread_info_riscv64', [
  req(1, 'clear_tid_addr', 'uint64', { hex: true }),
  req(2, 'tls', 'uint64'),
  req(3, 'gpregs', () => user_riscv64_regs_entry, { hex: true }),
  req(4, 'fpsimd', () => user_riscv64_d_ext_entry),
]);
