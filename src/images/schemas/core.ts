// core.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';
import { thread_info_aarch64 } from './core-aarch64.js';
import { thread_info_arm } from './core-arm.js';
import { thread_info_loongarch64 } from './core-loongarch64.js';
import { thread_info_mips } from './core-mips.js';
import { thread_info_ppc64 } from './core-ppc64.js';
import { thread_info_riscv64 } from './core-riscv64.js';
import { thread_info_s390 } from './core-s390.js';
import { thread_info_x86 } from './core-x86.js';
import { creds_entry } from './creds.js';
import { rlimit_entry } from './rlimit.js';
import { rseq_entry } from './rseq.js';
import { sa_entry } from './sa.js';
import { signal_queue_entry } from './siginfo.js';
import { task_timers_entry } from './timer.js';

export const seccomp_mode = enumDef('seccomp_mode', {
  disabled: 0,
  strict: 1,
  filter: 2,
});

/** Declared inside core_entry in the .proto; crit only shows its value names. */
export const march = enumDef('march', {
  UNKNOWN: 0,
  X86_64: 1,
  ARM: 2,
  AARCH64: 3,
  PPC64: 4,
  S390: 5,
  MIPS: 6,
  LOONGARCH64: 7,
  RISCV64: 8,
});

export const task_core_entry = message('task_core_entry', [
  req(1, 'task_state', 'uint32', { dict: 'gen' }),
  req(2, 'exit_code', 'uint32'),
  req(3, 'personality', 'uint32'),
  req(4, 'flags', 'uint32'),
  req(5, 'blk_sigset', 'uint64', { hex: true }),
  req(6, 'comm', 'string'),
  opt(7, 'timers', () => task_timers_entry),
  opt(8, 'rlimits', () => task_rlimits_entry),
  opt(9, 'cg_set', 'uint32'),
  opt(10, 'signals_s', () => signal_queue_entry),
  opt(11, 'old_seccomp_mode', seccomp_mode),
  opt(12, 'old_seccomp_filter', 'uint32'),
  opt(13, 'loginuid', 'uint32'),
  opt(14, 'oom_score_adj', 'int32'),
  rep(15, 'sigactions', () => sa_entry),
  opt(18, 'child_subreaper', 'bool'),
  opt(20, 'blk_sigset_extended', 'uint64', { hex: true }),
  opt(21, 'stop_signo', 'uint32'),
  opt(22, 'membarrier_registration_mask', 'uint32', { hex: true }),
]);

export const task_kobj_ids_entry = message('task_kobj_ids_entry', [
  req(1, 'vm_id', 'uint32'),
  req(2, 'files_id', 'uint32'),
  req(3, 'fs_id', 'uint32'),
  req(4, 'sighand_id', 'uint32'),
  opt(5, 'pid_ns_id', 'uint32'),
  opt(6, 'net_ns_id', 'uint32'),
  opt(7, 'ipc_ns_id', 'uint32'),
  opt(8, 'uts_ns_id', 'uint32'),
  opt(9, 'mnt_ns_id', 'uint32'),
  opt(10, 'user_ns_id', 'uint32'),
  opt(11, 'cgroup_ns_id', 'uint32'),
  opt(12, 'time_ns_id', 'uint32'),
]);

export const thread_sas_entry = message('thread_sas_entry', [
  req(1, 'ss_sp', 'uint64'),
  req(2, 'ss_size', 'uint64'),
  req(3, 'ss_flags', 'uint32'),
]);

export const thread_core_entry = message('thread_core_entry', [
  req(1, 'futex_rla', 'uint64'),
  req(2, 'futex_rla_len', 'uint32'),
  opt(3, 'sched_nice', 'sint32'),
  opt(4, 'sched_policy', 'uint32'),
  opt(5, 'sched_prio', 'uint32'),
  opt(6, 'blk_sigset', 'uint64'),
  opt(7, 'sas', () => thread_sas_entry),
  opt(8, 'pdeath_sig', 'uint32'),
  opt(9, 'signals_p', () => signal_queue_entry),
  opt(10, 'creds', () => creds_entry),
  opt(11, 'seccomp_mode', seccomp_mode),
  opt(12, 'seccomp_filter', 'uint32'),
  opt(13, 'comm', 'string'),
  opt(14, 'blk_sigset_extended', 'uint64'),
  opt(15, 'rseq_entry', () => rseq_entry),
  opt(16, 'cg_set', 'uint32'),
]);

export const task_rlimits_entry = message('task_rlimits_entry', [
  rep(1, 'rlimits', () => rlimit_entry),
]);

export const core_entry = message('core_entry', [
  req(1, 'mtype', march),
  opt(2, 'thread_info', () => thread_info_x86),
  opt(6, 'ti_arm', () => thread_info_arm),
  opt(8, 'ti_aarch64', () => thread_info_aarch64),
  opt(9, 'ti_ppc64', () => thread_info_ppc64),
  opt(10, 'ti_s390', () => thread_info_s390),
  opt(11, 'ti_mips', () => thread_info_mips),
  opt(12, 'ti_loongarch64', () => thread_info_loongarch64),
  opt(13, 'ti_riscv64', () => thread_info_riscv64),
  opt(3, 'tc', () => task_core_entry),
  opt(4, 'ids', () => task_kobj_ids_entry),
  opt(5, 'thread_core', () => thread_core_entry),
]);
