// Rootless use (issue 15): a user other than root dumps that user's own process (without
// CAP_CHECKPOINT_RESTORE cryo cannot read /proc/PID/map_files and reaches mapped files by their
// paths), and restores it when cryo has CAP_CHECKPOINT_RESTORE; without it restore refuses before
// anything starts, saying what to grant. The user is nobody (65534), cryo runs as that user through
// setpriv, the capability given as an ambient one (as `setcap cap_checkpoint_restore+ep` on the
// node binary would). The program is rt-mem: private and shared file mappings, a file written
// through one, its whole address space checked after restore.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { SETPRIV, asUserArgs, startTarget, waitAsleep } from '../helpers/dump-target.js';
import { cryoCli } from '../helpers/cryo-cli.js';
import { toolSkip } from '../helpers/required-tool.js';
import { __WALL, kill, sleepSync, waitpid } from '../../src/sys/index.js';

const NOBODY = 65534;
const skip = process.geteuid?.() !== 0 ? 'needs root to run cryo as another user' : toolSkip('setpriv', existsSync(SETPRIV), 'apt-get install util-linux');

/** `cryo ARGS` as nobody, with `caps` as its ambient capabilities. */
function cryoAsNobody(args: string[], caps: string[] = []) {
  const capArgs = caps.length === 0 ? [] : [`--inh-caps=${caps.map((c) => `+${c}`).join(',')}`, `--ambient-caps=${caps.map((c) => `+${c}`).join(',')}`];
  return spawnSync(SETPRIV, [...asUserArgs(NOBODY), ...capArgs, process.execPath, cryoCli, ...args], { encoding: 'utf8', cwd: '/' });
}

/** Waits (up to 60 s) until the program wrote a verdict after its READY line; returns it. */
function verdict(outFile: string, output: () => string): string {
  for (let i = 0; i < 3000; i++) {
    const text = output().split('\n').slice(1).join('\n').trim();
    if (/PASS|FAIL/.test(text)) return text;
    sleepSync(20);
  }
  return `no verdict in ${outFile}`;
}

test('a user other than root dumps its own process, and restores it with CAP_CHECKPOINT_RESTORE only', { skip }, () => {
  const t = startTarget('rt-mem', [], { asUser: NOBODY });
  try {
    const dir = path.join(t.dir, 'img');
    const d = cryoAsNobody(['dump', '-t', String(t.pid), '-D', dir]);
    assert.equal(d.status, 0, `dump as nobody: ${d.stderr}`);
    assert.equal(statSync(path.join(dir, 'inventory.img')).uid, NOBODY, 'the images are the user\'s');
    waitpid(t.pid, __WALL); // the dump killed it: ours to collect


    const refused = cryoAsNobody(['restore', '-D', dir, '-d']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`^cryo: restore: giving process ${t.pid} its PID back \\(clone3 with set_tid\\) takes CAP_CHECKPOINT_RESTORE, which cryo lacks: .*setcap cap_checkpoint_restore\\+ep`));
    assert.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
    assert.equal(existsSync(`/proc/${t.pid}`), false, 'nothing was started');

    truncateSync(t.outFile, Buffer.byteLength(t.output().split('\n')[0]!) + 1);
    const r = cryoAsNobody(['restore', '-D', dir, '-d'], ['checkpoint_restore']);
    assert.equal(r.status, 0, `restore as nobody with CAP_CHECKPOINT_RESTORE: ${r.stderr}`);
    const status = spawnSync('cat', [`/proc/${t.pid}/status`], { encoding: 'utf8' }).stdout;
    assert.match(status, new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'), 'it runs as nobody');
    assert.match(status, /^CapEff:\s+0+$/m, 'without the capability cryo had');
    waitAsleep(t.pid);
    kill(t.pid, 15);
    assert.equal(verdict(t.outFile, t.output), 'PASS', 'its address space, mappings and files are back');
  } finally {
    try { kill(t.pid, 9); } catch { /* ended */ }
    t.cleanup();
  }
});

test('without CAP_SYS_ADMIN a process under seccomp is refused at dump in one line, and runs on unharmed', { skip }, () => {
  // Its strict-mode child would be killed by cryo's first call in it; filters could fail them.
  const t = startTarget('rt-seccomp-threads', ['strict'], { asUser: NOBODY });
  try {
    const d = cryoAsNobody(['dump', '-t', String(t.pid), '-D', path.join(t.dir, 'img')]);
    assert.equal(d.status, 1);
    assert.equal(d.stderr, `cryo: task ${t.ready.child} runs under seccomp (strict mode): cryo's calls in it need CAP_SYS_ADMIN (PTRACE_O_SUSPEND_SECCOMP), which it lacks: dump it as root\n`);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
