// Setups shared by a real program's own test and the fault sweeps over it (real-targets.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { __WALL, spawn, waitpid } from '../../src/sys/index.js';

/**
 * An nginx prefix directory serving `token` as index.html on 127.0.0.1:`port`, a master and two
 * workers. The workers run as nobody: every file is readable by everyone.
 */
export function nginxPrefix(port: number): { conf: string; token: string } {
  const conf = mkdtempSync(path.join(tmpdir(), 'cryo-real-nginx-conf-'));
  chmodSync(conf, 0o755);
  const www = path.join(conf, 'www');
  mkdirSync(www, { mode: 0o755 });
  mkdirSync(path.join(conf, 'tmp'), { mode: 0o755 });
  const token = `served by nginx ${process.pid}-${Date.now()}\n`;
  writeFileSync(path.join(www, 'index.html'), token, { mode: 0o644 });
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${conf}/tmp;`).join(' ');
  writeFileSync(path.join(conf, 'nginx.conf'), `daemon off; master_process on; worker_processes 2;
pid ${conf}/nginx.pid; error_log ${conf}/error.log info;
events { worker_connections 64; }
http { access_log off; ${temp} server { listen 127.0.0.1:${port}; root ${www}; } }
`);
  return { conf, token };
}

/**
 * A tmux server (binary `tmuxPath`) with one detached 80x24 session running /bin/sh, its socket in
 * `dir`; `tmux(args)` runs a client command. The client that starts the server is spawned by cryo's
 * spawn (no descriptor of the test runner inherited); the server, a daemon, comes to the caller's
 * subreaper.
 */
export function tmuxSession(tmuxPath: string, dir: string): { tmux: (...args: string[]) => string; server: number } {
  const sock = path.join(dir, 'sock');
  const conf = path.join(dir, 'tmux.conf');
  writeFileSync(conf, 'set -g default-shell /bin/sh\nset -g status off\n');
  const env = { PATH: '/usr/bin:/bin', HOME: dir, TERM: 'xterm', LANG: 'C.UTF-8', SHELL: '/bin/sh' };
  const tmux = (...args: string[]) => {
    const r = spawnSync(tmuxPath, ['-S', sock, ...args], { encoding: 'utf8', env, timeout: 20_000 });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${(r.stderr || `exit ${r.status}`).trim()}`);
    return r.stdout;
  };
  waitpid(spawn({ path: tmuxPath, argv: ['tmux', '-S', sock, '-f', conf, 'new-session', '-d', '-x', '80', '-y', '24'], env, keepFds: [], cwd: dir }), __WALL);
  return { tmux, server: Number(tmux('display', '-p', '#{pid}').trim()) };
}
