/**
 * The agent's configuration: parsed once from the environment into a typed,
 * validated object. Agents need Redis and the api's URL with an agent token,
 * never database credentials.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
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

const schema = z.object({
  FLASHFARM_URL: httpUrl.default('http://127.0.0.1:8080'),
  FLASHFARM_AGENT_TOKEN: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().trim().min(16).optional(),
  ),
  REDIS_URL: z.preprocess((v) => (v === '' ? undefined : v), z.string().trim().optional()),
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
  FLASHFARM_AGENT_MAX_PARALLEL: z.coerce
    .number({ message: 'must be a whole number from 1 to 256' })
    .int('must be a whole number from 1 to 256')
    .min(1, 'must be a whole number from 1 to 256')
    .max(256, 'must be a whole number from 1 to 256')
    .default(8),
  FLASHFARM_AGENT_HEARTBEAT_MS: z.coerce
    .number({ message: 'must be milliseconds from 200 to 60000' })
    .int('must be milliseconds from 200 to 60000')
    .min(200, 'must be milliseconds from 200 to 60000')
    .max(60_000, 'must be milliseconds from 200 to 60000')
    .default(5_000),
  FLASHFARM_LOG_FORMAT: z.enum(['json', 'pretty'], { message: 'must be "json" or "pretty"' }).default('json'),
});

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
}

/** Parses the environment; throws ConfigError naming each bad variable. */
export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const e = parseEnv(schema, env, 'agent');
  return {
    apiUrl: e.FLASHFARM_URL.replace(/\/+$/, ''),
    agentToken: e.FLASHFARM_AGENT_TOKEN,
    redis: { url: e.REDIS_URL },
    dataDir: path.resolve(e.FLASHFARM_DATA_DIR),
    name: e.FLASHFARM_AGENT_NAME,
    maxParallel: e.FLASHFARM_AGENT_MAX_PARALLEL,
    heartbeatMs: e.FLASHFARM_AGENT_HEARTBEAT_MS,
    logFormat: e.FLASHFARM_LOG_FORMAT,
  };
}
