/**
 * What the api answers with, once: a zod schema per view, and its type
 * inferred from it. The api's mappers return these types, the OpenAPI
 * document is generated from these schemas, and the CLI, the dashboard and
 * the tests read the same types, so a field renamed in one place breaks the
 * type check everywhere it is read.
 *
 * Dates travel as ISO 8601 strings. Objects are closed: a field that is not
 * listed here is not part of the contract (the OpenAPI document says
 * `additionalProperties: false`, and the response test holds the api to it).
 */
import { z } from 'zod';
import { RunErrorCode } from './error-codes.js';
import { DeviceSelector, FlashOptions } from './flash-options.js';
import { Uuid } from './ids.js';
import { pageOf } from './pagination.js';
import {
  AGENT_STATUSES,
  CAMPAIGN_MODES,
  CAMPAIGN_STATUSES,
  CAMPAIGN_UNIT_STATUSES,
  DEVICE_STATES,
  FARM_EVENT_SEVERITIES,
  FARM_EVENT_TYPES,
  FIRMWARE_KINDS,
  JOB_STATUSES,
  LOG_LEVELS,
  PART_ROLES,
  RUN_STATUSES,
  TARGET_KINDS,
  TOKEN_ROLES,
} from './states.js';

/** A record id (UUID) as the api answers it. */
const Id = Uuid;
/** An instant, ISO 8601 in UTC (2026-11-21T09:30:00.000Z). */
export const Instant = z.iso.datetime();
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable();

/** Every code a run's errorCode may hold. */
export const RunErrorCodeSchema = z.enum(Object.values(RunErrorCode) as [RunErrorCode, ...RunErrorCode[]]);

/** A run as GET /runs/:id summarises it, as job slots carry it, and as `run` events stream it. */
export const RunSnapshot = z
  .object({
    id: Id,
    jobId: Id,
    slot: z.number().int(),
    attempt: z.number().int(),
    status: z.enum(RUN_STATUSES),
    stage: nullable(z.string()),
    progress: z.number(),
    deviceId: nullable(Id),
    agentId: nullable(Id),
    portPath: nullable(z.string()),
    errorCode: nullable(RunErrorCodeSchema),
    errorMessage: nullable(z.string()),
    baud: nullable(z.number().int()),
    queuedAt: Instant,
    dispatchedAt: nullable(Instant),
    startedAt: nullable(Instant),
    finishedAt: nullable(Instant),
  })
  .strict();
/** A run's live state. */
export type RunSnapshot = z.infer<typeof RunSnapshot>;

/** Stage timings of a run in milliseconds. */
const Timings = z.record(z.string(), z.number());

/** A board as a job's slot names it (only its id when the board record is gone). */
export const DeviceSummary = z
  .object({
    id: Id,
    mac: z.string().optional(),
    chip: z.string().optional(),
    label: nullable(z.string()).optional(),
  })
  .strict();
/** A board as a job's slot names it. */
export type DeviceSummary = z.infer<typeof DeviceSummary>;

/** The latest attempt of a job's slot. */
export const JobRunView = RunSnapshot.extend({
  device: nullable(DeviceSummary),
  retries: z.number().int(),
  bytesWritten: z.number().int(),
  bytesSkipped: z.number().int(),
  timings: Timings,
  lastLogSeq: z.number().int(),
}).strict();
/** The latest attempt of a job's slot. */
export type JobRunView = z.infer<typeof JobRunView>;

/** One attempt in a slot's history. */
export const AttemptView = z
  .object({
    runId: Id,
    attempt: z.number().int(),
    status: z.enum(RUN_STATUSES),
    deviceId: nullable(Id),
    errorCode: nullable(RunErrorCodeSchema),
    errorMessage: nullable(z.string()),
    startedAt: nullable(Instant),
    finishedAt: nullable(Instant),
  })
  .strict();
/** One attempt in a slot's history. */
export type AttemptView = z.infer<typeof AttemptView>;

/** One board's worth of a job: its latest attempt and every attempt so far. */
export const JobSlotView = z
  .object({
    slot: z.number().int(),
    attempts: z.number().int(),
    latest: JobRunView,
    history: z.array(AttemptView),
  })
  .strict();
