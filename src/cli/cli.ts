// cryo's command line: finds the subcommand in the table and turns every
// failure into one line on stderr and exit status 1.

import { commands } from './commands/index.js';
import { UsageError } from './command.js';
import { errorLine } from './error-line.js';
import { setCliRunner } from './runner.js';

export { errorLine };

function help(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: cryo COMMAND [ARGS]',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}\n  ${' '.repeat(w)}    cryo ${c.name} ${c.usage}`),
  ].join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(help());
    return name === undefined ? 1 : 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`cryo: unknown command '${name}' (try: ${commands.map((c) => c.name).join(', ')})\n`);
    return 1;
  }
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(`usage: cryo ${cmd.name} ${cmd.usage}\n${cmd.summary}\n`);
    return 0;
  }
  try {
    return await cmd.run(args);
  } catch (e) {
    if (process.env.CRYO_DEBUG === '1') console.error(e);
    const line = errorLine(e);
    process.stderr.write(`cryo: ${e instanceof UsageError ? `${cmd.name}: ${line} (usage: cryo ${cmd.name} ${cmd.usage})` : line}\n`);
    return 1;
  }
}

// `cryo service` runs each client's command through this same function (it cannot import it: a cycle).
setCliRunner(main);
