// Whether this kernel runs ia32 tasks: it is asked the only way that covers every reason it may
// not (CONFIG_IA32_EMULATION off, ia32_emulation=0 on the command line): a 32-bit program of 88
// bytes is started; it exits 42 through int 0x80 where ia32 emulation works. The answer is kept.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, waitpid, SysError, __WALL } from '../../sys/index.js';

const LOAD = 0x08048000;
/** mov eax, 1 (exit); mov ebx, 42; int 0x80 */
const CODE = Buffer.from('b801000000bb2a000000cd80', 'hex');

/** A static ELF32 i386 executable: ELF header, one PT_LOAD, the code. */
export function ia32ProbeElf(): Buffer {
  const ehsize = 52;
  const phsize = 32;
  const b = Buffer.alloc(ehsize + phsize + CODE.length);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0]).copy(b, 0);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(3, 18); // EM_386
  b.writeUInt32LE(1, 20);
  b.writeUInt32LE(LOAD + ehsize + phsize, 24); // e_entry
  b.writeUInt32LE(ehsize, 28); // e_phoff
  b.writeUInt16LE(ehsize, 40);
  b.writeUInt16LE(phsize, 42);
  b.writeUInt16LE(1, 44);
  const ph = ehsize;
  b.writeUInt32LE(1, ph); // PT_LOAD
  b.writeUInt32LE(LOAD, ph + 8);
  b.writeUInt32LE(LOAD, ph + 12);
  b.writeUInt32LE(b.length, ph + 16);
  b.writeUInt32LE(b.length, ph + 20);
  b.writeUInt32LE(5, ph + 24); // R+X
  b.writeUInt32LE(0x1000, ph + 28);
  CODE.copy(b, ehsize + phsize);
  return b;
}

let answer: string | undefined | null = null;

/** Why this kernel cannot run ia32 tasks, or undefined when it can (asked once per process). */
export function ia32Unsupported(): string | undefined {
  if (answer !== null) return answer;
  const dir = mkdtempSync(path.join(tmpdir(), 'cryo-ia32-'));
  const exe = path.join(dir, 'probe');
  try {
    writeFileSync(exe, ia32ProbeElf(), { mode: 0o700 });
    chmodSync(exe, 0o700);
    let pid: number;
    try {
      pid = spawn({ path: exe, argv: [exe], env: [], keepFds: [] });
    } catch (e) {
      if (e instanceof SysError && e.code === 'ENOEXEC') {
        return (answer = 'this kernel does not run 32-bit x86 programs (execve of one says ENOEXEC: CONFIG_IA32_EMULATION is off or the kernel was booted with ia32_emulation=0)');
      }
      throw e;
    }
    const st = waitpid(pid, __WALL).status;
    const exited = (st & 0x7f) === 0;
    const code = (st >> 8) & 0xff;
    answer = exited && code === 42 ? undefined
      : `this kernel does not complete a 32-bit x86 system call (a probe program ${exited ? `exited ${code}` : `was killed by signal ${st & 0x7f}`}): IA32 emulation is off`;
    return answer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
