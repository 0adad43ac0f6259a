/** Injection tokens of the agent. */
export const AGENT_CONFIG = Symbol('AGENT_CONFIG');
export const AGENT_REDIS = Symbol('AGENT_REDIS');
