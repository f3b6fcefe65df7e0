/**
 * Thread state that only some architectures have and that ptrace gives outside the regsets
 * (x86: the three GDT TLS slots). A table keyed by the Arch's name, so generic code never asks
 * which architecture it runs on. TODO(arch): this belongs in the Arch interface as a hook.
 */
import { ptrace, readU32 } from '../sys/index.js';
import type { ThreadExtras } from '../arch/types.js';
import type { ImageRecord } from '../arch/regtable.js';

const PTRACE_GET_THREAD_AREA = 25;
/** GDT_ENTRY_TLS_MIN .. GDT_ENTRY_TLS_MAX on x86_64. */
const X86_TLS_SLOTS = [12, 13, 14];

function x86Tls(pid: number): ImageRecord[] {
  return X86_TLS_SLOTS.map((idx) => {
    const d = Buffer.alloc(16); // struct user_desc
    ptrace.ptrace(PTRACE_GET_THREAD_AREA, pid, idx, d, `GET_THREAD_AREA ${idx}`);
    const bits = readU32(d, 12);
    return {
      entry_number: readU32(d, 0), base_addr: readU32(d, 4), limit: readU32(d, 8),
      seg_32bit: (bits & 1) !== 0, contents_h: (bits & 4) !== 0, contents_l: (bits & 2) !== 0,
      read_exec_only: (bits & 8) !== 0, limit_in_pages: (bits & 16) !== 0, seg_not_present: (bits & 32) !== 0,
      usable: (bits & 64) !== 0,
    };
  });
}

export const ARCH_THREAD_EXTRAS: Readonly<Record<string, (pid: number) => ThreadExtras>> = {
  // shstkStatus: without a shadow stack the kernel reports none (0), which CRIU records as cet {0, 0}.
  x86_64: (pid) => ({ tls: x86Tls(pid), shstkStatus: 0n }),
};
