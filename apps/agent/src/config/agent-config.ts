/**
 * The agent's configuration: parsed once from the environment into a typed,
 * validated object. Agents need Redis and the api's URL with an agent token,
 * never database credentials.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { RETRY_BUDGETS } from '#contracts';
import { parseEnv } from '#runtime';

const httpUrl = z
  .string()
  .trim()
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be the api base URL, such as http://farm.example:8080');

const blankIsUnset = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);

/** A comma-separated list; blanks dropped. */
const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string()).default([]),
);

const STATIC_PORT = /^(rfc2217:\/\/[^/\s:]+:\d{1,5}\/?|\/\S+|COM\d+)$/i;

const bool = (fallback: boolean) =>
  z.preprocess(
    (v) => (v === undefined || v === '' ? fallback : v),
    z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])], {
        message: 'must be true or false',
      })
      .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes' || v === 'on'),
  );

const wholeNumber = (min: number, max: number, unit: string, fallback: number) => {
  const message = `must be ${unit} from ${min} to ${max}`;
  return z.coerce.number({ message }).int(message).min(min, message).max(max, message).default(fallback);
};

const schema = z.object({
  FLASHFARM_URL: httpUrl.default('http://127.0.0.1:8080'),
  FLASHFARM_AGENT_TOKEN: z.preprocess(blankIsUnset, z.string().trim().min(16).optional()),
  REDIS_URL: z.preprocess(blankIsUnset, z.string().trim().optional()),
  FLASHFARM_DATA_DIR: z.string().trim().min(1).default('.flashfarm'),
  FLASHFARM_AGENT_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"')
    .default(
      os
        .hostname()
        .replace(/[^A-Za-z0-9._-]/g, '-')
        .slice(0, 63) || 'agent',
    ),
  FLASHFARM_AGENT_MAX_PARALLEL: wholeNumber(1, 256, 'a whole number', 8),
  FLASHFARM_AGENT_HEARTBEAT_MS: wholeNumber(200, 60_000, 'milliseconds', 5_000),
  FLASHFARM_LOG_FORMAT: z.enum(['json', 'pretty'], { message: 'must be "json" or "pretty"' }).default('json'),
  FLASHFARM_AGENT_PORTS: list.superRefine((ports, ctx) => {
    const bad = ports.filter((p) => !STATIC_PORT.test(p));
    if (bad.length > 0)
      ctx.addIssue({
        code: 'custom',
        message: `${bad.map((p) => `"${p}"`).join(', ')}: each entry must be a device path (/dev/ttyUSB0, COM3) or rfc2217://host:port`,
      });
  }),
  FLASHFARM_AGENT_ALLOW: list,
  FLASHFARM_AGENT_DENY: list,
  FLASHFARM_AGENT_DISCOVERY: bool(true),
  FLASHFARM_AGENT_DISCOVERY_MS: wholeNumber(200, 600_000, 'milliseconds', 2_000),
  FLASHFARM_AGENT_CACHE_DIR: z.preprocess(blankIsUnset, z.string().trim().optional()),
  FLASHFARM_AGENT_CONSOLE: bool(true),
  FLASHFARM_AGENT_SHUTDOWN_GRACE_MS: wholeNumber(0, 600_000, 'milliseconds', 10_000),
  FLASHFARM_AGENT_RUN_LOCK_MS: wholeNumber(2_000, 600_000, 'milliseconds', 30_000),
  FLASHFARM_AGENT_RUN_RETRIES: wholeNumber(0, 10, 'a whole number', RETRY_BUDGETS.agent.sameBoardRetries),
  FLASHFARM_AGENT_REOPEN_WAIT_MS: wholeNumber(0, 120_000, 'milliseconds', 10_000),
  FLASHFARM_AGENT_FIXTURES: list.superRefine((entries, ctx) => {
    const bad = entries.filter((x) => !parseFixture(x));
    if (bad.length > 0)
      ctx.addIssue({
        code: 'custom',
        message: `${bad.map((x) => `"${x}"`).join(', ')}: each entry must be <port>[=probe|appear|manual|lid:cd|lid:cts|lid:dsr[:inv]], the port as in FLASHFARM_AGENT_PORTS or a discovered device path`,
      });
    // Only the RFC 2217 client reports modem lines so far: a lid on a local port would never trigger.
    const localLids = entries.flatMap((x) => {
      const f = parseFixture(x);
      return f?.lid && !/^rfc2217:\/\//i.test(f.port) ? [f.port] : [];
    });
    if (localLids.length > 0)
      ctx.addIssue({
        code: 'custom',
        message: `${localLids.join(', ')}: a lid trigger needs an rfc2217:// port (a ser2net or esp_rfc2217_server port in front of the bridge); local serial ports have no lid trigger yet`,
      });
  }),
  FLASHFARM_AGENT_FIXTURE_POLL_MS: wholeNumber(200, 60_000, 'milliseconds', 1_000),
  FLASHFARM_AGENT_PROBE_BACKOFF_MAX_MS: wholeNumber(1_000, 300_000, 'milliseconds', 30_000),
});

/** How a fixture slot notices a new unit. */
export type FixtureTrigger = (typeof FIXTURE_TRIGGERS)[number];
/** The cycle triggers a fixture slot can use. */
export const FIXTURE_TRIGGERS = ['probe', 'appear', 'manual', 'lid'] as const;

/** The modem inputs a lid switch can be wired to. */
export const LID_LINES = ['cd', 'cts', 'dsr'] as const;

/** How a fixture's "lid closed" switch reaches the agent: a modem input of the port's bridge. */
export interface LidWiring {
  line: (typeof LID_LINES)[number];
  /** The line is asserted while the lid is open (a normally-closed contact). */
  inverted: boolean;
}

