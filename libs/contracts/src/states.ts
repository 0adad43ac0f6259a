/**
 * Every status and state the api stores and answers with, once: a const
 * array each (for validation, OpenAPI enums and the database enums it must
 * equal) and the string-literal union derived from it. The Prisma schema's
 * enums hold the same values; a unit test in apps/api checks they agree.
 */

/**
 * A board's state: free, flashing, not attached, taken out of service, or held because its MAC answers
 * on two live ports at once (cloned modules, two simulators) until one goes away or an operator picks one.
 */
export const DEVICE_STATES = ['idle', 'busy', 'offline', 'quarantined', 'conflict'] as const;
/** A board's state. */
export type DeviceState = (typeof DEVICE_STATES)[number];

/** A run (one attempt on one board): waiting, handed to an agent, flashing, or ended. */
export const RUN_STATUSES = ['queued', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/** A run's status. */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A job's status, derived from its slots' latest attempts. */
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/** A job's status. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** How a job names its boards. */
export const TARGET_KINDS = ['device', 'selector', 'all'] as const;
/** How a job names its boards. */
export type TargetKind = (typeof TARGET_KINDS)[number];

/**
 * An agent's status: heartbeating (online, or draining while it stops), silent (offline), or
 * heartbeating without taking runs from its queue on the farm's Redis (queue_unreachable: registered,
 * but its queue connection does not reach the farm; nothing is dispatched to it until it does).
 */
export const AGENT_STATUSES = ['online', 'draining', 'offline', 'queue_unreachable'] as const;
/** An agent's status. */
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** How a firmware was uploaded. */
export const FIRMWARE_KINDS = ['merged', 'parts', 'idf_bundle'] as const;
/** How a firmware was uploaded. */
export type FirmwareKind = (typeof FIRMWARE_KINDS)[number];

/** What a firmware part is. */
export const PART_ROLES = ['bootloader', 'partition_table', 'app', 'ota_data', 'data', 'merged'] as const;
/** What a firmware part is. */
export type PartRole = (typeof PART_ROLES)[number];

/** The roles of API tokens; admin may call every route. */
export const TOKEN_ROLES = ['admin', 'ci', 'operator', 'viewer', 'agent'] as const;
/** An API token's role. */
export type TokenRole = (typeof TOKEN_ROLES)[number];

/**
 * What a farm event reports (GET /farm-events), for people watching the farm:
 * - device.conflict: one MAC answers on two live ports (details: mac, ports); the board is held in `conflict`;
 * - device.conflict-resolved: the conflict ended (a port went away, or an operator chose a port);
 * - agent.identity-refused: a token tried to act as another agent (register, report, claim, heartbeat);
 * - agent.event-rejected: an event on the Redis stream named another agent than its run's (dropped);
 * - agent.queue-unreachable: an agent registered and heartbeats but never connected to its run queue;
 * - agent.queue-reachable: it did, later (its runs are dispatched again).
 */
export const FARM_EVENT_TYPES = [
  'device.conflict',
  'device.conflict-resolved',
  'agent.identity-refused',
  'agent.event-rejected',
  'agent.queue-unreachable',
  'agent.queue-reachable',
] as const;
/** What a farm event reports. */
export type FarmEventType = (typeof FARM_EVENT_TYPES)[number];

/** How much a farm event needs someone's attention. */
export const FARM_EVENT_SEVERITIES = ['info', 'warning', 'error'] as const;
/** How much a farm event needs someone's attention. */
export type FarmEventSeverity = (typeof FARM_EVENT_SEVERITIES)[number];

/** A log line's level. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** A log line's level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How a campaign finds its boards: the pool online at the start, or every board plugged into a station. */
export const CAMPAIGN_MODES = ['pool', 'station'] as const;
/** How a campaign finds its boards. */
export type CampaignMode = (typeof CAMPAIGN_MODES)[number];

/** A campaign's status. */
export const CAMPAIGN_STATUSES = ['running', 'paused', 'stopped', 'completed'] as const;
/** A campaign's status. */
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** A campaign unit's status (one board of a campaign). */
export const CAMPAIGN_UNIT_STATUSES = ['pending', 'flashing', 'succeeded', 'failed'] as const;
/** A campaign unit's status. */
export type CampaignUnitStatus = (typeof CAMPAIGN_UNIT_STATUSES)[number];

/** The run statuses after which a run never changes again. */
export const TERMINAL_RUN_STATUSES = [
  'succeeded',
  'failed',
  'cancelled',
] as const satisfies readonly RunStatus[];

/** True when a run with this status has ended. */
export function isEndedRun(status: RunStatus): boolean {
  return (TERMINAL_RUN_STATUSES as readonly RunStatus[]).includes(status);
}
