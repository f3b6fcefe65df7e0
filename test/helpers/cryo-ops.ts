// The dump and the restore of the round-trip tests: the library calls, or with CRYO_TEST_CLI=1 (the
// guest runner sets it) the real command line, dist/cryo-cli.cjs, the package's bin (it runs the bundle),
// so that the same tests prove `cryo dump` and `cryo restore` themselves.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, type DumpOptions } from '../../src/dump/index.js';
import { restore, type RestoreOptions } from '../../src/restore/index.js';
import { __WALL, waitpid } from '../../src/sys/index.js';
import { withoutNodeNoise } from './node-noise.js';
import type { CgroupRoots } from '../../src/shared/cgroup-root.js';

export const viaCli = process.env.CRYO_TEST_CLI === '1';
/** dist/cryo-cli.cjs, from dist/test/helpers. */
const cliBundle = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'cryo-cli.cjs');

/** Runs `cryo ARGS`; throws its error line (what the library call would have thrown) when it fails. */
function cryoCli(args: string[]): void {
  const r = spawnSync(process.execPath, [cliBundle, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // Warnings (a dump without a manifest, say) are lines of their own, not part of the error.
  const error = withoutNodeNoise(r.stderr).replace(/^cryo: warning: .*\n/gm, '');
  if (r.status !== 0) throw new Error(`cryo ${args[0]}: ${(error || r.stdout || `exit ${r.status ?? r.signal}`).trim()}`);
}

/** --cgroup-root options as the command line spells `roots`. */
const cgroupRootArgs = (roots: CgroupRoots | undefined): string[] => [
  ...[...roots?.byController ?? []].flatMap(([c, r]) => ['--cgroup-root', `${c}:${r}`]),
  ...(roots?.all === undefined ? [] : ['--cgroup-root', roots.all]),
];

/** Dumps as dump() does; through the CLI the dumped child is reaped here (dump() reaps it itself). */
export async function dumpTask(opts: Omit<DumpOptions, 'onEvent' | 'signal'>): Promise<void> {
  if (!viaCli) { await dump(opts); return; }
  const args = [opts.preDump ? 'pre-dump' : 'dump', '-t', String(opts.pid), '-D', opts.dir];
  if (opts.prevImagesDir !== undefined) args.push('--prev-images-dir', opts.prevImagesDir);
  if (opts.trackMem) args.push('--track-mem');
  if (opts.leaveRunning) args.push('--leave-running');
  if (opts.shellJob) args.push('--shell-job');
  if (opts.tcpEstablished) args.push('--tcp-established');
  if (opts.extUnixSk) args.push('--ext-unix-sk');
  for (const e of opts.external ?? []) args.push('--external', e);
  if (opts.ghostLimit !== undefined) args.push('--ghost-limit', String(opts.ghostLimit));
  if (opts.pageServer) args.push('--page-server', '--address', opts.pageServer.address, '--port', String(opts.pageServer.port));
  args.push(...cgroupRootArgs(opts.cgroupRoots));
  cryoCli(args);
  if (!opts.leaveRunning && !opts.preDump) try { waitpid(opts.pid, __WALL); } catch { /* not our child */ }
}

/** Restores detached; returns the restored root's PID. */
export async function restoreTask(opts: Omit<RestoreOptions, 'detach' | 'onEvent' | 'signal'>): Promise<{ pid: number }> {
  if (!viaCli) return restore({ ...opts, detach: true });
  const pidfile = `${opts.dir}.pid`;
  const args = ['restore', '-D', opts.dir, '-d', '--pidfile', pidfile];
  if (opts.shellJob) args.push('--shell-job');
  if (opts.allowSetidFiles) args.push('--allow-setid-files');
  if (opts.tcpEstablished) args.push('--tcp-established');
  for (const f of opts.inheritFd ?? []) args.push('--inherit-fd', `fd[${f.fd}]:${f.key}`);
  if (opts.lazyPages) args.push('--lazy-pages');
  if (opts.manageCgroups) args.push('--manage-cgroups', opts.manageCgroups);
  args.push(...cgroupRootArgs(opts.cgroupRoots));
  cryoCli(args);
  return { pid: Number(readFileSync(pidfile, 'utf8').trim()) };
}
