/**
 * The `flashfarm` command: one entry point, one subcommand per job. Each
 * subcommand's command-line code lives in apps/cli (the flasher commands in
 * ./flasher, the farm client in ./commands, the simulator in ./sim); this
 * file only routes and wires transports. A command's code is imported when
 * it runs, so `--help` loads little.
 */
import type { CliHooks } from './commands/context.js';
import { FARM_COMMAND_SUMMARIES } from './commands/summaries.js';
import { esptoolOverview, isEsptoolCommand } from './esptool/commands.js';

type Command = (argv: string[]) => Promise<number>;

/** SIGINT/SIGTERM cancel the running command (the flasher then resets the board and closes the port). */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return controller.signal;
}

const flasher: Command = async (argv) => {
  const [{ runFlasherCli }, { openTransport }] = await Promise.all([
    import('./flasher/run.js'),
    import('#serial'),
  ]);
  return runFlasherCli(argv, {
    openTransport: (url) =>
      openTransport(url, {
        baudRate: 115_200,
        onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
      }),
    signal: interruptSignal(),
  });
};

/** What bin/flashfarm.js wires in (see CliHooks); main() sets it before routing. */
let hooks: CliHooks = {};

const esptool: Command = async (argv) => {
  const [{ runEsptoolCli }, { listSerialPorts, openTransport }] = await Promise.all([
    import('./esptool/index.js'),
    import('#serial'),
  ]);
  return runEsptoolCli(argv, {
    openTransport: (url, { baudRate }) =>
      openTransport(url, {
        baudRate,
        onWarning: (message) => process.stderr.write(`Warning: ${message}\n`),
      }),
    listPorts: async () => (await listSerialPorts()).ports,
    signal: interruptSignal(),
  });
};

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  flash: { run: (argv) => flasher(['flash', ...argv]), summary: 'write images to a board and verify them' },
  erase: { run: (argv) => flasher(['erase', ...argv]), summary: 'erase a board (all, or a region)' },
  read: { run: (argv) => flasher(['read', ...argv]), summary: 'read flash into a file (backup)' },
  info: {
    run: (argv) => flasher(['info', ...argv]),
    summary: 'identify a board: chip, revision, MAC, flash',
  },
  sim: {
    run: async (argv) => (await import('./sim/index.js')).runSimCli(argv),
    summary: 'run simulated boards behind RFC 2217 servers',
  },
  nvs: {
    run: async (argv) => (await import('./commands/nvs.js')).runNvsCli(argv),
    summary: 'generate an ESP-IDF NVS partition from a CSV, or decode one',
  },
  ...Object.fromEntries(
    Object.entries(FARM_COMMAND_SUMMARIES).map(([name, summary]) => [
      name,
      {
        run: async (argv: string[]) =>
          (await import('./commands/index.js')).runFarmCommand(name, argv, interruptSignal(), hooks),
        summary,
      },
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
    esptoolOverview(),
  ].join('\n');
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: string[], cliHooks: CliHooks = {}): Promise<number> {
  hooks = cliHooks;
  const [name, ...rest] = argv;
  // esptool's habits: global options first (-p PORT -b 921600 write-flash …), its command names, --version.
  if (
    name !== undefined &&
    ((name.startsWith('-') && name !== '--help' && name !== '-h') || isEsptoolCommand(name))
  )
    return esptool(argv);
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
