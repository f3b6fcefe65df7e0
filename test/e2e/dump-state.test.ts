// `dump()` of a real process (test/programs/dump-state.c): every image is there, 0600 in a 0700
// directory, crit 3.17 decodes each, and the values are the ones the program set up.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dump, readCryoFileStats } from '../../src/dump/index.js';
import { hostLsmType } from '../../src/dump/lsm.js';
import { decodeImageFile, PageReader, type MessageValue } from '../../src/images/index.js';
import { startTarget, type Target } from '../helpers/dump-target.js';

let t: Target;
let dir: string;
let regularMtime: bigint;
before(async () => {
  t = startTarget('dump-state');
  dir = path.join(t.dir, 'img');
  regularMtime = statSync(path.join(t.dir, 'regular'), { bigint: true }).mtimeNs;
  await dump({ pid: t.pid, dir });
});
after(() => t?.cleanup());

const img = (name: string) => decodeImageFile(path.join(dir, name));
const one = (name: string) => img(name).entries[0]!.value;
const hex = (s: string) => BigInt(s);
const PAGE = 4096;

test('the host\'s LSM is found as CRIU finds it: AppArmor in securityfs, else SELinux in selinuxfs, else none', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'cryo-lsm-'));
  try {
    assert.equal(hostLsmType(root), 'NO_LSM');
    mkdirSync(path.join(root, 'sys/fs/selinux'), { recursive: true });
    writeFileSync(path.join(root, 'sys/fs/selinux/enforce'), '1');
    assert.equal(hostLsmType(root), 'SELINUX');
    mkdirSync(path.join(root, 'sys/kernel/security/apparmor'), { recursive: true });
    assert.equal(hostLsmType(root), 'APPARMOR');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the task is gone after a plain dump', () => {
  assert.equal(existsSync(`/proc/${t.pid}/status`) && !readFileSync(`/proc/${t.pid}/status`, 'utf8').includes('State:\tZ'), false);
});

