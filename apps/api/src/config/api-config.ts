/**
 * The api's configuration: parsed once from the environment into a typed,
 * validated object. Nothing else in the api reads process.env.
 */
import path from 'node:path';
import { z } from 'zod';
import { RETRY_BUDGETS } from '#contracts';
import { parseEnv } from '#runtime';

const port = z.coerce
  .number({ message: 'must be a TCP port number' })
  .int('must be a whole number')
  .min(0, 'must be 0-65535')
  .max(65535, 'must be 0-65535');

const postgresUrl = z
  .string()
  .trim()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgresql:' || url.protocol === 'postgres:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a PostgreSQL URL such as postgresql://user:password@host:5432/flashfarm (unset it to use the embedded database)');

const schema = z.object({
  FLASHFARM_HOST: z.string().trim().min(1).default('127.0.0.1'),
  FLASHFARM_PORT: port.default(8080),
  FLASHFARM_DATA_DIR: z.string().trim().min(1).default('.flashfarm'),
  DATABASE_URL: z.preprocess((v) => (v === '' ? undefined : v), postgresUrl.optional()),
  REDIS_URL: z.preprocess((v) => (v === '' ? undefined : v), z.string().trim().optional()),
  FLASHFARM_AGENT_REDIS_URL: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .trim()
      .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL agents can reach, with credentials')
      .optional(),
  ),
  FLASHFARM_FIRMWARE_DIR: z.string().trim().min(1).optional(),
  FLASHFARM_ADMIN_TOKEN: z
    .string()
    .trim()
    .min(24, 'must be at least 24 characters (generate one with: openssl rand -hex 24)')
    .optional(),
  FLASHFARM_MAX_UPLOAD_MB: z.coerce.number().positive('must be a positive number of MiB').default(64),
  FLASHFARM_LOG_FORMAT: z.enum(['json', 'pretty'], { message: 'must be "json" or "pretty"' }).default('json'),
  FLASHFARM_SCHEDULER_INTERVAL_MS: z.coerce.number().int().min(50, 'must be at least 50 ms').default(1000),
  FLASHFARM_RUN_MAX_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1, 'must be 1 or more')
    .max(20)
    .default(RETRY_BUDGETS.api.attemptsPerSlot),
  FLASHFARM_QUARANTINE_AFTER_FAILURES: z.coerce
    .number()
    .int()
    .min(1, 'must be 1 or more')
    .default(RETRY_BUDGETS.api.quarantineAfterFailures),
  FLASHFARM_AGENT_DEAD_AFTER_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(30_000),
  FLASHFARM_DISPATCH_TAKE_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100, 'must be at least 100 ms')
    .default(30_000),
  FLASHFARM_PINNED_REQUEUE_WAIT_MS: z.coerce.number().int().min(0).default(300_000),
  FLASHFARM_CANCEL_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  FLASHFARM_EVENTS_CLAIM_IDLE_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(30_000),
  FLASHFARM_EVENTS_STALL_MS: z.coerce.number().int().min(1000, 'must be at least 1000 ms').default(15_000),
  FLASHFARM_SSE_HEARTBEAT_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(15_000),
  FLASHFARM_SSE_TOKEN_CHECK_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(5_000),
  FLASHFARM_AGENT_HEARTBEAT_MS: z.coerce.number().int().min(50, 'must be at least 50 ms').default(5_000),
  FLASHFARM_WEBHOOK_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100, 'must be at least 100 ms')
    .max(120_000, 'must be at most 120000 ms')
    .default(10_000),
  FLASHFARM_WEBHOOK_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1, 'must be 1 or more')
    .max(20, 'must be at most 20')
    .default(5),
  FLASHFARM_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(10, 'must be at least 10 ms').default(2_000),
  FLASHFARM_WEBHOOK_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1, 'must be 1 or more')
    .max(100, 'must be at most 100')
    .default(4),
  FLASHFARM_METRICS_PUBLIC: z
    .enum(['true', 'false'], { message: 'must be "true" or "false"' })
    .default('false')
    .transform((v) => v === 'true'),
  FLASHFARM_MIGRATE_ON_START: z
    .enum(['true', 'false'], { message: 'must be "true" or "false"' })
    .default('true')
    .transform((v) => v === 'true'),
});