/** "port=trigger" (trigger defaults to probe; "lid:<line>[:inv]" for a lid), or undefined when malformed. */
function parseFixture(entry: string): { port: string; trigger: FixtureTrigger; lid?: LidWiring } | undefined {
  const at = entry.lastIndexOf('=');
  const port = (at < 0 ? entry : entry.slice(0, at)).trim().replace(/\/$/, '');
  const trigger = at < 0 ? 'probe' : entry.slice(at + 1).trim();
  if (!port) return undefined;
  const lid = /^lid:(cd|cts|dsr)(:inv)?$/i.exec(trigger);
  if (lid)
    return {
      port,
      trigger: 'lid',
      lid: { line: lid[1].toLowerCase() as LidWiring['line'], inverted: lid[2] !== undefined },
    };
  if (trigger === 'lid' || !(FIXTURE_TRIGGERS as readonly string[]).includes(trigger)) return undefined;
  return { port, trigger: trigger as FixtureTrigger };
}

/** The agent's validated configuration. */
export interface AgentConfig {
  apiUrl: string;
  agentToken?: string;
  redis: { url?: string };
  dataDir: string;
  name: string;
  maxParallel: number;
  heartbeatMs: number;
  logFormat: 'json' | 'pretty';
  ports: {
    /** Ports always used: device paths and rfc2217://host:port URLs (ser2net, remote hubs, simulated boards). */
    static: string[];
    /** Globs a discovered port (path or /dev/serial/by-id alias) must match; empty = any. */
    allow: string[];
    /** Globs that exclude a discovered port; deny wins over allow. */
    deny: string[];
    /** List the host's USB serial ports periodically (hot-plug). */
    discovery: boolean;
    discoveryIntervalMs: number;
  };
  /** Firmware parts by SHA-256. */
  cacheDir: string;
  /** Whether the console streaming the api can switch on is available at all. */
  console: boolean;
  /** SIGTERM: how long runs in flight may go on before they are aborted and handed back. */
  shutdownGraceMs: number;
  /** BullMQ lock of a running run; after a crash the run is redelivered once this expires. */
  runLockMs: number;
  /** Extra attempts on the same board for transient failures. */
  runRetries: number;
  /** How long a port that vanished mid-run may take to come back before the run ends with DEVICE_GONE. */
  reopenWaitMs: number;
  /**
   * Fixture slots: ports whose unit changes every cycle (a test jig's bridge stays, the module under
   * it does not), by port path, with the trigger that starts a cycle.
   */
  fixtures: Map<string, FixtureTrigger>;
  /** The lid wiring of each `lid` fixture slot, by port path. */
  fixtureLids: Map<string, LidWiring>;
  /** How often an idle probe-triggered fixture slot is probed for a new unit. */
  fixturePollMs: number;
  /**
   * The longest pause between probes of an empty port that is not a fixture slot (the pause doubles
   * from 1 s after each probe that finds nothing): how late a board plugged into a long-empty
   * rfc2217 port can be noticed, against how often an empty port is opened and reset.
   */
  probeBackoffMaxMs: number;
}

/** Parses the environment; throws ConfigError naming each bad variable. */
export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const e = parseEnv(schema, env, 'agent');
  const dataDir = path.resolve(e.FLASHFARM_DATA_DIR);
  return {
    apiUrl: e.FLASHFARM_URL.replace(/\/+$/, ''),
    agentToken: e.FLASHFARM_AGENT_TOKEN,
    redis: { url: e.REDIS_URL },
    dataDir,
    name: e.FLASHFARM_AGENT_NAME,
    maxParallel: e.FLASHFARM_AGENT_MAX_PARALLEL,
    heartbeatMs: e.FLASHFARM_AGENT_HEARTBEAT_MS,
    logFormat: e.FLASHFARM_LOG_FORMAT,
    ports: {
      static: e.FLASHFARM_AGENT_PORTS.map((p) => p.replace(/\/$/, '')),
      allow: e.FLASHFARM_AGENT_ALLOW,
      deny: e.FLASHFARM_AGENT_DENY,
      discovery: e.FLASHFARM_AGENT_DISCOVERY,
      discoveryIntervalMs: e.FLASHFARM_AGENT_DISCOVERY_MS,
    },
    cacheDir: e.FLASHFARM_AGENT_CACHE_DIR
      ? path.resolve(e.FLASHFARM_AGENT_CACHE_DIR)
      : path.join(dataDir, 'firmware-cache'),
    console: e.FLASHFARM_AGENT_CONSOLE,
    shutdownGraceMs: e.FLASHFARM_AGENT_SHUTDOWN_GRACE_MS,
    runLockMs: e.FLASHFARM_AGENT_RUN_LOCK_MS,
    runRetries: e.FLASHFARM_AGENT_RUN_RETRIES,
    reopenWaitMs: e.FLASHFARM_AGENT_REOPEN_WAIT_MS,
    fixtures: new Map(
      e.FLASHFARM_AGENT_FIXTURES.map(parseFixture).flatMap((f) => (f ? [[f.port, f.trigger] as const] : [])),
    ),
    fixtureLids: new Map(
      e.FLASHFARM_AGENT_FIXTURES.map(parseFixture).flatMap((f) => (f?.lid ? [[f.port, f.lid] as const] : [])),
    ),
    fixturePollMs: e.FLASHFARM_AGENT_FIXTURE_POLL_MS,
    probeBackoffMaxMs: e.FLASHFARM_AGENT_PROBE_BACKOFF_MAX_MS,
  };
}
