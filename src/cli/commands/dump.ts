// cryo dump|pre-dump -t PID -D DIR|--stream [--prev-images-dir PARENT] [--track-mem] [--page-server --address A --port N] [--leave-running] [--shell-job] [--tcp-established] [--tcp-close] [--network-lock iptables|skip] [--ext-unix-sk] [--external pipe:[INODE]...] [--ghost-limit SIZE] [--cgroup-root [CTRL:]/PATH...] [-v...] [-o LOG]: a thin layer over dump().
// Every terminating signal cryo can catch (SIGINT, SIGTERM, SIGHUP, SIGQUIT, ...: ../signals.ts) aborts
// the dump: the task is put back as it was and cryo exits 1 with one line.

import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Command, treePid, UsageError } from '../command.js';
import { specs } from './specs.js';
import { networkLockOf } from './network-lock-option.js';
import { cgroupOptionSpecs, cgroupRootsOf, manageCgroupsOf, withManageCgroupsDefault } from './cgroup-options.js';
import { dump, DumpError, type DumpEvent } from '../../dump/index.js';
import { parseSize } from '../../shared/size.js';
import { showProgress } from '../progress.js';
import { catchTerminatingSignals } from '../signals.js';
import { checkStreamOptions, openSpool, sendStream } from './stream-io.js';

export const dumpCommand: Command = { ...specs.dump, run: (args) => runDump(args, false) };
/** pre-dump: the same options; the task runs on and its writes are tracked for the next dump of the chain. */
export const preDumpCommand: Command = { ...specs.preDump, run: (args) => runDump(args, true) };

async function runDump(args: string[], preDump: boolean): Promise<number> {
  {
    let values;
    try {
      values = parseArgs({
        args: withManageCgroupsDefault(args),
        options: {
          tree: { type: 'string', short: 't' },
          'images-dir': { type: 'string', short: 'D' },
          'leave-running': { type: 'boolean', short: 'R' },
          'shell-job': { type: 'boolean', short: 'j' },
          'tcp-established': { type: 'boolean' },
          'tcp-close': { type: 'boolean' },
          'network-lock': { type: 'string' },
          'ext-unix-sk': { type: 'boolean', short: 'x' },
          external: { type: 'string', multiple: true },
          'ghost-limit': { type: 'string' },
          verbose: { type: 'boolean', short: 'v', multiple: true },
          log: { type: 'string', short: 'o' },
          'prev-images-dir': { type: 'string' },
          'track-mem': { type: 'boolean' },
          'page-server': { type: 'boolean' },
          address: { type: 'string' },
          port: { type: 'string' },
          stream: { type: 'boolean' },
          ...cgroupOptionSpecs,
        },
        strict: true,
      }).values;
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!);
    }
    treePid(values.tree);
    const stream = values.stream ?? false;
    if (stream) checkStreamOptions(values, preDump);
    else if (values['images-dir'] === undefined) throw new UsageError('-D DIR is required (or --stream, to write the images to standard output)');
    for (const x of values.external ?? []) {
      if (!/^pipe:\[\d+\]$/.test(x)) throw new UsageError(`--external ${x}: cryo knows external pipes only (pipe:[INODE])`);
    }
    const ghostLimit = values['ghost-limit'] === undefined ? undefined : parseSize(values['ghost-limit']);
    if (values['ghost-limit'] !== undefined && ghostLimit === undefined) {
      throw new UsageError(`--ghost-limit ${values['ghost-limit']}: give a size in bytes, or with K, M or G (e.g. 4M)`);
    }
    let pageServer: { address: string; port: number } | undefined;
    if (values['page-server']) {
      if (values.port === undefined || !/^\d+$/.test(values.port) || Number(values.port) < 1 || Number(values.port) > 65535) throw new UsageError('--page-server needs --port N (1-65535) and, unless it runs here, --address A');
      pageServer = { address: values.address ?? '127.0.0.1', port: Number(values.port) };
    } else if (values.address !== undefined || values.port !== undefined) {
      throw new UsageError('--address and --port are for --page-server');
    }
    // Dump records the cgroups whatever the mode (as CRIU's): the mode is restore's choice.
    manageCgroupsOf(values['manage-cgroups']);
    const verbosity = values.verbose?.length ?? 0;
    const log = (line: string) => {
      if (values.log) appendFileSync(values.log, line + '\n', { mode: 0o600 });
      else process.stderr.write(line + '\n');
    };
    const onEvent = (e: DumpEvent) => {
      if (e.type === 'warning') log(`cryo: warning: ${e.message}`);
      else if (e.type === 'stage' && verbosity >= 1) log(`cryo: ${e.stage}`);
      else if (e.type === 'note' && verbosity >= 1) log(`cryo: ${e.message}`);
      else if (e.type === 'image' && verbosity >= 2) log(`cryo: wrote ${e.file}`);
    };
    const spool = stream ? openSpool() : undefined;
    const dir = spool?.dir ?? values['images-dir']!;
    const ac = new AbortController();
    const endSignals = catchTerminatingSignals(() => ac.abort());
    const endProgress = values.log ? () => {} : showProgress();
    try {
      await dump({
        pid: Number(values.tree), dir, leaveRunning: values['leave-running'] ?? false,
        shellJob: values['shell-job'] ?? false, tcpEstablished: values['tcp-established'] ?? false, tcpClose: values['tcp-close'] ?? false, networkLock: networkLockOf(values['network-lock']), extUnixSk: values['ext-unix-sk'] ?? false,
        external: values.external ?? [], ghostLimit, cgroupRoots: cgroupRootsOf(values['cgroup-root']), signal: ac.signal, onEvent,
        preDump, prevImagesDir: values['prev-images-dir'], trackMem: values['track-mem'] ?? false,
        pageServer,
        deliver: stream ? (d) => sendStream(d) : undefined,
      });
    } catch (e) {
      if (e instanceof DumpError) {
        process.stderr.write(`cryo: ${e.message}\n`);
        return 1;
      }
      throw e;
    } finally {
      endProgress();
      endSignals();
      spool?.remove();
    }
    return 0;
  }
}