/** One board's worth of a job. */
export type JobSlotView = z.infer<typeof JobSlotView>;

/** Which boards a job targets, as the api answers it. */
export const JobTargetView = z.union([
  z.object({ device: nullable(Id).describe('The pinned board (null once its record is gone)') }).strict(),
  z.object({ selector: DeviceSelector, count: z.number().int() }).strict(),
  z.object({ all: DeviceSelector }).strict(),
]);

/** A job with its slots. */
export const JobView = z
  .object({
    id: Id,
    status: z.enum(JOB_STATUSES),
    firmwareId: Id,
    target: JobTargetView,
    options: FlashOptions,
    priority: z.number().int(),
    requestedBy: z.string(),
    idempotencyKey: nullable(z.string()),
    cancelReason: nullable(z.string()),
    createdAt: Instant,
    startedAt: nullable(Instant),
    finishedAt: nullable(Instant),
    slotCounts: z
      .partialRecord(z.enum(RUN_STATUSES), z.number().int())
      .describe('Slots by the status of their latest attempt'),
    slots: z.array(JobSlotView),
  })
  .strict();
/** A job with its slots. */
export type JobView = z.infer<typeof JobView>;

/** A page of jobs. */
export const JobPage = pageOf(JobView);

/** Per-region outcome of a run. */
export const RegionView = z
  .object({
    offset: z.number().int(),
    size: z.number().int(),
    sha256: z.string(),
    md5: z.string(),
    verifiedMd5: z.string().optional(),
    written: z.number().int(),
    skipped: z.number().int(),
  })
  .strict();

/** GET /runs/:id: a run with its board, agent, job, regions and the attempts of its slot. */
export const RunView = RunSnapshot.extend({
  device: nullable(
    z
      .object({
        id: Id,
        mac: z.string(),
        chip: z.string(),
        label: nullable(z.string()),
        pool: nullable(z.string()),
      })
      .strict(),
  ),
  agent: nullable(z.object({ id: Id, name: z.string(), hostname: z.string() }).strict()),
  job: z
    .object({
      id: Id,
      status: z.enum(JOB_STATUSES),
      firmwareId: Id,
      targetKind: z.enum(TARGET_KINDS),
      priority: z.number().int(),
      requestedBy: z.string(),
    })
    .strict(),
  retries: z.number().int(),
  bytesWritten: z.number().int(),
  bytesSkipped: z.number().int(),
  regions: z.array(RegionView),
  timings: Timings,
  lastLogSeq: z.number().int(),
  attempts: z.array(
    z
      .object({
        runId: Id,
        attempt: z.number().int(),
        status: z.enum(RUN_STATUSES),
        deviceId: nullable(Id),
        errorCode: nullable(RunErrorCodeSchema),
        finishedAt: nullable(Instant),
      })
      .strict(),
  ),
}).strict();
/** GET /runs/:id. */
export type RunView = z.infer<typeof RunView>;

/** A stored log line of a run. */
export const LogLineView = z
  .object({
    seq: z.number().int(),
    ts: Instant,
    level: z.enum(LOG_LEVELS),
    stage: nullable(z.string()),
    text: z.string(),
  })
  .strict();
/** A stored log line of a run. */
export type LogLineView = z.infer<typeof LogLineView>;

/** GET /runs/:id/log as JSON. */
export const RunLogView = z
  .object({ runId: Id, lastLogSeq: z.number().int(), lines: z.array(LogLineView) })
  .strict();
/** GET /runs/:id/log as JSON. */
export type RunLogView = z.infer<typeof RunLogView>;

/** Where a board is plugged in now. */
export const DeviceAttachmentView = z
  .object({
    agentId: Id,
    agentName: z.string(),
    hostname: z.string(),
    agentStatus: z.enum(AGENT_STATUSES),
    portPath: z.string(),
    usbVid: nullable(z.number().int()),
    usbPid: nullable(z.number().int()),
    usbSerial: nullable(z.string()),
    location: nullable(z.string()),
    bridge: nullable(z.string()),
    since: Instant,
    lastSeenAt: Instant,
  })
  .strict();

