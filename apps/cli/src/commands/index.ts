/** The farm client commands (`submit`, `devices`, `jobs`, `logs`, `cancel`, `token`, `station`, `campaign`, `agent`), routed by apps/cli/src/main.ts. */
import { processIo, type CliHooks, type CommandIo } from './context.js';
import { runAgent } from './agent.js';
import {
  runCampaign,
  runCancel,
  runDevices,
  runJobs,
  runLogs,
  runStation,
  runToken,
} from './farm-commands.js';
import { runSubmit } from './submit.js';
import { FARM_COMMAND_SUMMARIES as S, type FarmCommandName } from './summaries.js';

export { FarmExitCode, FarmCliError } from './exit-codes.js';
export { FarmClient, parseSse, type SseEvent } from './client.js';
export { renderJunit, xmlEscape, type JunitCase, type JunitSuite } from './junit.js';
export { ciIdempotencyKey, parseSelector, runSubmit } from './submit.js';
export {
  processIo,
  type AgentDoctor,
  type CliHooks,
  type CommandIo,
  type DatabaseTokenCli,
} from './context.js';
export { firmwareForm, resolveFirmwareInput, type FirmwareInput } from './firmware-input.js';

type FarmCommand = (argv: string[], io: CommandIo) => Promise<number>;

/** name → command and one-line summary, for the COMMANDS table of the CLI. */
export const FARM_COMMANDS: Record<FarmCommandName, { run: FarmCommand; summary: string }> = {
  submit: { run: runSubmit, summary: S.submit },
  devices: { run: runDevices, summary: S.devices },
  jobs: { run: runJobs, summary: S.jobs },
  logs: { run: runLogs, summary: S.logs },
  cancel: { run: runCancel, summary: S.cancel },
  token: { run: runToken, summary: S.token },
  station: { run: runStation, summary: S.station },
  campaign: { run: runCampaign, summary: S.campaign },
  agent: { run: runAgent, summary: S.agent },
};

/** Runs a farm command with the real process's environment and output. */
export function runFarmCommand(
  name: string,
  argv: string[],
  signal?: AbortSignal,
  hooks: CliHooks = {},
): Promise<number> {
  const command = name in FARM_COMMANDS ? FARM_COMMANDS[name as FarmCommandName] : undefined;
  if (!command) return Promise.resolve(2);
  return command.run(argv, processIo(signal, hooks));
}
