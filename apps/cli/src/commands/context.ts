/** What every farm client command shares: the api address and token (flags over environment), and output. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FarmClient } from './client.js';
import { FarmCliError, FarmExitCode } from './exit-codes.js';

/** Process surroundings of a command (tests inject them). */
export interface CommandIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Aborts on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  /**
   * `flashfarm token …` straight on the farm's database, for the first tokens of a farm. That code
   * is the api's (its configuration and database layer); an app never imports another app, so the
   * command's entry point (bin/flashfarm.js) hands it in. Absent, only `token create` through the
   * api is available.
   */
  databaseTokenCli?: DatabaseTokenCli;
  /** `flashfarm agent doctor`: the agent's code (its configuration parser), handed in like databaseTokenCli. */
  agentDoctor?: AgentDoctor;
}

/** Runs `agent doctor …` with the agent's configuration; resolves to the exit code. */
export type AgentDoctor = (
  argv: readonly string[],
  io: Pick<CommandIo, 'env' | 'stdout' | 'stderr'>,
) => Promise<number>;

/** Runs `token <subcommand> …` on the database; resolves to the exit code. */
export type DatabaseTokenCli = (
  argv: readonly string[],
  io: Pick<CommandIo, 'env' | 'stdout' | 'stderr'>,
) => Promise<number>;

/** What the command's entry point wires in (see CommandIo). */
export interface CliHooks {
  databaseTokenCli?: DatabaseTokenCli;
  agentDoctor?: AgentDoctor;
}

/** The default surroundings: the real process. */
export function processIo(signal?: AbortSignal, hooks: CliHooks = {}): CommandIo {
  return {
    env: process.env,
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    signal,
    databaseTokenCli: hooks.databaseTokenCli,
    agentDoctor: hooks.agentDoctor,
  };
}

/** Options every farm command accepts. */
export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The client for --url/--token, else FLASHFARM_URL/FLASHFARM_TOKEN. */
export function clientFrom(values: { url?: string; token?: string }, io: CommandIo): FarmClient {
  const url = values.url ?? io.env.FLASHFARM_URL ?? DEFAULT_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new FarmCliError(
      FarmExitCode.USAGE,
      `"${url}" is not an http(s) URL (from ${values.url ? '--url' : 'FLASHFARM_URL'}).`,
    );
  }
  const token = values.token ?? io.env.FLASHFARM_TOKEN;
  return new FarmClient({
    url,
    token: token?.trim() || undefined,
    tokenSource: values.token ? '--token' : 'FLASHFARM_TOKEN',
  });
}

/** parseArgs with usage errors as FarmCliError. */
export function parseCommandArgs<T extends ParseArgsConfig['options']>(
  argv: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...CONNECTION_OPTIONS, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    throw new FarmCliError(FarmExitCode.USAGE, error instanceof Error ? error.message : String(error));
  }
}

/** Runs a command body, printing FarmCliError messages and returning the exit code. */
export async function runCommand(io: CommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof FarmCliError) {
      io.stderr(`flashfarm: ${error.message}\n`);
      return error.exitCode;
    }
    if (io.signal?.aborted) {
      io.stderr('flashfarm: interrupted\n');
      return FarmExitCode.INTERRUPTED;
    }
    io.stderr(`flashfarm: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return FarmExitCode.INFRASTRUCTURE;
  }
}

/** Formats rows as an aligned text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
