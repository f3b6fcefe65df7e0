// The CLI's entry (cli.ts main), for `cryo service` to run its clients' commands through: cli.ts
// sets it when it loads; the service, which the command table (and so cli.ts) imports, reads it here.

export type CliRunner = (argv: string[]) => Promise<number>;

let runner: CliRunner | undefined;

export function setCliRunner(r: CliRunner): void {
  runner = r;
}

export function cliRunner(): CliRunner {
  if (!runner) throw new Error('the CLI is not loaded (cryo service runs from the cryo command line)');
  return runner;
}
