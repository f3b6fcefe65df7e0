// cgroup.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const cgroup_perms = message('cgroup_perms', [
  req(1, 'mode', 'uint32'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
]);

export const cgroup_prop_entry = message('cgroup_prop_entry', [
  req(1, 'name', 'string'),
  req(2, 'value', 'string'),
  opt(3, 'perms', () => cgroup_perms),
]);

export const cgroup_dir_entry = message('cgroup_dir_entry', [
  req(1, 'dir_name', 'string'),
  rep(2, 'children', () => cgroup_dir_entry),
  rep(3, 'properties', () => cgroup_prop_entry),
  opt(4, 'dir_perms', () => cgroup_perms),
]);

export const cg_controller_entry = message('cg_controller_entry', [
  rep(1, 'cnames', 'string'),
  rep(2, 'dirs', () => cgroup_dir_entry),
  opt(3, 'is_threaded', 'bool'),
]);

export const cg_member_entry = message('cg_member_entry', [
  req(1, 'name', 'string'),
  req(2, 'path', 'string'),
  opt(3, 'cgns_prefix', 'uint32'),
]);

export const cg_set_entry = message('cg_set_entry', [
  req(1, 'id', 'uint32'),
  rep(2, 'ctls', () => cg_member_entry),
]);

export const cgroup_entry = message('cgroup_entry', [
  rep(1, 'sets', () => cg_set_entry),
  rep(2, 'controllers', () => cg_controller_entry),
]);
