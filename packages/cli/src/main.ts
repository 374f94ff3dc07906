import { Command, CommanderError } from 'commander';
import { registerAdoptCommands } from './adopt-commands.js';
import { registerDemoCommand } from './demo-command.js';
import { registerDeviceCommands } from './device-commands.js';
import { registerJobCommands } from './job-commands.js';
import { registerServerCommands } from './server-commands.js';
import { UsageError } from './usage-error.js';

/** Exit codes: 0 success, 1 the work failed (server down, token refused), 2 the command was called wrongly. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('tillsync')
    .description(
      "Keeps the SQLite databases of a shop's tills, tablets and desktops in step with a cloud copy.",
    )
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showHelpAfterError(false);
  registerServerCommands(program);
  registerDeviceCommands(program);
  registerAdoptCommands(program);
  registerJobCommands(program);
  registerDemoCommand(program);
  return program;
}

/** Runs the command line and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    const unknown = unknownFlag(argv.slice(2));
    if (unknown !== null) throw new UsageError(`unknown option '${unknown}'`);
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      process.stderr.write(`tillsync: ${error.message.replace(/^error: /, '')}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`tillsync: ${error.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`tillsync: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILED;
  }
}

/**
 * The first flag the command line's (sub)command does not know, or null. Commander checks required options
 * before unknown ones, so `tillsync sync --bogus` would complain about a missing --db rather than the flag
 * that is wrong. Read on a program of its own: parsing sets the options' values.
 */
function unknownFlag(args: readonly string[]): string | null {
  if (args.includes('--help') || args.includes('-h')) return null;
  let command = buildProgram();
  let rest = [...args];
  for (;;) {
    const name = rest[0];
    const sub = command.commands.find(
      (candidate) => candidate.name() === name || candidate.aliases().includes(name ?? ''),
    );
    if (!sub) break;
    command = sub;
    rest = rest.slice(1);
  }
  if (command.name() === 'tillsync') return null;
  return command.parseOptions(rest).unknown.find((arg) => arg.startsWith('-')) ?? null;
}
