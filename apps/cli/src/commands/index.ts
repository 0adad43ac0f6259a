/** The farm client commands (`submit`, `devices`, `jobs`, `logs`, `cancel`, `token`), routed by apps/cli/src/main.ts. */
import { processIo, type CliHooks, type CommandIo } from './context.js';
import { runCancel, runDevices, runJobs, runLogs, runToken } from './farm-commands.js';
import { runSubmit } from './submit.js';

export { FarmExitCode, FarmCliError } from './exit-codes.js';
export { FarmClient, parseSse, type SseEvent } from './client.js';
export { renderJunit, xmlEscape, type JunitCase, type JunitSuite } from './junit.js';
export { ciIdempotencyKey, parseSelector, runSubmit } from './submit.js';
export { processIo, type CliHooks, type CommandIo, type DatabaseTokenCli } from './context.js';
export { firmwareForm, resolveFirmwareInput, type FirmwareInput } from './firmware-input.js';

type FarmCommand = (argv: string[], io: CommandIo) => Promise<number>;

/** name → command and one-line summary, for the COMMANDS table of the CLI. */
export const FARM_COMMANDS: Record<string, { run: FarmCommand; summary: string }> = {
  submit: { run: runSubmit, summary: 'upload firmware, flash matching farm boards, stream logs (--wait)' },
  devices: { run: runDevices, summary: 'list the boards of the farm' },
  jobs: { run: runJobs, summary: 'list jobs, or show one' },
  logs: { run: runLogs, summary: "print a run's log (--follow streams it live)" },
  cancel: { run: runCancel, summary: 'cancel a job' },
  token: { run: runToken, summary: 'create an api token (through the api, or on the database)' },
};

/** Runs a farm command with the real process's environment and output. */
export function runFarmCommand(
  name: string,
  argv: string[],
  signal?: AbortSignal,
  hooks: CliHooks = {},
): Promise<number> {
  const command = FARM_COMMANDS[name];
  if (!command) return Promise.resolve(2);
  return command.run(argv, processIo(signal, hooks));
}
