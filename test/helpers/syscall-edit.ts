// Edits a dumped thread's registers so that it leaves the system call it was stopped in with another
// result: the tests' way of proving that a restart check can fail. One row per architecture (keyed
// by process.arch), each in its own register names; an architecture without a row fails clearly.
import type { MessageValue } from '../../src/images/value.js';
import { CR0_SO } from '../../src/arch/ppc64/regs.js';

interface SyscallEdit {
  /** The core entry's thread_info field. */
  field: string;
  /** Makes `gp` return `result` (signed); `rewound`: the dump set the thread to enter the call again. */
  returnWith(gp: MessageValue, result: bigint, rewound: boolean): void;
}

const u64 = (v: bigint) => BigInt.asUintN(64, v);

const EDITS: Readonly<Record<string, SyscallEdit>> = {
  // rax holds the result; `syscall` is 2 bytes.
  x64: {
    field: 'thread_info',
    returnWith(gp, result, rewound) {
      if (rewound) gp.ip = (gp.ip as bigint) + 2n;
      gp.ax = u64(result);
    },
  },
  // `sc` (4 bytes): r3 holds the result, an error as a positive errno with CR0.SO set.
  ppc64: {
    field: 'ti_ppc64',
    returnWith(gp, result, rewound) {
      if (rewound) gp.nip = (gp.nip as bigint) + 4n;
      (gp.gpr as bigint[])[3] = result < 0n ? -result : result;
      gp.ccr = result < 0n ? (gp.ccr as bigint) | CR0_SO : (gp.ccr as bigint) & ~CR0_SO;
    },
  },
};

/** The core entry edit for the thread in `entries` (a core image's). */
export function returnFromSyscall(entries: MessageValue[], result: bigint, rewound: boolean): void {
  const edit = EDITS[process.arch];
  if (!edit) throw new Error(`test/helpers/syscall-edit.ts has no row for ${process.arch}: add one`);
  const ti = entries[0]![edit.field] as MessageValue | undefined;
  if (!ti) throw new Error(`the core image has no ${edit.field}`);
  edit.returnWith(ti.gpregs as MessageValue, result, rewound);
}
