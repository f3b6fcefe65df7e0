// cryo restore -D DIR|--stream [-d|--restore-detached] [--shell-job] [--tcp-established] [--tcp-close] [--network-lock iptables|skip] [--ext-unix-sk] [--inherit-fd fd[N]:pipe:[INODE]...] [--allow-setid-files] [--manage-cgroups[=MODE]] [--cgroup-root [CTRL:]/PATH...] [--pidfile FILE] [--lazy-pages]
// A thin layer over restore(): without -d it waits for the restored task and
// exits with its status (128+signal when it was killed), as a shell would. Until the task runs,
// every terminating signal cryo can catch (../signals.ts) aborts the restore: nothing is left behind.

import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../command.js';
import { specs } from './specs.js';
import { networkLockOf } from './network-lock-option.js';
import { cgroupOptionSpecs, cgroupRootsOf, manageCgroupsOf, withManageCgroupsDefault } from './cgroup-options.js';
import { restore, RestoreError } from '../../restore/index.js';
import { showProgress } from '../progress.js';
import { catchTerminatingSignals } from '../signals.js';
import { receiveStream, type Spool } from './stream-io.js';
import { ImageStreamError } from '../../images/image-stream.js';

export const restoreCommand: Command = {
  ...specs.restore,
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args: withManageCgroupsDefault(args),
        strict: true,
        options: {
          'images-dir': { type: 'string', short: 'D' },
          'restore-detached': { type: 'boolean', short: 'd' },
          'shell-job': { type: 'boolean' },
          'tcp-established': { type: 'boolean' },
          'tcp-close': { type: 'boolean' },
          'network-lock': { type: 'string' },
          // Accepted as CRIU accepts it at restore: the dump's choice decided, restore reconnects such a socket by name.
          'ext-unix-sk': { type: 'boolean', short: 'x' },
          'inherit-fd': { type: 'string', multiple: true },
          'allow-setid-files': { type: 'boolean' },
          ...cgroupOptionSpecs,
          pidfile: { type: 'string' },
          'lazy-pages': { type: 'boolean' },
          verbose: { type: 'boolean', short: 'v' },
          stream: { type: 'boolean' },
        },
      }));
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]);
    }
    const stream = values.stream ?? false;
    if (stream && values['images-dir'] !== undefined) throw new UsageError('--stream reads the whole dump from standard input: leave out -D');
    if (stream && values['lazy-pages']) throw new UsageError('--lazy-pages needs the dump in -D DIR, where lazy-pages reads it: it cannot come from --stream');
    if (!stream && !values['images-dir']) throw new UsageError('-D DIR is required (or --stream, to read the images from standard input)');
    // fd[N]:KEY, as CRIU spells it: the caller's descriptor N stands for the dumped file KEY.
    const inheritFd = (values['inherit-fd'] ?? []).map((a) => {
      const m = /^fd\[(\d+)\]:(.+)$/.exec(a);
      if (!m) throw new UsageError(`--inherit-fd ${a}: expected fd[N]:pipe:[INODE]`);
      return { fd: Number(m[1]), key: m[2]! };
    });
    const manageCgroups = manageCgroupsOf(values['manage-cgroups']);
    const cgroupRoots = cgroupRootsOf(values['cgroup-root']);
    let dir = values['images-dir'];
    let spool: Spool | undefined;
    if (stream) {
      try {
        spool = await receiveStream();
        dir = spool.dir;
      } catch (e) {
        if (!(e instanceof ImageStreamError)) throw e;
        process.stderr.write(`cryo: restore: ${e.message}\n`);
        return 1;
      }
    }
    const endProgress = showProgress();
    const ac = new AbortController();
    const endSignals = catchTerminatingSignals(() => ac.abort());
    // The stream's spool goes once the task runs (or the restore failed): it needs it no longer.
    const endSpool = () => spool?.remove();
    try {
      const r = await restore({
        signal: ac.signal,
        dir: dir!,
        detach: values['restore-detached'] ?? false,
        shellJob: values['shell-job'] ?? false,
        allowSetidFiles: values['allow-setid-files'] ?? false,
        tcpEstablished: values['tcp-established'] ?? false,
        tcpClose: values['tcp-close'] ?? false,
        networkLock: networkLockOf(values['network-lock']),
        inheritFd,
        manageCgroups,
        cgroupRoots,
        pidfile: values.pidfile,
        lazyPages: values['lazy-pages'] ?? false,
        onEvent: (e) => {
          if (e.type === 'warning') process.stderr.write(`cryo: warning: ${e.message}\n`);
          else if (values.verbose) process.stderr.write(`cryo: ${e.phase} (pid ${e.pid})\n`);
        },
      });
      endProgress();
      endSignals();
      endSpool();
      if (!r.wait) return 0;
      const st = await r.wait();
      return st.code ?? 128 + (st.signal ?? 0);
    } catch (e) {
      endProgress();
      endSignals();
      endSpool();
      if (!(e instanceof RestoreError)) throw e;
      if (process.env.CRYO_DEBUG === '1') console.error(e);
      // The spool is gone: name the stream's images alone.
      process.stderr.write(`cryo: restore: ${stream ? e.message.replaceAll(`${dir}/`, '') : e.message}\n`);
      return 1;
    }
  },
};
