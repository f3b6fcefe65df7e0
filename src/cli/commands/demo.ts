// cryo demo: checkpoint and restore the built-in example program, explained step by step.
import { parseArgs } from 'node:util';
import { UsageError, type Command } from '../command.js';
import { specs } from './specs.js';
import { DemoError } from '../../demo/errors.js';

export const demoCommand: Command = {
  ...specs.demo,
  async run(args) {
    let keep: boolean;
    try {
      keep = parseArgs({ args, options: { keep: { type: 'boolean' } }, strict: true }).values.keep ?? false;
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!);
    }
    try {
      // Loaded on use: the dump and restore engines are only needed here.
      const { runDemo } = await import('../../demo/index.js');
      return await runDemo({ keep });
    } catch (e) {
      // Every failure is one line; the demo has already killed what it started.
      if (process.env.CRYO_DEBUG === '1') console.error(e);
      const line = e instanceof DemoError ? e.message : (e as Error).message?.split('\n')[0] ?? String(e);
      process.stderr.write(`cryo demo: ${line}\n`);
      return 1;
    }
  },
};
