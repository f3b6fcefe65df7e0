// cryo check: what this kernel and CPU offer cryo, one line each; exit 1 when dump/restore cannot work.
import { UsageError, type Command } from '../command.js';
import { specs } from './specs.js';
import { check, exitStatus, formatReport } from '../../check/index.js';

export const checkCommand: Command = {
  ...specs.check,
  async run(args) {
    if (args.length > 0) throw new UsageError(`takes no arguments, got '${args[0]}'`);
    const results = await check();
    process.stdout.write(formatReport(results));
    return exitStatus(results);
  },
};
