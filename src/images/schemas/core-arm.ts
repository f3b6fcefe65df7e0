// core-arm.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const user_arm_regs_entry = message('user_arm_regs_entry', [
  req(1, 'r0', 'uint32'),
  req(2, 'r1', 'uint32'),
  req(3, 'r2', 'uint32'),
  req(4, 'r3', 'uint32'),
  req(5, 'r4', 'uint32'),
  req(6, 'r5', 'uint32'),
  req(7, 'r6', 'uint32'),
  req(8, 'r7', 'uint32'),
  req(9, 'r8', 'uint32'),
  req(10, 'r9', 'uint32'),
  req(11, 'r10', 'uint32'),
  req(12, 'fp', 'uint32'),
  req(13, 'ip', 'uint32'),
  req(14, 'sp', 'uint32'),
  req(15, 'lr', 'uint32'),
  req(16, 'pc', 'uint32'),
  req(17, 'cpsr', 'uint32'),
  req(18, 'orig_r0', 'uint32'),
]);

export const user_arm_vfpstate_entry = message('user_arm_vfpstate_entry', [
  rep(1, 'vfp_regs', 'uint64'),
  req(2, 'fpscr', 'uint32'),
  req(3, 'fpexc', 'uint32'),
  req(4, 'fpinst', 'uint32'),
  req(5, 'fpinst2', 'uint32'),
]);

export const thread_info_arm = message('thread_info_arm', [
  req(1, 'clear_tid_addr', 'uint64', { hex: true }),
  req(2, 'tls', 'uint32'),
  req(3, 'gpregs', () => user_arm_regs_entry, { hex: true }),
  req(4, 'fpstate', () => user_arm_vfpstate_entry),
]);
