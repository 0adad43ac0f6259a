/**
 * The contract of what the dashboard reads besides the resource routes: who
 * the caller is, which chips the farm supports, the farm-wide event stream's
 * payloads, and the aggregate statistics (GET /stats/...). Same rules as
 * api-views.ts: zod schemas, closed objects, instants as ISO 8601 strings.
 */
import { z } from 'zod';
import { Instant, RunSnapshot } from './api-views.js';
import { Uuid } from './ids.js';
import { JOB_STATUSES, RUN_STATUSES, TOKEN_ROLES } from './states.js';

/** GET /whoami: the calling token. */
export const WhoamiView = z
  .object({
    tokenId: Uuid,
    name: z.string(),
    role: z.enum(TOKEN_ROLES),
    expiresAt: Instant.nullable().describe('null when the token never expires'),
    queue: z
      .object({ redisUrl: z.string() })
      .strict()
      .optional()
      .describe(
        'Agent tokens only: the queue connection registration would hand out (so `flashfarm agent doctor` checks it without registering)',
      ),
  })
  .strict();
/** GET /whoami. */
export type WhoamiView = z.infer<typeof WhoamiView>;

/** A chip family the farm can flash. */
export const ChipView = z
  .object({
    name: z.string().describe('As the api and the agents name it (esp32s3)'),
    displayName: z.string().describe('As Espressif writes it (ESP32-S3)'),
  })
  .strict();
/** A chip family the farm can flash. */
export type ChipView = z.infer<typeof ChipView>;

/** GET /chips: every supported chip, in esptool's order. */
export const ChipList = z.array(ChipView);

/** A job's state as the farm stream (GET /events) sends it: its status and its slots by status. */
export const FarmJobEvent = z
  .object({
    id: Uuid,
    status: z.enum(JOB_STATUSES),
    startedAt: Instant.nullable(),
    finishedAt: Instant.nullable(),
    slotCounts: z.partialRecord(z.enum(RUN_STATUSES), z.number().int()),
  })
  .strict();
/** A job's state on the farm stream. */
export type FarmJobEvent = z.infer<typeof FarmJobEvent>;

/** A run's state on the farm stream: the snapshot without its progress (runs' own streams carry that). */
export const FarmRunEvent = RunSnapshot.omit({ progress: true }).strict();
/** A run's state on the farm stream. */
export type FarmRunEvent = z.infer<typeof FarmRunEvent>;

/** The first event of every (re)connection to the farm stream. */
export const FarmReadyEvent = z
  .object({
    resumed: z
      .boolean()
      .describe('true when the changes since Last-Event-ID follow; false: reload what you show'),
    serverTime: Instant,
  })
  .strict();
/** The first event of every (re)connection to the farm stream. */
export type FarmReadyEvent = z.infer<typeof FarmReadyEvent>;

/** Bucket widths of the statistics. */
export const STAT_GRAINS = ['hour', 'day'] as const;
/** A bucket width of the statistics. */
export type StatGrain = (typeof STAT_GRAINS)[number];

/** Longest window the statistics answer for, in days. */
export const MAX_STATS_WINDOW_DAYS = 400;
/** Longest window answered in hourly buckets, in days. */
export const MAX_HOURLY_STATS_DAYS = 31;
/** Windows up to this many hours get hourly buckets unless the query says otherwise. */
export const HOURLY_STATS_UP_TO_HOURS = 48;

/** The window and filters every statistics route takes. */
export const StatsQuery = z
  .object({
    from: z.iso
      .datetime({ message: 'from must be an ISO 8601 instant' })
      .optional()
      .describe('Default: to − 7 days'),
    to: z.iso.datetime({ message: 'to must be an ISO 8601 instant' }).optional().describe('Default: now'),
    grain: z
      .enum(STAT_GRAINS, { message: `grain must be one of: ${STAT_GRAINS.join(', ')}` })
      .optional()
      .describe(`Bucket width; default hour for windows up to ${HOURLY_STATS_UP_TO_HOURS} h, day beyond`),
    deviceId: Uuid.optional().describe('Only runs on this board'),
    agentId: Uuid.optional().describe('Only runs on this agent'),
    chip: z.string().max(32).optional().describe('Only runs of firmware for this chip'),
    firmwareId: Uuid.optional().describe('Only runs of this firmware'),
  })
  .strict();
