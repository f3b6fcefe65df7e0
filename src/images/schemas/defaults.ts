// proto2 `[default = ...]` values of CRIU's image messages. The schema language
// has no place for them because they change neither the wire bytes nor crit's
// JSON (both only carry fields that are set); code that reads an image needs
// them for absent optional fields, e.g. mnt_id -1 means "not recorded".
// Enum defaults are given as their numeric value.

export const fieldDefaults: Readonly<Record<string, Readonly<Record<string, number | boolean>>>> = {
  bpfmap_file_entry: { frozen: false, ifindex: 0, mnt_id: -1 },
  packet_sock_entry: { fanout: 4294967295 },
  reg_file_entry: { mnt_id: -1 },
  unix_sk_entry: { mnt_id: -1 },
  user_desc_t: { read_exec_only: true, seg_not_present: true },
  user_x86_regs_entry: { mode: 1 }, // user_x86_regs_mode.NATIVE
};