/** A board as GET /devices lists it. */
export const DeviceView = z
  .object({
    id: Id,
    mac: z.string(),
    chip: z.string(),
    state: z.enum(DEVICE_STATES),
    pool: nullable(z.string()),
    tags: z.array(z.string()),
    label: nullable(z.string()),
    flashSizeBytes: nullable(z.number().int()),
    lastRunStatus: nullable(z.enum(RUN_STATUSES)),
    lastRunAt: nullable(Instant),
    lastSeenAt: Instant,
    attachment: nullable(DeviceAttachmentView),
  })
  .strict();
/** A board as GET /devices lists it. */
export type DeviceView = z.infer<typeof DeviceView>;

/** A page of boards. */
export const DevicePage = pageOf(DeviceView);

/** GET /devices/:idOrMac: the listed fields and the board's identity, settings and run counts. */
export const DeviceDetailView = DeviceView.extend({
  notes: nullable(z.string()),
  chipRevision: nullable(z.number().int()),
  chipDescription: nullable(z.string()),
  features: z.array(z.string()),
  crystalMhz: nullable(z.number().int()),
  flashJedecId: nullable(z.number().int()),
  resetSequence: nullable(z.string()),
  bestBaud: nullable(z.number().int()),
  consecutiveFailures: z.number().int(),
  quarantineReason: nullable(z.string()),
  quarantinedAt: nullable(Instant),
  conflictReason: nullable(z.string()).describe(
    'Why the board is in conflict: its MAC and the live ports it answers on',
  ),
  conflictSince: nullable(Instant),
  currentRunId: nullable(Id),
  createdAt: Instant,
  counts: z
    .object({
      runs: z.number().int(),
      succeeded: z.number().int(),
      failed: z.number().int(),
      cancelled: z.number().int(),
      attachments: z.number().int(),
    })
    .strict(),
}).strict();
/** GET /devices/:idOrMac. */
export type DeviceDetailView = z.infer<typeof DeviceDetailView>;

/** One run in a board's history. */
export const DeviceRunView = z
  .object({
    id: Id,
    jobId: Id,
    slot: z.number().int(),
    attempt: z.number().int(),
    status: z.enum(RUN_STATUSES),
    stage: nullable(z.string()),
    errorCode: nullable(RunErrorCodeSchema),
    errorMessage: nullable(z.string()),
    baud: nullable(z.number().int()),
    bytesWritten: z.number().int(),
    agentName: nullable(z.string()),
    portPath: nullable(z.string()),
    firmware: z.object({ id: Id, name: z.string(), version: nullable(z.string()) }).strict(),
    requestedBy: z.string(),
    queuedAt: Instant,
    startedAt: nullable(Instant),
    finishedAt: nullable(Instant),
  })
  .strict();
/** One run in a board's history. */
export type DeviceRunView = z.infer<typeof DeviceRunView>;

/** A page of a board's runs. */
export const DeviceRunPage = pageOf(DeviceRunView);

/** One stay of a board on a port. */
export const AttachmentView = z
  .object({
    id: Id,
    agentId: Id,
    agentName: z.string(),
    hostname: z.string(),
    portPath: z.string(),
    usbVid: nullable(z.number().int()),
    usbPid: nullable(z.number().int()),
    usbSerial: nullable(z.string()),
    location: nullable(z.string()),
    bridge: nullable(z.string()),
    firstSeenAt: Instant,
    lastSeenAt: Instant,
    detachedAt: nullable(Instant).describe('null while the board is still there'),
    current: z.boolean(),
  })
  .strict();
/** One stay of a board on a port. */
export type AttachmentView = z.infer<typeof AttachmentView>;

/** A page of a board's attachments. */
export const AttachmentPage = pageOf(AttachmentView);

/** One part of a firmware. */
export const FirmwarePartView = z
  .object({
    offset: z.number().int().describe('Flash offset in bytes'),
    size: z.number().int(),
    sha256: z.string().describe('SHA-256 of the bytes (hex); also the download ETag'),
    md5: z.string(),
    role: z.enum(PART_ROLES),
    fileName: z.string(),
    path: z.string().describe('Download path, relative to the api base URL'),
  })
  .strict();
