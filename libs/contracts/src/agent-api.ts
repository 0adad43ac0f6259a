/**
 * The HTTP contract between agents and the api. Agents authenticate with a
 * bearer token of role `agent`; all paths are relative to FLASHFARM_URL.
 * Results and logs of runs do not go through HTTP: they travel on the
 * AGENT_EVENTS_STREAM, which keeps them while the api is down.
 */

/** POST /agents/register — an agent announces itself at start-up (idempotent by name). */
export interface RegisterAgentRequest {
  name: string;
  hostname: string;
  version: string;
  maxParallel: number;
}

/** Answer to RegisterAgentRequest. The agent consumes agentRunQueueName(agentId). */
export interface RegisterAgentResponse {
  agentId: string;
  heartbeatMs: number;
}

/** POST /agents/:agentId/heartbeat — sent every heartbeatMs. */
export interface AgentHeartbeatRequest {
  status: 'online' | 'draining';
  /** Runs this agent is executing right now; the api re-queues dispatched runs it does not list for too long. */
  runningRunIds: string[];
}

/** Answer to a heartbeat. */
export interface AgentHeartbeatResponse {
  /** Runs the agent should abort (cancelled while the control message may have been missed). */
  cancelRunIds: string[];
  /**
   * Listed runs the api has ended meanwhile (the agent was declared dead and the
   * slot moved on to a newer attempt): the agent aborts them. Absent from older apis.
   */
  staleRunIds?: string[];
}

/**
 * POST /agents/:agentId/runs/:runId/claim — sent for every run taken from the
 * queue, before the agent touches its board. The api moves the run to running
 * in one conditional update when it is still live (dispatched, or running on
 * this agent: a redelivery after a crash) and bound to its board; otherwise it
 * answers 409 RUN_NOT_CLAIMABLE and the agent drops the run without flashing.
 */
export interface ClaimRunRequest {
  /** The attempt the queued payload carries; a mismatch is refused. */
  attempt: number;
}

/** Answer to a successful claim: the run is the agent's to flash. */
export interface ClaimRunResponse {
  runId: string;
  attempt: number;
  status: 'running';
}

/** Path of the claim of one run by one agent. */
export function claimRunPath(agentId: string, runId: string): string {
  return `/agents/${encodeURIComponent(agentId)}/runs/${encodeURIComponent(runId)}/claim`;
}

/** What a probe read from a board's silicon. */
export interface DeviceIdentity {
  mac: string; // aa:bb:cc:dd:ee:ff, lowercase
  chip: string; // esp32, esp32s3, ...
  chipRevision?: number; // major * 100 + minor
  chipDescription?: string;
  features?: string[];
  crystalMhz?: number;
  flashJedecId?: number;
  flashSizeBytes?: number;
}

/** Where a board is plugged in. */
export interface PortAttachment {
  portPath: string;
  usbVid?: number;
  usbPid?: number;
  usbSerial?: string;
  location?: string;
  bridge?: string;
}

/**
 * POST /agents/:agentId/devices — the boards this agent currently holds.
 * `present` lists boards identified on their ports (new or moved ones get an
 * attachment row); `gone` lists ports whose board disappeared.
 */
export interface ReportDevicesRequest {
  present: Array<{ identity: DeviceIdentity; attachment: PortAttachment }>;
  gone: string[];
  /** true when `present` is the agent's complete list: boards of this agent not listed go offline. */
  complete: boolean;
}

/** Answer to ReportDevicesRequest: the device records, with the settings the flasher honours. */
export interface ReportDevicesResponse {
  devices: Array<{
    deviceId: string;
    mac: string;
    state: 'idle' | 'busy' | 'offline' | 'quarantined';
    resetSequence: string | null;
    bestBaud: number | null;
  }>;
}

/** GET /firmware/:firmwareId/parts/:sha256 — the bytes of one part (application/octet-stream). */
export function firmwarePartPath(firmwareId: string, sha256: string): string {
  return `/firmware/${firmwareId}/parts/${sha256}`;
}
