/**
 * The `flashfarm` command: one entry point, one subcommand per job. Each
 * subcommand lives with the code it drives (the flasher in libs/esp, the
 * simulator CLI in ./sim, ...); this file only routes and wires transports.
 */
import { runFlasherCli } from '#esp';
import { openTransport } from '#serial';
import { FARM_COMMANDS, runFarmCommand } from './commands/index.js';
import { runSimCli } from './sim/index.js';

type Command = (argv: string[]) => Promise<number>;

/** SIGINT/SIGTERM cancel the running command (the flasher then resets the board and closes the port). */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return controller.signal;
}

const flasher: Command = (argv) =>
  runFlasherCli(argv, {
    openTransport: (url) =>
      openTransport(url, {
        baudRate: 115_200,
        onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
      }),
    signal: interruptSignal(),
  });

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  flash: { run: (argv) => flasher(['flash', ...argv]), summary: 'write images to a board and verify them' },
  erase: { run: (argv) => flasher(['erase', ...argv]), summary: 'erase a board (all, or a region)' },
  read: { run: (argv) => flasher(['read', ...argv]), summary: 'read flash into a file (backup)' },
  info: {
    run: (argv) => flasher(['info', ...argv]),
    summary: 'identify a board: chip, revision, MAC, flash',
  },
  sim: { run: (argv) => runSimCli(argv), summary: 'run simulated boards behind RFC 2217 servers' },
  ...Object.fromEntries(
    Object.entries(FARM_COMMANDS).map(([name, c]) => [
      name,
      { run: (argv: string[]) => runFarmCommand(name, argv, interruptSignal()), summary: c.summary },
    ]),
  ),
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'Usage: flashfarm <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `flashfarm <command> --help` for the options of a command.',
    '',
  ].join('\n');
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`flashfarm: unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}
