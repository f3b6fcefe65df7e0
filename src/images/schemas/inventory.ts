// inventory.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';
import { task_kobj_ids_entry } from './core.js';

export const lsmtype = enumDef('lsmtype', {
  NO_LSM: 0,
  SELINUX: 1,
  APPARMOR: 2,
});

export const plugins_entry = message('plugins_entry', [
  rep(12, 'plugins', 'string'),
]);

export const inventory_entry = message('inventory_entry', [
  req(1, 'img_version', 'uint32'),
  opt(2, 'fdinfo_per_id', 'bool'),
  opt(3, 'root_ids', () => task_kobj_ids_entry),
  opt(4, 'ns_per_id', 'bool'),
  opt(5, 'root_cg_set', 'uint32'),
  opt(6, 'lsmtype', lsmtype),
  opt(8, 'dump_uptime', 'uint64'),
  opt(9, 'pre_dump_mode', 'uint32'),
  opt(10, 'tcp_close', 'bool'),
  opt(11, 'network_lock_method', 'uint32'),
  opt(12, 'plugins_entry', () => plugins_entry),
  opt(13, 'dump_criu_run_id', 'string'),
  opt(14, 'allow_uprobes', 'bool'),
]);
