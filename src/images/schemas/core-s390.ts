// core-s390.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const user_s390_regs_entry = message('user_s390_regs_entry', [
  req(1, 'psw_mask', 'uint64'),
  req(2, 'psw_addr', 'uint64'),
  rep(3, 'gprs', 'uint64'),
  rep(4, 'acrs', 'uint32'),
  req(5, 'orig_gpr2', 'uint64'),
  req(6, 'system_call', 'uint32'),
]);

export const user_s390_vxrs_low_entry = message('user_s390_vxrs_low_entry', [
  rep(1, 'regs', 'uint64'),
]);

export const user_s390_vxrs_high_entry = message('user_s390_vxrs_high_entry', [
  rep(1, 'regs', 'uint64'),
]);

export const user_s390_fpregs_entry = message('user_s390_fpregs_entry', [
  req(1, 'fpc', 'uint32'),
  rep(2, 'fprs', 'uint64'),
]);

export const user_s390_gs_cb_entry = message('user_s390_gs_cb_entry', [
  rep(1, 'regs', 'uint64'),
]);

export const user_s390_ri_entry = message('user_s390_ri_entry', [
  req(1, 'ri_on', 'uint32'),
  rep(2, 'regs', 'uint64'),
]);

export const thread_info_s390 = message('thread_info_s390', [
  req(1, 'clear_tid_addr', 'uint64', { hex: true }),
  req(2, 'gpregs', () => user_s390_regs_entry, { hex: true }),
  req(3, 'fpregs', () => user_s390_fpregs_entry, { hex: true }),
  opt(4, 'vxrs_low', () => user_s390_vxrs_low_entry, { hex: true }),
  opt(5, 'vxrs_high', () => user_s390_vxrs_high_entry, { hex: true }),
  opt(6, 'gs_cb', () => user_s390_gs_cb_entry, { hex: true }),
  opt(7, 'gs_bc', () => user_s390_gs_cb_entry, { hex: true }),
  opt(8, 'ri_cb', () => user_s390_ri_entry, { hex: true }),
]);
