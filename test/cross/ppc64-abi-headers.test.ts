// src/arch/ppc64's numbers against the ppc64le headers (gcc-powerpc64le-linux-gnu): the kernel ABI
// overrides (tty ioctls, struct termios, SO_*, O_DIRECT/O_DIRECTORY), the regset note types and
// sizes, the register offsets and the AT_HWCAP/AT_HWCAP2 bits. Compile-time asserts only.
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { KERNEL_ABI } from '../../src/arch/ppc64/kernel-abi.js';
import { HWCAP_BITS } from '../../src/arch/ppc64/cpu.js';
import {
  FP_REGS_SIZE, GP_REGS, GP_REGS_SIZE, NT_PPC_TM_CFPR, NT_PPC_TM_CGPR, NT_PPC_TM_CVMX, NT_PPC_TM_CVSX, NT_PPC_TM_SPR,
  NT_PPC_VMX, NT_PPC_VSX, VMX_REGS_SIZE,
} from '../../src/arch/ppc64/regs.js';

const CC = 'powerpc64le-linux-gnu-gcc';
let skip: string | false = false;
try { execFileSync(CC, ['--version'], { stdio: 'ignore' }); } catch { skip = `no ${CC} (apt-get install gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross)`; }

const PT_NAME: Record<string, string> = { nip: 'PT_NIP', msr: 'PT_MSR', orig_gpr3: 'PT_ORIG_R3', ctr: 'PT_CTR', link: 'PT_LNK', xer: 'PT_XER', ccr: 'PT_CCR', trap: 'PT_TRAP' };

test('ppc64 tables equal the ppc64le kernel and glibc headers', { skip }, () => {
  const k = KERNEL_ABI;
  const lines = [
    '#define _GNU_SOURCE', '#include <stddef.h>', '#include <fcntl.h>', '#include <sys/socket.h>', '#include <sys/ioctl.h>',
    '#include <asm/ioctls.h>', '#include <asm/termbits.h>', '#include <asm/ptrace.h>', '#include <asm/elf.h>',
    '#include <asm/cputable.h>', '#include <linux/elf.h>',
    '#define A(e, v) _Static_assert((unsigned long)(e) == (unsigned long)(v), #e);',
  ];
  // The ioctl numbers: test/cross/arch-abi-headers.test.ts (every architecture's, in headers that do not clash with fcntl.h).
  for (const [name, v] of Object.entries(k.socketOptions)) {
    const macro = name === 'RCVTIMEO' || name === 'SNDTIMEO' ? `SO_${name}_OLD` : `SO_${name}`;
    lines.push(`A(${macro}, ${v})`);
  }
  lines.push(`A(SOL_SOCKET, ${k.solSocket})`, `A(O_DIRECT, ${k.openFlags.O_DIRECT})`, `A(O_DIRECTORY, ${k.openFlags.O_DIRECTORY})`);
  const t = k.layouts.termios;
  lines.push(`A(sizeof(struct termios), ${t.size})`, `A(offsetof(struct termios, c_iflag), ${t.iflag})`,
    `A(offsetof(struct termios, c_oflag), ${t.oflag})`, `A(offsetof(struct termios, c_cflag), ${t.cflag})`,
    `A(offsetof(struct termios, c_lflag), ${t.lflag})`, `A(offsetof(struct termios, c_line), ${t.line})`,
    `A(offsetof(struct termios, c_cc), ${t.cc})`, `A(NCCS, ${t.nccs})`);
  lines.push(`A(NT_PPC_VMX, ${NT_PPC_VMX})`, `A(NT_PPC_VSX, ${NT_PPC_VSX})`, `A(NT_PPC_TM_CGPR, ${NT_PPC_TM_CGPR})`,
    `A(NT_PPC_TM_CFPR, ${NT_PPC_TM_CFPR})`, `A(NT_PPC_TM_CVMX, ${NT_PPC_TM_CVMX})`, `A(NT_PPC_TM_CVSX, ${NT_PPC_TM_CVSX})`,
    `A(NT_PPC_TM_SPR, ${NT_PPC_TM_SPR})`, `A(ELF_NGREG * 8, ${GP_REGS_SIZE})`, `A(ELF_NFPREG * 8, ${FP_REGS_SIZE})`,
    `A(ELF_NVRREG * 16, ${VMX_REGS_SIZE})`, 'A(offsetof(struct pt_regs, gpr), 0)');
  for (const r of GP_REGS) if (PT_NAME[r.name]) lines.push(`A(${PT_NAME[r.name]} * 8, ${r.offset})`);
  for (const b of HWCAP_BITS) lines.push(`A(${b.name}, ${b.bit}u)`);
  execFileSync(CC, ['-fsyntax-only', '-x', 'c', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'inherit', 'inherit'] });
});