test('the image set is CRIU\'s, 0600 files in a 0700 directory, and crit 3.17 decodes each', () => {
  const files = readdirSync(dir).sort();
  for (const f of ['inventory.img', 'pstree.img', `core-${t.pid}.img`, `mm-${t.pid}.img`, `pagemap-${t.pid}.img`, 'pages-1.img',
    'files.img', 'fdinfo-2.img', `fs-${t.pid}.img`, `ids-${t.pid}.img`, 'seccomp.img', 'stats-dump',
    'pipes-data.img', 'fifo-data.img', 'remap-fpath.img', 'ghost-file-1.img', 'memfd.img', 'cryo-files.img', 'cryo-manifest.img']) {
    assert.ok(files.includes(f), `${f} is written`);
  }
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const f of files) {
    assert.equal(statSync(path.join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`);
    if (f.startsWith('pages-') || f.startsWith('cryo-')) continue; // raw pages, cryo's own images
    execFileSync('/usr/bin/crit', ['decode', '-i', path.join(dir, f)], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
});

test('inventory and stats say only what is true: this host\'s LSM, no clocks for a time namespace, the time pages took to write', () => {
  assert.equal(one('inventory.img').lsmtype, hostLsmType());
  // timens-0.img would make CRIU restore the clocks into a new time namespace; cryo's restore does not.
  assert.equal(existsSync(path.join(dir, 'timens-0.img')), false);
  const st = one('stats-dump').dump as MessageValue;
  assert.ok((st.memwrite_time as number) > 0 && (st.memdump_time as number) > 0, JSON.stringify(st, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
  assert.notEqual(st.memwrite_time, st.memdump_time, 'moving pages out of the task and writing them are two measurements');
});

test('core: signals, handlers, altstack, timers, limits, scheduling, credentials, seccomp', () => {
  const core = one(`core-${t.pid}.img`);
  const tc = core.tc as MessageValue;
  const th = core.thread_core as MessageValue;
  assert.equal(tc.comm, 'dump-state-x');
  assert.equal(th.comm, 'dump-state-x');
  const sigrt2 = 34 + 2; // the kernel's SIGRTMIN is 32; glibc keeps 2 for itself
  assert.equal(tc.blk_sigset, (1n << 11n) | (1n << BigInt(sigrt2 - 1)));
  // sigactions: signals 1..64 without SIGKILL and SIGSTOP; SIGUSR1 (10) is the 9th.
  const sas = tc.sigactions as MessageValue[];
  assert.equal(sas.length, 62);
  assert.equal(sas[8]!.sigaction, hex(t.ready.handler!));
  assert.equal((sas[8]!.mask as bigint) & (1n << 11n), 1n << 11n);
  assert.equal((sas[8]!.flags as bigint) & 0x08000004n, 0x08000004n); // SA_ONSTACK | SA_SIGINFO
  const queued = (q: MessageValue) => ((q.signals as MessageValue[] | undefined) ?? []).map((s) => (s.siginfo as Buffer).readInt32LE(0));
  assert.deepEqual(queued(tc.signals_s as MessageValue), [12]);
  assert.deepEqual(queued(th.signals_p as MessageValue), [sigrt2]);
  const pinfo = ((th.signals_p as MessageValue).signals as MessageValue[])[0]!.siginfo as Buffer;
  assert.equal(pinfo.readInt32LE(24), 4242, 'the queued value');
  assert.deepEqual(th.sas, { ss_sp: hex(t.ready.altstack!), ss_size: 65536n, ss_flags: 0 });
  const timers = tc.timers as MessageValue;
  assert.equal((timers.virt as MessageValue).isec, 500n);
  const posix = (timers.posix as MessageValue[])[0]!;
  assert.equal(posix.isec, 300n);
  assert.equal(posix.si_signo, 12);
  assert.equal(posix.sival_ptr, 0x1234n);
  assert.ok((posix.vsec as bigint) > 1900n && (posix.vsec as bigint) <= 2000n);
  const nofile = ((tc.rlimits as MessageValue).rlimits as MessageValue[])[7]!;
  assert.deepEqual(nofile, { cur: 512n, max: 4096n });
  assert.equal(th.sched_nice, 5);
  assert.equal(th.sched_policy, 0);
  assert.equal(th.pdeath_sig, 10);
  assert.equal((tc.personality as number) & 0x0040000, 0x0040000);
  assert.equal(th.seccomp_mode, 'filter');
  assert.equal(th.seccomp_filter, 0);
  assert.equal((th.creds as MessageValue).no_new_privs, 1);
  assert.ok(th.futex_rla !== 0n && th.futex_rla_len === 24, 'glibc registered a robust list');
  assert.ok(((core.thread_info as MessageValue).clear_tid_addr as bigint) !== 0n);
  const filters = one('seccomp.img').seccomp_filters as MessageValue[];
  assert.equal(filters.length, 1);
  assert.equal((filters[0]!.filter as Buffer).length, 8);
  assert.equal(one(`fs-${t.pid}.img`).umask, 0o027);
  const ps = one('pstree.img');
  assert.deepEqual([ps.pid, ps.ppid, ps.pgid, ps.sid, ps.threads], [t.pid, 0, t.pid, t.pid, [t.pid]]);
});

test('mm and pages: VMAs with their protections, the pattern, the untouched page, PROT_NONE data', () => {
  const mm = one(`mm-${t.pid}.img`);
  const vmas = mm.vmas as MessageValue[];
  const at = (a: string) => vmas.find((v) => (v.start as bigint) <= hex(a) && hex(a) < (v.end as bigint))!;
  const region = at(t.ready.region!);
  assert.deepEqual([region.prot, region.flags, region.status], [3, 0x22, (1 << 0) | (1 << 9)]);
  assert.ok((region.end as bigint) >= hex(t.ready.region!) + 256n * 4096n, 'the VMA holds the whole region (it may merge with a neighbour)');
  assert.equal(at(t.ready.hidden!).prot, 0);
  assert.equal((at(t.ready.dontfork!).madv as bigint) & (1n << 10n), 1n << 10n, 'MADV_DONTFORK');
  assert.ok(vmas.some((v) => ((v.status as number) & (1 << 3)) !== 0), 'a vdso VMA');
  assert.equal(vmas.filter((v) => ((v.status as number) & (1 << 12)) !== 0).length, 1, 'vvar areas as one VMA');
  const files = img('files.img').entries.map((e) => e.value);
  const exe = files.find((f) => f.id === mm.exe_file_id)!;
  assert.match((exe.reg as MessageValue).name as string, /dump-state$/);

  const r = new PageReader(path.join(dir, `pagemap-${t.pid}.img`));
  const pages = new Map<bigint, Buffer>();
  for (const run of r) for (const c of r.chunks(run)) for (let o = 0; o < c.data.length; o += PAGE) pages.set(c.vaddr + BigInt(o), Buffer.from(c.data.subarray(o, o + PAGE)));
  r.close();
  const base = hex(t.ready.region!);
  for (let p = 0; p < 256; p++) {
    const got = pages.get(base + BigInt(p * PAGE));
    if (p === 7) { assert.equal(got, undefined, 'page 7 was never touched'); continue; }
    assert.ok(got, `page ${p} is saved`);
    for (let i = 0; i < PAGE; i += 997) assert.equal(got[i], (p * 31 + i * 7 + 1) & 0xff);
  }
  assert.equal(pages.get(hex(t.ready.hidden!))?.[0], 0xa5, 'PROT_NONE pages are read through /proc/PID/mem');
});

test('files: the fd table, a shared file, position and flags, ghost, pipe and FIFO data, memfd, mtime', () => {
  const files = new Map(img('files.img').entries.map((e) => [e.value.id as number, e.value]));
  const fdinfo = img('fdinfo-2.img').entries.map((e) => e.value);
  const byFd = new Map(fdinfo.map((f) => [f.fd as number, f]));
  assert.deepEqual([...byFd.keys()].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(byFd.get(3)!.flags, 1, 'the output file is close-on-exec');
  assert.equal(byFd.get(4)!.id, byFd.get(11)!.id, 'fd 11 is a dup of fd 4');
  const reg = files.get(byFd.get(4)!.id as number)!.reg as MessageValue;
  assert.equal(reg.name, path.join(t.dir, 'regular'));
  assert.equal(reg.pos, 7n);
  assert.equal((reg.flags as number) & 3, 2);
  assert.equal(reg.size, 20n);
  const devnull = files.get(byFd.get(5)!.id as number)!.reg as MessageValue;
  assert.equal(devnull.name, '/dev/null');
  assert.equal((devnull.mode as number) & 0o170000, 0o020000);
  assert.deepEqual([byFd.get(7)!.type, byFd.get(8)!.type, byFd.get(9)!.type, byFd.get(10)!.type], ['PIPE', 'PIPE', 'FIFO', 'MEMFD']);

  const ghost = img('ghost-file-1.img').entries[0]!;
  assert.equal((ghost.extra as Buffer).toString(), 'the content of a file unlinked while open\n');
  assert.deepEqual(img('remap-fpath.img').entries[0]!.value, { orig_id: byFd.get(6)!.id, remap_id: 1, remap_type: 'GHOST' });
  const pipe = img('pipes-data.img').entries[0]!;
  assert.equal((pipe.extra as Buffer).toString(), 'pipe data that must survive the dump');
  assert.equal(pipe.value.pipe_id, (files.get(byFd.get(7)!.id as number)!.pipe as MessageValue).pipe_id);
  assert.equal((img('fifo-data.img').entries[0]!.extra as Buffer).toString(), 'fifo bytes');
  const memfd = one('memfd.img');
  assert.equal(memfd.name, 'dump-memfd');
  assert.equal(memfd.size, 13n);
  const shm = new PageReader(path.join(dir, `pagemap-shmem-${memfd.shmid}.img`));
  const run = [...shm][0]!;
  assert.equal(shm.read(run.offset, 13).toString(), 'memfd content');
  shm.close();
  const stat = readCryoFileStats(dir).get(byFd.get(4)!.id as number)!;
  assert.equal(stat.mtimeSec * 1_000_000_000n + BigInt(stat.mtimeNsec), regularMtime);
  assert.equal(stat.size, 20n);
});
