// The per-architecture facts cryo and its tests rely on, proved against each architecture's own C headers
// (glibc + kernel uapi, as the Debian cross compilers ship them): the syscall tables in
// src/sys/syscalls/<arch>.ts and the ABI rows in test/helpers/arch-abi.ts. Runs on the build host; an
// architecture whose compiler is not installed is skipped with the apt-get line that installs it (under CI=true: fails).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { syscallTableFor } from '../../src/sys/syscall-table.js';
import { ARCH_ABI } from '../helpers/arch-abi.js';
import { KERNEL_ABIS } from '../../src/arch/host-abi.js';
import { toolSkip } from '../helpers/required-tool.js';

/** The C compiler for a triplet: `<triplet>-gcc`, or the native `cc` when it targets that triplet. */
function compilerFor(triplet: string): string | undefined {
  for (const cc of [`${triplet}-gcc`, 'cc']) {
    try {
      const machine = execFileSync(cc, ['-dumpmachine'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (machine === triplet) return cc;
    } catch { /* not installed */ }
  }
  return undefined;
}

const DEBIAN_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64el', s390x: 's390x' };

/** Every `#define __NR_name value` the headers give, with macro-to-macro references resolved. */
function headerSyscalls(cc: string): Map<string, number> {
  const text = execFileSync(cc, ['-E', '-dM', '-include', 'sys/syscall.h', '-x', 'c', '-'], { input: '', encoding: 'utf8' });
  const raw = new Map<string, string>();
  for (const m of text.matchAll(/^#define (\w+) (.+)$/gm)) raw.set(m[1], m[2].trim());
  const value = (expr: string, depth = 0): number | undefined => {
    const e = expr.replace(/^\((.*)\)$/, '$1').trim();
    if (/^\d+$/.test(e)) return Number(e);
    const sum = /^(\w+)\s*\+\s*(\d+)$/.exec(e); // e.g. (__NR_SYSCALL_BASE + 5)
    if (sum && depth < 8) { const b = value(raw.get(sum[1]) ?? '', depth + 1); return b === undefined ? undefined : b + Number(sum[2]); }
    if (/^\w+$/.test(e) && raw.has(e) && depth < 8) return value(raw.get(e)!, depth + 1);
    return undefined;
  };
  const out = new Map<string, number>();
  for (const [name, expr] of raw) {
    const m = /^__NR_(\w+)$/.exec(name);
    if (!m || m[1] === 'syscalls' || m[1] === 'arch_specific_syscall') continue; // counts and bases, not calls
    const v = value(expr);
    if (v !== undefined) out.set(m[1], v);
  }
  return out;
}

for (const [nodeArch, abi] of Object.entries(ARCH_ABI)) {
  const cc = compilerFor(abi.triplet);
  const skip = toolSkip(`a C compiler for ${abi.triplet}`, cc !== undefined, `apt-get install gcc-${abi.triplet} libc6-dev-${DEBIAN_ARCH[nodeArch]}-cross`);

  test(`${nodeArch}: the syscall table equals ${abi.triplet}'s <sys/syscall.h>`, { skip }, () => {
    const header = headerSyscalls(cc!);
    const table = syscallTableFor(nodeArch);
    const wrong: string[] = [];
    for (const [name, nr] of header) {
      if (table[name] !== nr) wrong.push(`${name}: header ${nr}, table ${table[name]}`);
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${header.size} header syscalls differ`);
    assert.ok(header.size > 300, `only ${header.size} syscalls in the headers`);
    for (const name of ['ptrace', 'process_vm_readv', 'clone3', 'rt_sigreturn', 'mmap']) assert.ok(header.has(name), name);
  });

  test(`${nodeArch}: NT_PRSTATUS size, IP offset and FIONREAD match ${abi.triplet}'s headers`, { skip }, () => {
    const src = [
      '#include <stddef.h>', '#include <sys/procfs.h>', '#include <sys/user.h>', '#include <sys/ioctl.h>',
      `_Static_assert(sizeof(elf_gregset_t) == ${abi.prstatusSize}, "prstatusSize");`,
      `_Static_assert(${abi.ipOffsetOf} == ${abi.ipOffset}, "ipOffset");`,
      `_Static_assert(FIONREAD == ${abi.fionread}, "fionread");`,
    ].join('\n');
    execFileSync(cc!, ['-fsyntax-only', '-x', 'c', '-'], { input: src, stdio: ['pipe', 'inherit', 'inherit'] });
  });

  const kernelAbi = KERNEL_ABIS[nodeArch];
  test(`${nodeArch}: the mmap/mprotect/madvise numbers of its KernelAbi match ${abi.triplet}'s headers`, { skip: kernelAbi ? skip : 'no KernelAbi row in src/arch/host-abi.ts yet' }, () => {
    // Names newer than the installed headers (MAP_DROPPABLE: Linux 6.11, MADV_GUARD_INSTALL: 6.13)
    // are checked where defined; every other name must be.
    const newer = new Set(['MAP_DROPPABLE', 'MADV_GUARD_INSTALL']);
    const src = ['#include <sys/mman.h>', '#include <linux/mman.h>'];
    for (const [name, v] of Object.entries(kernelAbi!.mman)) {
      const check = `_Static_assert(${name} == ${v}, "${name}");`;
      src.push(...(newer.has(name) ? [`#ifdef ${name}`, check, '#endif'] : [check]));
    }
    execFileSync(cc!, ['-fsyntax-only', '-x', 'c', '-'], { input: src.join('\n'), stdio: ['pipe', 'inherit', 'inherit'] });
  });

  test(`${nodeArch}: the ioctl numbers of its KernelAbi match ${abi.triplet}'s headers`, { skip: kernelAbi ? skip : 'no KernelAbi row in src/arch/host-abi.ts yet' }, () => {
    const src = ['#include <sys/ioctl.h>', '#include <asm/ioctls.h>', '#include <asm/termbits.h>', '#include <linux/timerfd.h>', '#include <linux/inotify.h>'];
    for (const [name, v] of Object.entries(kernelAbi!.ioctls)) src.push(`_Static_assert(${name} == ${v}u, "${name}");`);
    execFileSync(cc!, ['-fsyntax-only', '-x', 'c', '-'], { input: src.join('\n'), stdio: ['pipe', 'inherit', 'inherit'] });
  });
}