/** One part of a firmware. */
export type FirmwarePartView = z.infer<typeof FirmwarePartView>;

/** A stored firmware as GET /firmware lists it. */
export const FirmwareView = z
  .object({
    id: Id,
    sha256: z
      .string()
      .describe(
        'SHA-256 over the parts in offset order, one line each: "0x<offset in hex>:<part SHA-256>\\n". Same parts at the same offsets, same firmware.',
      ),
    name: z.string(),
    version: nullable(z.string()),
    projectName: nullable(z.string()),
    idfVersion: nullable(z.string()),
    chip: z.string(),
    kind: z.enum(FIRMWARE_KINDS),
    flash: z
      .object({ mode: nullable(z.string()), size: nullable(z.string()), freq: nullable(z.string()) })
      .strict(),
    totalBytes: z.number().int(),
    createdBy: nullable(z.string()),
    createdAt: Instant,
    partCount: z.number().int(),
  })
  .strict();
/** A stored firmware. */
export type FirmwareView = z.infer<typeof FirmwareView>;

/** One firmware with its parts and validation summary (GET /firmware/:id, POST /firmware). */
export const FirmwareDetailView = FirmwareView.extend({
  parts: z.array(FirmwarePartView),
  metadata: z
    .record(z.string(), z.unknown())
    .describe('Validation summary: source files, app descriptor, partition table, flash needed, warnings'),
}).strict();
/** One firmware with its parts and validation summary. */
export type FirmwareDetailView = z.infer<typeof FirmwareDetailView>;

/** A page of firmware. */
export const FirmwarePage = pageOf(FirmwareView);

/** An agent as people see it. */
export const AgentView = z
  .object({
    id: Id,
    name: z.string(),
    hostname: z.string(),
    version: z.string(),
    status: z.enum(AGENT_STATUSES),
    statusReason: nullable(z.string()).describe(
      'Why the status is what it is (queue_unreachable: what was seen)',
    ),
    maxParallel: z.number().int(),
    lastHeartbeatAt: Instant,
    startedAt: Instant,
    deviceCount: z.number().int().describe('Boards attached now'),
  })
  .strict();
/** An agent as people see it. */
export type AgentView = z.infer<typeof AgentView>;

/** GET /agents: every agent, by name. */
export const AgentList = z.array(AgentView);

/** GET /agents/:id: the agent with the boards attached to it and their ports. */
export const AgentDetailView = AgentView.extend({
  devices: z.array(
    z
      .object({
        id: Id,
        mac: z.string(),
        chip: z.string(),
        label: nullable(z.string()),
        pool: nullable(z.string()),
        tags: z.array(z.string()),
        state: z.enum(DEVICE_STATES),
        currentRunId: nullable(Id),
        portPath: z.string(),
        usbVid: nullable(z.number().int()),
        usbPid: nullable(z.number().int()),
        usbSerial: nullable(z.string()),
        bridge: nullable(z.string()),
        attachedSince: Instant,
        lastSeenAt: Instant,
      })
      .strict(),
  ),
}).strict();
/** GET /agents/:id. */
export type AgentDetailView = z.infer<typeof AgentDetailView>;

/** An API token as listed (never its secret). */
export const TokenView = z
  .object({
    id: Id,
    name: z.string(),
    role: z.enum(TOKEN_ROLES),
    prefix: z.string().describe('First characters of the secret, to tell tokens apart'),
    agentName: nullable(z.string()).describe(
      'Agent tokens: the agent it speaks for (null until its first registration)',
    ),
    createdBy: nullable(z.string()),
    createdAt: Instant,
    lastUsedAt: nullable(Instant),
    expiresAt: nullable(Instant),
    revokedAt: nullable(Instant),
  })
  .strict();
/** An API token as listed. */
export type TokenView = z.infer<typeof TokenView>;

/** GET /tokens: newest first. */
export const TokenList = z.array(TokenView);

/** The answer to POST /tokens: the only time the secret is shown. */
export const CreatedTokenView = TokenView.extend({
  secret: z.string().describe('The bearer secret; store it now, it cannot be shown again'),
}).strict();
/** The answer to POST /tokens. */
export type CreatedTokenView = z.infer<typeof CreatedTokenView>;

