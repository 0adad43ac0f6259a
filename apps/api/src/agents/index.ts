/** Agents for other api modules: the liveness hook (agents going offline) and the module. */
export { AgentsModule } from './agents.module.js';
export {
  AgentLivenessService,
  MISSED_HEARTBEATS_OFFLINE,
  type AgentOfflineListener,
  type OfflineAgent,
} from './agent-liveness.service.js';
