// Edits a dumped thread's registers so that it leaves the system call it was stopped in with another
// result: the tests' way of proving that a restart check can fail. One row per architecture (keyed
// by process.arch), each in its own register names; an architecture without a row fails clearly.
import type { MessageValue } from '../../src/images/value.js';
import { CR0_SO } from '../../src/arch/ppc64/regs.js';
import { readU32 } from '../../src/sys/native-endian.js';
import { editImage } from './restore-env.js';
import { readDumped } from './dumped-memory.js';

/** Reads the dumped task's memory: `n` bytes at `addr`. */
type DumpedMemory = (addr: bigint, n: number) => Buffer;

interface SyscallEdit {
  /** The core entry's thread_info field. */
  field: string;
  /** Makes `gp` return `result` (signed); `rewound`: the dump set the thread to enter the call again. */
  returnWith(gp: MessageValue, result: bigint, rewound: boolean, mem: DumpedMemory): void;
}

const u64 = (v: bigint) => BigInt.asUintN(64, v);
const PPC_SCV_0 = 0x44000001;

const EDITS: Readonly<Record<string, SyscallEdit>> = {
  // rax holds the result; `syscall` is 2 bytes.
  x64: {
    field: 'thread_info',
    returnWith(gp, result, rewound) {
      if (rewound) gp.ip = (gp.ip as bigint) + 2n;
      gp.ax = u64(result);
    },
  },
  // `sc` and `scv 0` (4 bytes each; glibc uses scv where the CPU has it) leave the result in r3:
  // after `sc` an error is a positive errno with CR0.SO set, after `scv` a negative one. Which one
  // the thread used is the instruction before its resume address (at it, when rewound).
  ppc64: {
    field: 'ti_ppc64',
    returnWith(gp, result, rewound, mem) {
      const nip = gp.nip as bigint;
      const scv = readU32(mem(rewound ? nip : nip - 4n, 4), 0) === PPC_SCV_0;
      if (rewound) gp.nip = nip + 4n;
      const gpr = gp.gpr as bigint[];
      if (scv) {
        gpr[3] = u64(result);
      } else {
        gpr[3] = result < 0n ? -result : result;
        gp.ccr = result < 0n ? (gp.ccr as bigint) | CR0_SO : (gp.ccr as bigint) & ~CR0_SO;
      }
    },
  },
};

/** Edits the dump in `dir` so that task `pid`'s thread leaves its system call with `result`. */
export function returnFromSyscall(dir: string, pid: number, result: bigint, rewound: boolean): void {
  const edit = EDITS[process.arch];
  if (!edit) throw new Error(`test/helpers/syscall-edit.ts has no row for ${process.arch}: add one`);
  const mem: DumpedMemory = (addr, n) => readDumped(dir, pid, addr, n);
  editImage(dir, `core-${pid}.img`, (entries) => {
    const ti = entries[0]![edit.field] as MessageValue | undefined;
    if (!ti) throw new Error(`the core image has no ${edit.field}`);
    edit.returnWith(ti.gpregs as MessageValue, result, rewound, mem);
  });
}
