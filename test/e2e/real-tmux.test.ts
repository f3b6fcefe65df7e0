// A real terminal multiplexer: Debian's tmux, its server holding the master of a pane's pty, the
// shell (/bin/sh, the pane's own session, the slave its controlling terminal) in the pane. A
// command is typed through tmux send-keys; the server and the shell are dumped (both vanish) and
// restored with their PIDs; capture-pane, a real client over the server's socket, shows what was
// on the screen; new keys reach the shell, which runs them with its terminal (tty names it, and
// job control works: no "Cannot set tty process group").

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { kill } from '../../src/sys/index.js';
import { restore } from '../../src/restore/index.js';
import { dump } from '../../src/dump/index.js';
import { findProgram, waitUntil, waitVanished } from '../helpers/real-program.js';
import { tmuxSession } from '../helpers/real-setups.js';
import { becomeSubreaper } from '../helpers/restore-env.js';
import { toolSkip } from '../helpers/required-tool.js';

const TMUX = findProgram('/usr/bin/tmux');
const skip = toolSkip('tmux', TMUX !== undefined, 'Debian package tmux');

let dir: string | undefined;
let server = 0;
let shell = 0;
after(() => {
  for (const p of [shell, server]) if (p) try { kill(p, 9); } catch { /* gone */ }
  if (server) waitVanished(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('tmux with a shell in a pane: the screen is still there after restore, and new keys reach the shell', { timeout: 120_000, skip }, async () => {
  becomeSubreaper();
  dir = mkdtempSync(path.join(tmpdir(), 'cryo-real-tmux-'));
  let tmux: (...args: string[]) => string;
  ({ tmux, server } = tmuxSession(TMUX!, dir));
  shell = Number(tmux('display', '-p', '#{pane_pid}').trim());
  // Keys go in once the shell shows its prompt ('#' for root: capture-pane drops the space), not
  // while a loaded machine is still starting it (CI once saw no answer in 20 s).
  await waitUntil('the shell\'s first prompt', 30_000, () => (/^[#$] ?$/m.test(tmux('capture-pane', '-p')) ? true : undefined));
  tmux('send-keys', 'echo before-$((6*7))', 'Enter');
  const screen = await waitUntil('the shell to answer', 30_000, () => {
    const s = tmux('capture-pane', '-p');
    return /^before-42$/m.test(s) ? s : undefined;
  });
  const stat = readFileSync(`/proc/${shell}/stat`, 'utf8');
  assert.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]), shell, 'the shell leads its own session');

  const images = path.join(dir, 'images');
  await dump({ pid: server, dir: images });
  assert.ok(waitVanished(server) && waitVanished(shell), 'the server and the shell are gone after the dump');
  const r = await restore({ dir: images, detach: true });
  assert.equal(r.pid, server);
  assert.equal(Number(tmux('display', '-p', '#{pane_pid}').trim()), shell, 'the pane has the same shell');

  // What was on the screen, read by a new client.
  assert.equal(tmux('capture-pane', '-p'), screen);
  // New keys: the shell runs them on its terminal, with job control.
  tmux('send-keys', 'echo after-$((7*6)); tty; true | cat', 'Enter');
  // Waits for tty's answer, whatever it is: the shell echoes after-42 before tty has run.
  const now = await waitUntil('the restored shell to answer', 30_000, () => {
    const s = tmux('capture-pane', '-p');
    return /^after-42\n(\/dev\/pts\/\d+|not a tty)$/m.test(s) ? s : undefined;
  });
  assert.match(now, /^\/dev\/pts\/\d+$/m);
  assert.doesNotMatch(now, /Cannot set tty process group|not a tty/);
  tmux('kill-server');
  assert.ok(waitVanished(server, 10_000), 'the restored server ends on kill-server');
  assert.ok(waitVanished(shell, 10_000), 'and its shell with it');
  server = 0;
  shell = 0;
});
