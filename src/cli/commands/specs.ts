// Name, one-line summary and synopsis of every subcommand: all `cryo --help` needs, so that
// listing the commands loads none of them (each command module pulls in a large part of cryo).

export interface CommandSpec {
  readonly name: string;
  /** One line for `cryo --help`. */
  readonly summary: string;
  /** The argument synopsis, e.g. '-i FILE [--pretty] [-o OUT]'. */
  readonly usage: string;
}

const spec = (name: string, summary: string, usage: string): CommandSpec => ({ name, summary, usage });

export const specs = {
  decode: spec('decode', 'convert a CRIU image from binary to JSON (crit decode)', '[-i FILE] [-o OUT] [--pretty]'),
  encode: spec('encode', 'convert a CRIU image from JSON to binary (crit encode)', '[-i JSON] [-o FILE]'),
  show: spec('show', 'print a CRIU image as pretty JSON (crit show)', 'FILE [--nopl]'),
  info: spec('info', 'show the magic and entry count of a CRIU image (crit info)', 'FILE'),
  explore: spec('x', 'explore an image directory: ps, fds, mems or rss (crit x)', 'DIR ps|fds|mems|rss'),
  check: spec('check', 'check that this kernel, CPU and user can dump and restore (like criu check)', ''),
  checkImages: spec('check-images', 'check a dump directory (and the dumps it builds on) against its manifest of hashes (BLAKE3, or SHA-256 in an older manifest); one line per altered, missing or extra image', 'DIR'),
  dump: spec('dump', 'checkpoint a running process into CRIU images', '-t PID -D DIR|--stream [--leave-running] [--shell-job] [--tcp-established] [--tcp-close] [--network-lock iptables|skip] [--ext-unix-sk] [--external pipe:[INODE]...] [--ghost-limit SIZE] [--cgroup-root [CTRL:]/PATH...] [--prev-images-dir PARENT [--track-mem]] [--page-server --address A --port N] [-v...] [-o LOG]'),
  preDump: spec('pre-dump', 'write a running process\'s memory and track what it writes, for a smaller dump later (--prev-images-dir)', '-t PID -D DIR [--prev-images-dir PARENT] [--track-mem] [--page-server --address A --port N] [-v...] [-o LOG]'),
  restore: spec('restore', 'restore a process from a dump directory (CRIU image format)', '-D DIR|--stream [-d|--restore-detached] [--shell-job] [--tcp-established] [--tcp-close] [--network-lock iptables|skip] [--ext-unix-sk] [--inherit-fd fd[N]:pipe:[INODE]...] [--allow-setid-files] [--manage-cgroups[=MODE]] [--cgroup-root [CTRL:]/PATH...] [--pidfile FILE] [--lazy-pages]'),
  pageServer: spec('page-server', 'receive the pages of a dump sent with --page-server (CRIU\'s page-server protocol) into DIR; with --lazy-pages, serve DIR\'s pages to `lazy-pages --page-server`', '-D DIR --port N [--address A] [--prev-images-dir PARENT | --lazy-pages]'),
  lazyPages: spec('lazy-pages', 'serve the lazy pages of a dump to `restore --lazy-pages` (start it first), from DIR or from a page server', '-D DIR [--page-server --address A --port N]'),
  migrate: spec('migrate', 'move a running process to another network namespace of this machine: pre-dumps to a page server there until they stop shrinking, the final dump, the restore there', '-t PID -D DIR --dest-dir DIR2 --address A --port N [--src-netns FILE] [--dest-netns FILE] [--max-pre-dumps K] [--tcp-established] [--lazy-pages] [--action-script SCRIPT]'),
  service: spec('service', 'run a resident cryo that the `cryo` client sends its commands to, so that a command pays no Node start (as `criu service`)', '[--address SOCK]'),
  demo: spec('demo', 'checkpoint and restore a small example program, step by step', '[--keep]'),
} as const satisfies Record<string, CommandSpec>;
