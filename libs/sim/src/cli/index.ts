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
