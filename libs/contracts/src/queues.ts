/**
 * Names of everything the api and the agents share in Redis. BullMQ refuses
 * ':' in queue names, so queue names use '-'; plain Redis keys use ':'.
 */

/** BullMQ queue holding the flash runs dispatched to one agent. */
export function agentRunQueueName(agentId: string): string {
  return `ff-runs-${agentId}`;
}

/** The BullMQ job name of a dispatched flash run. */
export const FLASH_RUN_JOB = 'flash-run' as const;

/** Redis stream the agents append their events to; the api consumes it with a consumer group. */
export const AGENT_EVENTS_STREAM = 'ff:agent-events';

/**
 * The one field of every AGENT_EVENTS_STREAM entry: the AgentEvent as JSON
 * (`XADD ff:agent-events * event '{"type":"run.log",...}'`).
 */
export const AGENT_EVENT_FIELD = 'event';

/**
 * Agents cap AGENT_EVENTS_STREAM at about this many entries when they append (MAXLEN ~): the api
 * trims what it acknowledged (MINID), so the cap only bites when no api reads for a long time
 * (~37 entries a run: some 13,000 runs), where Redis memory must still be bounded.
 */
export const AGENT_EVENTS_STREAM_MAX_ENTRIES = 500_000;

/** Consumer group of the api replicas on AGENT_EVENTS_STREAM. */
export const AGENT_EVENTS_GROUP = 'api';

/*
 * Redis pub/sub channels belong to the whole server, not to one of its
 * numbered databases: two farms on one Redis server with different database
 * numbers would hear each other's messages. Channel names therefore carry the
 * database number of the connection that publishes or subscribes.
 */

/** The part of a Redis client (ioredis) a channel name depends on. */
export interface RedisDbScope {
  options: { db?: number };
}

/** Pub/sub channel carrying control messages (cancel, console on/off) to one agent. */
export function agentControlChannel(agentId: string, redis: RedisDbScope): string {
  return `ff:${redis.options.db ?? 0}:control:${agentId}`;
}

/** Pub/sub channel on which api replicas fan stored events out to each other's SSE listeners. */
export function apiFanoutChannel(redis: RedisDbScope): string {
  return `ff:${redis.options.db ?? 0}:fanout`;
}

/** Capped Redis stream with a board's console output (serial text read between runs). */
export function deviceConsoleStream(deviceId: string): string {
  return `${DEVICE_CONSOLE_STREAM_PREFIX}${deviceId}`;
}

const DEVICE_CONSOLE_STREAM_PREFIX = 'ff:console:';
/** Every per-run key an agent keeps starts with this (log sequence counters, "done" marks). */
const AGENT_RUN_KEY_PREFIX = 'ff:agent:run-';

/** The counter an agent reserves a run's log sequence numbers from; it outlives agent restarts. */
export function agentRunSeqKey(runId: string): string {
  return `${AGENT_RUN_KEY_PREFIX}seq:${runId}`;
}

/** The mark an agent leaves once a run's result is on the events stream, so a redelivery is not flashed again. */
export function agentRunDoneKey(runId: string): string {
  return `${AGENT_RUN_KEY_PREFIX}done:${runId}`;
}
