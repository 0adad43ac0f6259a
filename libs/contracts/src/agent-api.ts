/**
 * The HTTP contract between agents and the api. Agents authenticate with a
 * bearer token of role `agent`; all paths are relative to FLASHFARM_URL.
 * Results and logs of runs do not go through HTTP: they travel on the
 * AGENT_EVENTS_STREAM, which keeps them while the api is down.
 */
import { z } from 'zod';
import { Uuid } from './ids.js';
import { DEVICE_STATES } from './states.js';

const Id = Uuid;

/** POST /agents/register — an agent announces itself at start-up (idempotent by name). */
export const RegisterAgentRequest = z
  .object({
    name: z
      .string()
      .min(1)
      .max(200)
      .describe('Stable agent name (defaults to the hostname on the agent side)'),
    hostname: z.string().max(255),
    version: z.string().max(100),
    maxParallel: z.number().int().min(1).max(256),
  })
  .strict();
/** POST /agents/register. */
export type RegisterAgentRequest = z.infer<typeof RegisterAgentRequest>;

/**
 * Answer to RegisterAgentRequest. The agent consumes agentRunQueueName(agentId) on the farm's Redis,
 * which `queue.redisUrl` names (with its credentials): an agent needs nothing but the api URL and its token.
 */
export const RegisterAgentResponse = z
  .object({
    agentId: Id,
    heartbeatMs: z.number().int().describe('Send a heartbeat this often'),
    queue: z
      .object({
        redisUrl: z
          .string()
          .describe(
            "The farm's Redis (run queues, events stream), credentials included: FLASHFARM_AGENT_REDIS_URL of the api, else its REDIS_URL",
          ),
      })
      .strict()
      .optional()
      .describe('Where the run queue is; absent from older apis'),
  })
  .strict();
/** Answer to RegisterAgentRequest. */
export type RegisterAgentResponse = z.infer<typeof RegisterAgentResponse>;

/** POST /agents/:agentId/heartbeat — sent every heartbeatMs. */
export const AgentHeartbeatRequest = z
  .object({
    status: z.enum(['online', 'draining'], { message: 'status must be online or draining' }),
    /** Runs this agent is executing right now; the api re-queues dispatched runs it does not list for too long. */
    runningRunIds: z.array(z.string()).max(1024).describe('Runs this agent is executing right now'),
  })
  .strict();
/** POST /agents/:agentId/heartbeat. */
export type AgentHeartbeatRequest = z.infer<typeof AgentHeartbeatRequest>;

/** Answer to a heartbeat. */
export const AgentHeartbeatResponse = z
  .object({
    /** Runs the agent should abort (cancelled while the control message may have been missed). */
    cancelRunIds: z
      .array(z.string())
      .describe('Runs to abort: cancelled while the control message may have been missed'),
    /**
     * Listed runs the api has ended meanwhile (the agent was declared dead and the
     * slot moved on to a newer attempt): the agent aborts them. Absent from older apis.
     */
    staleRunIds: z
      .array(z.string())
      .optional()
      .describe(
        'Listed runs the api has ended meanwhile (agent declared dead, board gone): a newer attempt owns their slot',
      ),
  })
  .strict();
/** Answer to a heartbeat. */
export type AgentHeartbeatResponse = z.infer<typeof AgentHeartbeatResponse>;

/**
 * POST /agents/:agentId/runs/:runId/claim — sent for every run taken from the
 * queue, before the agent touches its board. The api moves the run to running
 * in one conditional update when it is still live (dispatched, or running on
 * this agent: a redelivery after a crash) and bound to its board; otherwise it
 * answers 409 RUN_NOT_CLAIMABLE and the agent drops the run without flashing.
 */
export const ClaimRunRequest = z
  .object({
    /** The attempt the queued payload carries; a mismatch is refused. */
    attempt: z.number().int().min(1).max(1_000_000).describe('The attempt the queued payload carries'),
  })
  .strict();
/** POST /agents/:agentId/runs/:runId/claim. */
export type ClaimRunRequest = z.infer<typeof ClaimRunRequest>;

/** Answer to a successful claim: the run is the agent's to flash. */
export const ClaimRunResponse = z
  .object({
    runId: Id,
    attempt: z.number().int(),
    status: z.literal('running'),
    lastLogSeq: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Highest log seq stored for the run: the agent numbers its lines after it'),
  })
  .strict();
