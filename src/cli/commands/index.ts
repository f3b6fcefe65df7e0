// The command table: a new subcommand is one entry in specs.ts and one line here. Each command's
// module is imported only when that command runs, so `cryo --help` and a dump load no more of
// cryo than they use.

import type { Command } from '../command.js';
import { type CommandSpec, specs } from './specs.js';

function lazy(spec: CommandSpec, load: () => Promise<Command>): Command {
  return { ...spec, run: async (args) => (await load()).run(args) };
}

export const commands: readonly Command[] = [
  lazy(specs.decode, async () => (await import('./images.js')).decodeCommand),
  lazy(specs.encode, async () => (await import('./images.js')).encodeCommand),
  lazy(specs.show, async () => (await import('./images.js')).showCommand),
  lazy(specs.info, async () => (await import('./images.js')).infoCommand),
  lazy(specs.explore, async () => (await import('./explore.js')).exploreCommand),
  lazy(specs.check, async () => (await import('./check.js')).checkCommand),
  lazy(specs.checkImages, async () => (await import('./check-images.js')).checkImagesCommand),
  lazy(specs.dump, async () => (await import('./dump.js')).dumpCommand),
  lazy(specs.preDump, async () => (await import('./dump.js')).preDumpCommand),
  lazy(specs.restore, async () => (await import('./restore.js')).restoreCommand),
  lazy(specs.pageServer, async () => (await import('./page-server.js')).pageServerCommand),
  lazy(specs.lazyPages, async () => (await import('./lazy-pages.js')).lazyPagesCommand),
  lazy(specs.migrate, async () => (await import('./migrate.js')).migrateCommand),
  lazy(specs.service, async () => (await import('../service/index.js')).serviceCommand),
  lazy(specs.demo, async () => (await import('./demo.js')).demoCommand),
];
