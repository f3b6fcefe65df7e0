// cryo page-server -D DIR --port N [--address A] [--prev-images-dir PARENT]: receives one dump's
// pages (cryo's or CRIU's `dump --page-server`) into DIR and exits 0 when the dump closed the session cleanly.
// With --lazy-pages it serves the pages of the dump in DIR to one lazy restore (`lazy-pages --page-server`) instead.
import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../command.js';
import { specs } from './specs.js';
import { hostArch } from '../../arch/index.js';
import { PageServerError, runPageServer } from '../../page-server/server.js';

export const pageServerCommand: Command = {
  ...specs.pageServer,
  async run(args) {
    let values;
    try {
      values = parseArgs({
        args,
        options: {
          'images-dir': { type: 'string', short: 'D' },
          address: { type: 'string' },
          port: { type: 'string' },
          'prev-images-dir': { type: 'string' },
          'lazy-pages': { type: 'boolean' },
          verbose: { type: 'boolean', short: 'v', multiple: true },
        },
        strict: true,
      }).values;
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!);
    }
    if (values['images-dir'] === undefined) throw new UsageError('-D DIR is required');
    // Port 0: the kernel picks one, printed on stdout (tests).
    if (values.port === undefined || !/^\d+$/.test(values.port) || Number(values.port) > 65535) throw new UsageError('--port N (0-65535) is required');
    if (values['lazy-pages'] && values['prev-images-dir'] !== undefined) throw new UsageError('--lazy-pages serves the dump in DIR; --prev-images-dir is for receiving one');
    const verbose = (values.verbose?.length ?? 0) > 0;
    try {
      const stats = await runPageServer({
        dir: values['images-dir'], address: values.address, port: Number(values.port), prevImagesDir: values['prev-images-dir'], lazyPages: values['lazy-pages'] ?? false,
        pageSize: (await hostArch()).pageSize,
        onListening: (port) => process.stdout.write(`cryo page-server: listening on port ${port}\n`),
      });
      if (values['lazy-pages']) process.stdout.write(`cryo page-server: served ${stats.pages} pages\n`);
      else if (verbose) process.stderr.write(`cryo page-server: received ${stats.images} pagemaps, ${stats.pages} pages\n`);
      return 0;
    } catch (e) {
      if (e instanceof PageServerError || (e as NodeJS.ErrnoException).code !== undefined) {
        process.stderr.write(`cryo page-server: ${(e as Error).message}\n`);
        return 1;
      }
      throw e;
    }
  },
};
