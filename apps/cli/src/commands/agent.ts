/** `flashfarm agent doctor`: checks an agent host (the checks are the agent's code, see CliHooks.agentDoctor). */
import type { CommandIo } from './context.js';
import { FarmExitCode } from './exit-codes.js';

const USAGE =
  "Usage: flashfarm agent doctor   (checks this host with the agent's variables; --help for more)\n";

/** Routes `agent <subcommand>`; only `doctor` exists. */
export async function runAgent(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(USAGE);
    return sub === undefined ? FarmExitCode.USAGE : FarmExitCode.OK;
  }
  if (sub !== 'doctor') {
    io.stderr(`flashfarm agent: unknown subcommand "${sub}".\n${USAGE}`);
    return FarmExitCode.USAGE;
  }
  if (!io.agentDoctor) {
    // Only an embedding that did not wire the agent in gets here; bin/flashfarm.js always does.
    io.stderr('flashfarm agent doctor: the agent is not part of this installation of flashfarm.\n');
    return FarmExitCode.USAGE;
  }
  return io.agentDoctor(rest, io);
}