/** The api's validated configuration. */
export interface ApiConfig {
  http: { host: string; port: number };
  dataDir: string;
  database: { kind: 'postgres'; url: string } | { kind: 'embedded'; dir: string };
  redis: { url?: string };
  firmwareDir: string;
  adminToken?: string;
  maxUploadBytes: number;
  logFormat: 'json' | 'pretty';
  migrateOnStart: boolean;
  /** Agents heartbeat this often; one missing 3 heartbeats in a row is marked offline. */
  agents: {
    heartbeatMs: number;
    /**
     * The farm's Redis as agents reach it, handed to them at registration (FLASHFARM_AGENT_REDIS_URL);
     * unset: the api's own Redis URL (right when agents resolve the same host name).
     */
    queueRedisUrl?: string;
  };
  /** Serve /metrics without a token (for a Prometheus inside a trusted network). */
  metricsPublic: boolean;
  /** Binding runs to boards, recovery and retries. */
  scheduler: {
    /** Safety-net scheduling pass period (passes also run on every relevant change). */
    intervalMs: number;
    /** Attempts per slot (first try included) before the slot fails for good. */
    maxAttempts: number;
    /** Consecutive failed runs after which a board is quarantined. */
    quarantineAfterFailures: number;
    /** An agent silent for this long is dead: its runs are failed and re-queued. */
    agentDeadAfterMs: number;
    /**
     * A run still waiting on a heartbeating agent's queue this long after dispatch, with no worker of
     * that agent connected to the farm's Redis: the agent is queue_unreachable and the run is re-queued.
     */
    untakenAfterMs: number;
    /** How long a re-queued run of a pinned-device job waits for its absent board. */
    pinnedRequeueWaitMs: number;
    /** How long a cancelled in-flight run waits for the agent's confirmation. */
    cancelGraceMs: number;
  };
  /** Agent event intake and live streams. */
  events: {
    /** Pending stream entries idle this long (a dead replica's) are claimed by another replica. */
    claimIdleMs: number;
    /** Event intake without a successful read for this long is stalled: /health answers 503. */
    stallMs: number;
    /** Comment lines on idle Server-Sent Event streams. */
    sseHeartbeatMs: number;
    /** How often the tokens of open event streams are read again (ends streams of expired or revoked tokens). */
    sseTokenCheckMs: number;
  };
  /** Campaign webhook deliveries (apps/api/src/webhooks). */
  webhooks: {
    /** One attempt's bound: a receiver that has not answered by then is a failed attempt. */
    timeoutMs: number;
    /** Attempts per delivery, the first included. */
    attempts: number;
    /** Wait before the second attempt; doubled before each later one. */
    backoffMs: number;
    /** Deliveries in flight at once in this api process. */
    concurrency: number;
  };
}

/** Parses the environment; throws ConfigError naming each bad variable. */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const e = parseEnv(schema, env, 'api');
  const dataDir = path.resolve(e.FLASHFARM_DATA_DIR);
  return {
    http: { host: e.FLASHFARM_HOST, port: e.FLASHFARM_PORT },
    dataDir,
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL }
      : { kind: 'embedded', dir: path.join(dataDir, 'pglite') },
    redis: { url: e.REDIS_URL },
    firmwareDir: path.resolve(e.FLASHFARM_FIRMWARE_DIR ?? path.join(dataDir, 'firmware')),
    adminToken: e.FLASHFARM_ADMIN_TOKEN,
    maxUploadBytes: Math.round(e.FLASHFARM_MAX_UPLOAD_MB * 1024 * 1024),
    logFormat: e.FLASHFARM_LOG_FORMAT,
    migrateOnStart: e.FLASHFARM_MIGRATE_ON_START,
    agents: { heartbeatMs: e.FLASHFARM_AGENT_HEARTBEAT_MS, queueRedisUrl: e.FLASHFARM_AGENT_REDIS_URL },
    metricsPublic: e.FLASHFARM_METRICS_PUBLIC,
    scheduler: {
      intervalMs: e.FLASHFARM_SCHEDULER_INTERVAL_MS,
      maxAttempts: e.FLASHFARM_RUN_MAX_ATTEMPTS,
      quarantineAfterFailures: e.FLASHFARM_QUARANTINE_AFTER_FAILURES,
      agentDeadAfterMs: e.FLASHFARM_AGENT_DEAD_AFTER_MS,
      untakenAfterMs: e.FLASHFARM_DISPATCH_TAKE_TIMEOUT_MS,
      pinnedRequeueWaitMs: e.FLASHFARM_PINNED_REQUEUE_WAIT_MS,
      cancelGraceMs: e.FLASHFARM_CANCEL_GRACE_MS,
    },
    events: {
      claimIdleMs: e.FLASHFARM_EVENTS_CLAIM_IDLE_MS,
      stallMs: e.FLASHFARM_EVENTS_STALL_MS,
      sseHeartbeatMs: e.FLASHFARM_SSE_HEARTBEAT_MS,
      sseTokenCheckMs: e.FLASHFARM_SSE_TOKEN_CHECK_MS,
    },
    webhooks: {
      timeoutMs: e.FLASHFARM_WEBHOOK_TIMEOUT_MS,
      attempts: e.FLASHFARM_WEBHOOK_ATTEMPTS,
      backoffMs: e.FLASHFARM_WEBHOOK_BACKOFF_MS,
      concurrency: e.FLASHFARM_WEBHOOK_CONCURRENCY,
    },
  };
}
