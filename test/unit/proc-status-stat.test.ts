import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AT, auxvValue, parseAuxv, parseStat, parseStatus, STAT_FIELD_NAMES } from '../../src/proc/index.js';
import { repoRoot } from '../helpers/paths.js';

const fixture = (name: string) => readFileSync(path.join(repoRoot, 'test/unit/fixtures/proc', name));

test('status: captured sample with a ") (" task name, masks and capabilities', () => {
  const s = parseStatus(fixture('status.txt').toString());
  assert.equal(s.name, 'pr) (x');
  assert.equal(s.umask, 0o027);
  assert.equal(s.state, 'S');
  assert.deepEqual([s.tgid, s.pid, s.ppid, s.tracerPid, s.threads], [4781, 4781, 1, 0, 1]);
  assert.deepEqual(s.uid, [0, 0, 0, 0]);
  assert.deepEqual(s.groups, []);
  assert.deepEqual([s.nsPid, s.nsPgid, s.nsSid], [[4781], [4740], [2464]]);
  assert.equal(s.sigPnd, 1n << 9n); // SIGUSR1
  assert.equal(s.shdPnd, 1n << 27n); // SIGWINCH
  assert.equal(s.sigBlk, 0x8000a00n);
  assert.equal(s.sigCgt, 1n << 14n); // SIGTERM
  assert.equal(s.capEff, 0x1fffeffffffn);
  assert.equal(s.capAmb, 0n);
  assert.deepEqual(s.sigQ, { queued: 3, limit: 96365 });
  assert.deepEqual([s.noNewPrivs, s.seccomp, s.seccompFilters], [false, 0, 0]);
  assert.equal(s.raw.Speculation_Store_Bypass, 'thread vulnerable');
});

test('status: escaped names, groups, nested pid namespaces, missing lines', () => {
  // The name a<newline>b\n<BEL><tab>\a<ESC><space> as the kernel writes it (seen by writing it to
  // /proc/PID/comm): only the newline and the backslashes escaped.
  const text = 'Name:\ta\\nb\\\\n\x07\t\\\\a\x1b \nUmask:\t0077\nState:\tt (tracing stop)\nTgid:\t5\nPid:\t6\nPPid:\t1\nTracerPid:\t9\n' +
    'Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t10 20 \nNStgid:\t5\t1\nNSpid:\t6\t2\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n';
  const s = parseStatus(text);
  assert.equal(s.name, 'a\nb\\n\x07\t\\a\x1b ');
  assert.deepEqual([s.state, s.uid, s.gid, s.groups, s.nsPid], ['t', [1, 2, 3, 4], [5, 6, 7, 8], [10, 20], [6, 2]]);
  assert.deepEqual([s.noNewPrivs, s.seccomp, s.seccompFilters, s.tracerPid], [true, 2, 3, 9]);
  assert.throws(() => parseStatus('Name:\tx\n'), /no State line/);
});

test('stat: every field, comm with ") (" in it', () => {
  const s = parseStat(fixture('stat.txt').toString());
  assert.equal(s.pid, 4781);
  assert.equal(s.comm, 'pr) (x');
  assert.deepEqual([s.state, s.ppid, s.pgrp, s.session, s.ttyNr, s.tpgid], ['S', 1, 4740, 2464, 0, -1]);
  assert.deepEqual([s.nice, s.numThreads, s.starttime, s.exitSignal, s.policy, s.rtPriority], [0, 1, 19254n, 17, 0, 0]);
  assert.equal(s.rsslim, 18446744073709551615n);
  assert.equal(s.startCode, 94500664119296n);
  assert.equal(s.startBrk, 94501347565568n);
  assert.equal(s.envEnd, 140730921005017n);
  assert.equal(s.exitCode, 0);
  assert.deepEqual(s.extra, []);
  assert.equal(STAT_FIELD_NAMES.length, 50);
});

test('stat: comm ending in ")" and a kernel with extra fields', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = 'R';
  const s = parseStat(`77 (a) (b)) ${fields.join(' ')} 999\n`);
  assert.equal(s.comm, 'a) (b)');
  assert.equal(s.state, 'R');
  assert.equal(s.ppid, 4);
  assert.equal(s.exitCode, 52);
  assert.deepEqual(s.extra, ['999']);
  assert.throws(() => parseStat('garbage'), /unexpected \/proc\/PID\/stat/);
});

test('auxv: captured sample, pairs until AT_NULL', () => {
  const a = parseAuxv(fixture('auxv.bin'), 8, true);
  assert.equal(auxvValue(a, AT.AT_PAGESZ!), 4096n);
  assert.equal(auxvValue(a, AT.AT_SYSINFO_EHDR!), 0x7f991f325000n); // the [vdso] VMA of maps.txt
  assert.equal(auxvValue(a, AT.AT_PHENT!), 56n);
  assert.ok(a.every((e) => AT[e.name] === e.type && e.type !== 0)); // all known, AT_NULL left out
  assert.equal(a.length, 22);
});

test('auxv: 32-bit words, unknown types, trailing bytes after AT_NULL', () => {
  const b = Buffer.alloc(32);
  [6, 4096, 99, 7, 0, 0, 5, 5].forEach((v, i) => b.writeUInt32LE(v, i * 4));
  assert.deepEqual(parseAuxv(b, 4, true), [
    { type: 6, name: 'AT_PAGESZ', value: 4096n },
    { type: 99, name: 'AT_99', value: 7n },
  ]);
});
