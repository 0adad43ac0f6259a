/**
 * Every status and state the api stores and answers with, once: a const
 * array each (for validation, OpenAPI enums and the database enums it must
 * equal) and the string-literal union derived from it. The Prisma schema's
 * enums hold the same values; a unit test in apps/api checks they agree.
 */

/** A board's state: free, flashing, not attached, or taken out of service. */
export const DEVICE_STATES = ['idle', 'busy', 'offline', 'quarantined'] as const;
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

/** An agent's status. */
export const AGENT_STATUSES = ['online', 'draining', 'offline'] as const;
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
