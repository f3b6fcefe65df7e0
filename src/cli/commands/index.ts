// The command table: a new subcommand is one import and one line here.

import type { Command } from '../command.js';
import { checkCommand } from './check.js';
import { demoCommand } from './demo.js';
import { dumpCommand } from './dump.js';
import { exploreCommand } from './explore.js';
import { decodeCommand, encodeCommand, infoCommand, showCommand } from './images.js';
import { restoreCommand } from './restore.js';

export const commands: readonly Command[] = [
  decodeCommand,
  encodeCommand,
  showCommand,
  infoCommand,
  exploreCommand,
  checkCommand,
  dumpCommand,
  restoreCommand,
  demoCommand,
];