/** Counters of a production campaign. */
export const CampaignCounters = z
  .object({
    total: z.number().int(),
    pending: z.number().int(),
    inProgress: z.number().int(),
    succeeded: z.number().int().describe('Units that passed at their first test'),
    failed: z.number().int().describe('Units that failed at their first test'),
    retests: z
      .number()
      .int()
      .describe('Ended units that were a board seen before by this campaign (counted apart)'),
    yieldPercent: nullable(z.number()).describe(
      'succeeded / (succeeded + failed), in percent; null before the first',
    ),
    unitsPerHour: z.number().describe('Succeeded units per hour since the campaign started'),
    unitsPerHourRecent: z
      .number()
      .describe('Units that ended in the last 15 minutes, per hour (re-tests included)'),
  })
  .strict();
/** Counters of a production campaign. */
export type CampaignCounters = z.infer<typeof CampaignCounters>;

/** A production campaign with its live counters. */
export const CampaignView = z
  .object({
    id: Id,
    name: z.string(),
    mode: z.enum(CAMPAIGN_MODES),
    status: z.enum(CAMPAIGN_STATUSES),
    firmware: z
      .object({
        id: Id,
        name: z.string().optional(),
        version: nullable(z.string()).optional(),
        sha256: z.string().optional(),
        chip: z.string().optional(),
      })
      .strict()
      .describe('The firmware; only its id once the firmware record is gone'),
    selector: DeviceSelector,
    options: z.record(z.string(), z.unknown()).describe('Flash options for every unit, as given'),
    createdBy: z.string(),
    createdAt: Instant,
    startedAt: Instant,
    finishedAt: nullable(Instant),
    counters: CampaignCounters,
  })
  .strict();
/** A production campaign. */
export type CampaignView = z.infer<typeof CampaignView>;

/** A page of campaigns. */
export const CampaignPage = pageOf(CampaignView);

/** The answer to POST /campaigns/:id/retry-failed. */
export const RetriedUnitsView = z.object({ retried: z.number().int(), campaign: CampaignView }).strict();
/** The answer to POST /campaigns/:id/retry-failed. */
export type RetriedUnitsView = z.infer<typeof RetriedUnitsView>;

/** The answer to POST /stations/:id/next: which slot was triggered and how many agents were asked. */
export const StationNextView = z
  .object({ campaignId: Id, slot: nullable(z.string()), agents: z.number().int() })
  .strict();
/** The answer to POST /stations/:id/next. */
export type StationNextView = z.infer<typeof StationNextView>;

/** The answer to POST /stations/:id/operator. */
export const StationOperatorView = z.object({ campaignId: Id, operator: z.string() }).strict();
/** The answer to POST /stations/:id/operator. */
export type StationOperatorView = z.infer<typeof StationOperatorView>;

/** The answer to POST /campaigns/:id/csv: what was stored (never a value). */
export const CampaignCsvView = z
  .object({
    campaignId: Id,
    rowsAdded: z.number().int(),
    rowsTotal: z.number().int().describe('Data rows the campaign holds now'),
    rowsFree: z.number().int().describe('Rows no board has taken yet'),
    columns: z.array(z.string()).describe('Column names (without the ":secret" suffix)'),
    secretColumns: z.array(z.string()),
    keyedByMac: z
      .boolean()
      .describe('Rows belong to the board named in their mac column; else taken in order'),
  })
  .strict();
/** The answer to POST /campaigns/:id/csv. */
export type CampaignCsvView = z.infer<typeof CampaignCsvView>;

/** One flash region as a unit record keeps it. */
export const RegionRecord = z
  .object({
    offset: z.number().int(),
    size: z.number().int(),
    sha256: nullable(z.string()),
    md5: nullable(z.string()),
    verifiedMd5: nullable(z.string()),
  })
  .strict();
/** One flash region as a unit record keeps it. */
export type RegionRecord = z.infer<typeof RegionRecord>;

