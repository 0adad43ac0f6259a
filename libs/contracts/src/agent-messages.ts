import type { FlashErrorCode } from './error-codes.js';
import type { FlashOptions } from './flash-options.js';

/** One part of a firmware as the agent needs it to flash. */
export interface FirmwarePartRef {
  offset: number;
  size: number;
  sha256: string;
  md5: string;
  role: string;
  /** Path on the api to download the bytes (with the agent token). */
  downloadPath: string;
}

/** Payload of a FLASH_RUN_JOB in an agent's run queue. */
export interface FlashRunPayload {
  runId: string;
  jobId: string;
  attempt: number;
  deviceId: string;
  mac: string;
  chip: string;
  portPath: string;
  firmware: { id: string; sha256: string; chip: string; parts: FirmwarePartRef[] };
  options: FlashOptions;
  /** Device-level settings the flasher should honour. */
  device: { resetSequence?: string | null; bestBaud?: number | null };
  /**
   * Regions made for this unit alone (a campaign's NVS partition), written in the same session as the
   * firmware's parts and verified by MD5 like them. The bytes travel inline; the agent refuses the run
   * when their SHA-256 is not `sha256`.
   */
  unitRegions?: UnitRegionRef[];
}

/** A per-unit region of a run: bytes inline (base64), with their digests. */
export interface UnitRegionRef {
  offset: number;
  size: number;
  sha256: string;
  md5: string;
  /** What it is, for logs and records ("nvs"). */
  role: string;
  dataBase64: string;
}

/** A log line as the agent reports it. seq is per run and strictly increasing. */
export interface RunLogLinePayload {
  seq: number;
  ts: string; // ISO 8601
  level: 'debug' | 'info' | 'warn' | 'error';
  stage?: string;
  text: string;
}

/** Per-region outcome of a run. */
export interface RegionResult {
  offset: number;
  size: number;
  sha256: string;
  md5: string;
  verifiedMd5?: string;
  written: number;
  skipped: number;
}

/** What an agent reports when a run ends. */
export interface RunResultPayload {
  /** Learned for this board: the highest baud that worked and the reset strategy that reached the loader. */
  learned?: { bestBaud?: number; resetStrategy?: string };
  /** Device facts read while flashing (they refresh the device record). */
  identity?: {
    mac: string;
    chip: string;
    chipRevision?: number;
    flashJedecId?: number;
    flashSizeBytes?: number;
  };
  /**
   * DEVICE_CHANGED: the board found on the port instead of the run's, identified again by the agent
   * (already reported as present there): the api files the run under it, not under the run's board.
   */
  observed?: { mac: string; chip: string };
  status: 'succeeded' | 'failed' | 'cancelled';
  errorCode?: FlashErrorCode;
  errorMessage?: string;
  /** true when the agent gives the run back so another board (or a later attempt) can take it. */
  requeue?: boolean;
  baud?: number;
  retries: number;
  bytesWritten: number;
  bytesSkipped: number;
  regions: RegionResult[];
  timings: Record<string, number>;
  /** The post-flash boot check, when the job asked for one and it ran to an answer. */
  bootCheck?: { passed: boolean; matched?: string; elapsedMs: number };
}

/** How far a run is, as the agent reports it and the api relays it to live listeners. */
export interface RunProgressFields {
  stage: string;
  percent: number;
  bytesDone: number;
  bytesTotal: number;
  baud?: number;
  etaMs?: number;
}

/**
 * Events agents append to AGENT_EVENTS_STREAM. Every run event names the agent that sends it
 * (`agentId`): the api stores it only when that is the agent the run was dispatched to, and drops
 * (and counts) the rest, so one agent cannot report for another's runs.
 */
export type AgentEvent =
  | { type: 'run.started'; runId: string; agentId: string; at: string; portPath: string }
  | ({ type: 'run.progress'; runId: string; agentId: string; at: string } & RunProgressFields)
  | { type: 'run.log'; runId: string; agentId: string; lines: RunLogLinePayload[] }
  | {
      type: 'run.finished';
      runId: string;
      agentId: string;
      at: string;
      result: RunResultPayload;
      /**
       * The run's last log seq (0: it logged nothing), sent when every line up to it was written:
       * the api's event streams end once all of them are stored. Absent from older agents, and when
       * a batch of lines could not be written.
       */
      lastSeq?: number;
    }
  | { type: 'console.data'; deviceId: string; at: string; text: string };

/** Messages the api publishes on an agent's control channel. */
export type AgentControlMessage =
  | { type: 'cancel-run'; runId: string; reason: string }
  | { type: 'console'; deviceId: string; enabled: boolean }
  /** Start a new cycle on fixture slots (ports) of this agent: each is probed now; `portPath` null = every slot. */
  | { type: 'fixture-next'; portPath: string | null };