/** Answer to a successful claim. */
export type ClaimRunResponse = z.infer<typeof ClaimRunResponse>;

/** Path of the claim of one run by one agent. */
export function claimRunPath(agentId: string, runId: string): string {
  return `/agents/${encodeURIComponent(agentId)}/runs/${encodeURIComponent(runId)}/claim`;
}

/** What a probe read from a board's silicon. */
export const DeviceIdentity = z
  .object({
    mac: z.string().max(32).describe('aa:bb:cc:dd:ee:ff, lowercase'),
    chip: z.string().min(1).max(32).describe('esp32, esp32s3, ...'),
    chipRevision: z.number().int().min(0).max(10_000).optional().describe('major * 100 + minor'),
    chipDescription: z.string().max(200).optional(),
    features: z.array(z.string()).max(64).optional(),
    crystalMhz: z.number().int().min(0).max(1000).optional(),
    flashJedecId: z.number().int().min(0).max(0xffffff).optional(),
    flashSizeBytes: z.number().int().min(0).optional(),
  })
  .strict();
/** What a probe read from a board's silicon. */
export type DeviceIdentity = z.infer<typeof DeviceIdentity>;

/** Where a board is plugged in. */
export const PortAttachment = z
  .object({
    portPath: z.string().min(1).max(500),
    usbVid: z.number().int().min(0).max(0xffff).optional(),
    usbPid: z.number().int().min(0).max(0xffff).optional(),
    usbSerial: z.string().max(200).optional(),
    location: z.string().max(200).optional(),
    bridge: z.string().max(100).optional(),
  })
  .strict();
/** Where a board is plugged in. */
export type PortAttachment = z.infer<typeof PortAttachment>;

/**
 * A fixture cycle that found a unit on a station slot (a port) which did not reach the bootloader
 * within the cycle's bound: no MAC could be read, so the unit is known by its slot and the reason.
 */
export const FixtureCycleFailure = z
  .object({
    portPath: z.string().min(1).max(1024),
    code: z.string().min(1).max(64).describe('The flasher error code (WRONG_BOOT_MODE, NO_SYNC, ...)'),
    message: z.string().max(2000),
    at: z.iso.datetime(),
  })
  .strict();
/** One failed fixture cycle. */
export type FixtureCycleFailure = z.infer<typeof FixtureCycleFailure>;

/**
 * POST /agents/:agentId/devices — the boards this agent currently holds.
 * `present` lists boards identified on their ports (new or moved ones get an
 * attachment row); `gone` lists ports whose board disappeared.
 */
export const ReportDevicesRequest = z
  .object({
    present: z.array(z.object({ identity: DeviceIdentity, attachment: PortAttachment }).strict()).max(1024),
    gone: z.array(z.string()).max(1024).describe('Ports whose board disappeared'),
    /** true when `present` is the agent's complete list: boards of this agent not listed go offline. */
    complete: z.boolean().describe("true when present is the agent's complete list"),
    cycleFailures: z
      .array(FixtureCycleFailure)
      .max(256)
      .optional()
      .describe('Fixture cycles whose unit never reached the bootloader since the last report'),
  })
  .strict();
/** POST /agents/:agentId/devices. */
export type ReportDevicesRequest = z.infer<typeof ReportDevicesRequest>;

/** Answer to ReportDevicesRequest: the device records, with the settings the flasher honours. */
export const ReportDevicesResponse = z
  .object({
    devices: z.array(
      z
        .object({
          deviceId: Id,
          mac: z.string(),
          state: z.enum(DEVICE_STATES),
          resetSequence: z.string().nullable(),
          bestBaud: z.number().int().nullable(),
        })
        .strict(),
    ),
  })
  .strict();
/** Answer to ReportDevicesRequest. */
export type ReportDevicesResponse = z.infer<typeof ReportDevicesResponse>;

/** GET /firmware/:firmwareId/parts/:sha256 — the bytes of one part (application/octet-stream). */
export function firmwarePartPath(firmwareId: string, sha256: string): string {
  return `/firmware/${firmwareId}/parts/${sha256}`;
}