/** The traceability record QA gets for every unit of a campaign (the CSV export has one column per field). */
export const UnitRecord = z
  .object({
    campaignId: Id,
    campaignName: z.string(),
    unitId: Id,
    mac: nullable(z.string()).describe('Null for a fixture cycle whose unit never reached the bootloader'),
    retest: z.boolean().describe('The same board was a unit of this campaign before'),
    serial: nullable(z.string()).describe('The serial number allocated to the unit (void if it failed)'),
    slot: nullable(z.string()).describe('The fixture slot (port) of a station cycle'),
    chip: z.string(),
    chipRevision: nullable(z.string()),
    chipDescription: nullable(z.string()),
    flashId: nullable(z.string()),
    flashSizeBytes: nullable(z.number().int()),
    firmwareId: Id,
    firmwareName: z.string(),
    firmwareVersion: nullable(z.string()),
    firmwareSha256: z.string(),
    regions: z.array(RegionRecord),
    baud: nullable(z.number().int()),
    attempts: z.number().int(),
    retries: z.number().int(),
    agent: nullable(z.string()),
    port: nullable(z.string()),
    operator: z.string(),
    jobId: nullable(Id),
    runId: nullable(Id),
    result: z.enum(CAMPAIGN_UNIT_STATUSES),
    errorCode: nullable(z.string()).describe(
      'A run error code, or the code that kept the unit from starting',
    ),
    errorMessage: nullable(z.string()),
    queuedAt: Instant,
    startedAt: nullable(Instant),
    finishedAt: nullable(Instant),
    dataSha256: nullable(z.string()).describe(
      "SHA-256 of the unit's per-unit data region (its NVS partition); null without an NVS recipe",
    ),
    csvRow: nullable(z.number().int()).describe(
      'The 1-based number of the CSV data row the unit used (never its values)',
    ),
    operatorName: nullable(z.string()).describe(
      'The operator at the station when the unit came (POST /stations/:id/operator or next)',
    ),
    bootCheck: z
      .object({
        result: z.enum(['passed', 'failed', 'not_run']),
        matched: nullable(z.string()).describe('The console text the pattern matched'),
      })
      .strict(),
    timings: nullable(z.record(z.string(), z.number())).describe(
      "The last run's stage timings in ms (fetchMs, waitPortMs, flashMs, bootCheckMs, totalMs)",
    ),
  })
  .strict();
/** A campaign unit's traceability record. */
export type UnitRecord = z.infer<typeof UnitRecord>;

/** A page of unit records. */
export const UnitRecordPage = pageOf(UnitRecord);

/** Every unit record of a campaign (GET /campaigns/:id/export.json). */
export const UnitRecordList = z.array(UnitRecord);

/** One dependency's answer to the health check. */
const HealthCheck = z
  .object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() })
  .strict();

/** GET /health: 200 when every dependency answered, 503 otherwise. */
export const HealthView = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checks: z
      .object({
        database: HealthCheck.extend({ kind: z.enum(['postgres', 'embedded']) }).strict(),
        redis: HealthCheck,
        agentEvents: HealthCheck.extend({
          lastReadAgoMs: z.number().describe('Time since the agent event intake last completed a read'),
        })
          .strict()
          .describe(
            'The intake of agent events: fails while no read has succeeded for FLASHFARM_EVENTS_STALL_MS',
          ),
      })
      .strict(),
  })
  .strict();
/** GET /health. */
export type HealthView = z.infer<typeof HealthView>;

/** Something people watching the farm should know (GET /farm-events): MAC conflicts, refused impostors, unreachable queues. */
export const FarmEventView = z
  .object({
    id: Id,
    at: Instant,
    type: z.enum(FARM_EVENT_TYPES),
    severity: z.enum(FARM_EVENT_SEVERITIES),
    message: z.string(),
    agentId: nullable(Id),
    deviceId: nullable(Id),
    mac: nullable(z.string()),
    details: z
      .record(z.string(), z.unknown())
      .describe('Type-specific facts (the ports of a conflict, the names of a refusal)'),
  })
  .strict();
/** A farm event. */
export type FarmEventView = z.infer<typeof FarmEventView>;

/** A page of farm events, newest first. */
export const FarmEventPage = pageOf(FarmEventView);
