// cryo lazy-pages -D DIR [--page-server --address A --port N]: serves the lazy pages of the dump in DIR
// (or, with --page-server, from `page-server --lazy-pages` at A:N) to `cryo restore -D DIR --lazy-pages`
// (started after it), then exits when every restored task has all its memory.
import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../command.js';
import { specs } from './specs.js';
import { hostArch } from '../../arch/index.js';
import { serveLazyPages } from '../../lazy-pages/serve.js';

export const lazyPagesCommand: Command = {
  ...specs.lazyPages,
  async run(args) {
    let values;
    try {
      values = parseArgs({ args, options: {
        'images-dir': { type: 'string', short: 'D' }, 'page-server': { type: 'boolean' }, address: { type: 'string' }, port: { type: 'string' },
        verbose: { type: 'boolean', short: 'v', multiple: true },
      }, strict: true }).values;
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!);
    }
    const dir = values['images-dir'];
    if (dir === undefined) throw new UsageError('-D DIR is required');
    let pageServer: { address: string; port: number } | undefined;
    if (values['page-server']) {
      if (values.port === undefined || !/^\d+$/.test(values.port) || Number(values.port) < 1 || Number(values.port) > 65535) throw new UsageError('--page-server needs --port N (1-65535) and, unless it runs here, --address A');
      pageServer = { address: values.address ?? '127.0.0.1', port: Number(values.port) };
    } else if (values.address !== undefined || values.port !== undefined) {
      throw new UsageError('--address and --port are for --page-server');
    }
    const log = (s: string) => process.stderr.write(`cryo lazy-pages: ${s}\n`);
    try {
      const stats = await serveLazyPages(dir, (await hostArch()).pageSize, () => process.stdout.write('cryo lazy-pages: listening\n'), log, pageServer);
      for (const s of stats) process.stdout.write(`cryo lazy-pages: task ${s.pid}: ${s.pages} pages in ${s.ms} ms (${s.faults} faults served)\n`);
      return 0;
    } catch (e) {
      log((e as Error).message);
      return 1;
    }
  },
};
