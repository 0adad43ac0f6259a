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
export { CONTROL_HOST, startControlServer, type ControlServer } from './control-server.js';
export {
  DEFAULT_NOISE_BIT_ERROR_RATE,
  FAULT_OPTIONS,
  NO_FAULTS,
  type FaultPatch,
  type FaultSettings,
} from './faults.js';
export { SimFleetRunner, SimSlot, SlotError, slotView, type UnitSpec } from './fleet-runner.js';
