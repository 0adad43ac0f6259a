/** `flashfarm sim`: simulated boards behind RFC 2217 servers, routed by apps/cli/src/main.ts. */
export {
  runSimCli,
  parseSimArgs,
  SimCliExit,
  DEFAULT_SIM_BASE_PORT,
  type RunningSimBoard,
  type SimBoardSpec,
  type SimCliIo,
  type SimFleet,
} from './sim-cli.js';