/** The window and filters every statistics route takes. */
export type StatsQuery = z.output<typeof StatsQuery>;

/** What GET /stats/breakdown groups by. */
export const STATS_BREAKDOWNS = ['device', 'agent', 'chip', 'firmware'] as const;
/** Orders of GET /stats/breakdown, worst first where it applies. */
export const STATS_BREAKDOWN_SORTS = ['runs', 'failed', 'yield', 'duration', 'throughput'] as const;

/** GET /stats/breakdown: the common query, what to group by, and which rows come first. */
export const StatsBreakdownQuery = StatsQuery.extend({
  by: z.enum(STATS_BREAKDOWNS, { message: `by must be one of: ${STATS_BREAKDOWNS.join(', ')}` }),
  sort: z
    .enum(STATS_BREAKDOWN_SORTS, { message: `sort must be one of: ${STATS_BREAKDOWN_SORTS.join(', ')}` })
    .default('runs')
    .describe('runs, failed: most first; yield, throughput: lowest first; duration: longest first'),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
}).strict();
/** GET /stats/breakdown. */
export type StatsBreakdownQuery = z.output<typeof StatsBreakdownQuery>;

/** The window a statistics answer covers. */
const StatsWindow = {
  from: Instant,
  to: Instant,
  grain: z.enum(STAT_GRAINS),
};

/** Counts and flash figures of a set of ended runs. */
const RunFigures = {
  runs: z.number().int().describe('Ended runs'),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  meanDurationMs: z.number().nullable().describe('Mean time from start to end of the succeeded runs'),
  maxDurationMs: z.number().int().nullable().describe('Longest succeeded run'),
  throughputBytesPerS: z
    .number()
    .nullable()
    .describe('Effective throughput of the succeeded runs: bytes written ÷ their time from start to end'),
};

/** One bucket of a trend. */
export const TrendPoint = z
  .object({ bucket: Instant.describe('Start of the hour or day'), ...RunFigures })
  .strict();
/** One bucket of a trend. */
export type TrendPoint = z.infer<typeof TrendPoint>;

/** GET /stats/trend: flash time, throughput and outcomes per bucket; buckets without ended runs are left out. */
export const TrendView = z.object({ ...StatsWindow, points: z.array(TrendPoint) }).strict();
/** GET /stats/trend. */
export type TrendView = z.infer<typeof TrendView>;

/** GET /stats/failures: failed runs by error code. */
export const FailureStatsView = z
  .object({
    ...StatsWindow,
    runs: z.number().int().describe('Ended runs in the window'),
    failed: z.number().int(),
    codes: z.array(
      z
        .object({
          errorCode: z.string(),
          runs: z.number().int(),
          rate: z.number().describe('Share of the ended runs that failed with this code (0..1)'),
        })
        .strict(),
    ),
  })
  .strict();
/** GET /stats/failures. */
export type FailureStatsView = z.infer<typeof FailureStatsView>;

/** One row of a breakdown. */
export const BreakdownRow = z
  .object({
    key: z
      .string()
      .describe('Device, agent or firmware id, or chip name; "" for runs without a board or agent'),
    label: z.string().describe('MAC and label, agent name, firmware name and version, or chip'),
    ...RunFigures,
    yield: z.number().nullable().describe('succeeded ÷ (succeeded + failed); null without either'),
  })
  .strict();
/** One row of a breakdown. */
export type BreakdownRow = z.infer<typeof BreakdownRow>;

/** GET /stats/breakdown: ended runs per board, agent, chip or firmware. */
export const BreakdownView = z
  .object({ ...StatsWindow, by: z.enum(STATS_BREAKDOWNS), rows: z.array(BreakdownRow) })
  .strict();
/** GET /stats/breakdown. */
export type BreakdownView = z.infer<typeof BreakdownView>;
