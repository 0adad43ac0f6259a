/**
 * Where the agent's run queue is. An agent joins a farm with the api URL and its token only: the api
 * names the farm's Redis in its answer to the registration. REDIS_URL on the agent overrides it. An
 * agent that cannot learn or reach the farm's queue stops with one line naming what is missing; it never
 * starts a private redis-server of its own unless the api is on this very host (the one-machine farm).
 */
import os from 'node:os';
import { packageVersion, pingRedis, StartupError } from '#runtime';
import { AgentApiClient, ApiRequestError } from '../api/agent-api.client.js';
import type { AgentConfig } from '../config/agent-config.js';

/** How long the agent tries to reach the api for its queue before it gives up (the ping of Redis comes after). */
export const QUEUE_LOOKUP_DEADLINE_MS = 6_000;
/** How long the farm's Redis may take to answer a ping. */
const QUEUE_PING_TIMEOUT_MS = 3_000;
const RETRY_PAUSE_MS = 500;

/** True for an api URL on this host (loopback), where a private local Redis is the api's own as well. */
export function isLocalApi(apiUrl: string): boolean {
  const host = new URL(apiUrl).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A Redis URL without its password, for logs and messages. */
export function redactedRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/** The start-up error for a registration the api refused (401 unknown token, 403 wrong role or agent). */
export function tokenRefused(err: ApiRequestError, apiUrl: string): StartupError {
  const why = err.detail ?? err.message;
  if (err.status === 401)
    return new StartupError(
      'FLASHFARM_AGENT_TOKEN',
      `the api at ${apiUrl} refused this token (401: ${why}). Create an agent token for this farm (flashfarm token create --name NAME --role agent) and set FLASHFARM_AGENT_TOKEN to it.`,
    );
  if (err.code === 'AGENT_IDENTITY_REFUSED')
    return new StartupError(
      'FLASHFARM_AGENT_TOKEN',
      `the api at ${apiUrl} refused this token for this agent (403: ${why}). Give each agent its own token, or set FLASHFARM_AGENT_NAME to the agent this token belongs to.`,
    );
  return new StartupError(
    'FLASHFARM_AGENT_TOKEN',
    `the api at ${apiUrl} accepted this token but not for an agent (403: ${why}). Set FLASHFARM_AGENT_TOKEN to a token with role agent (flashfarm token create --name NAME --role agent).`,
  );
}

/**
 * The Redis URL the agent uses: REDIS_URL, else the one the api hands out (checked to answer from
 * here); undefined only when the api is on this host and does not answer yet (then the local Redis
 * the api shares through the data directory is used, as before). Throws StartupError otherwise.
 */
export async function resolveQueueUrl(
  config: AgentConfig,
  log: (message: string) => void,
): Promise<string | undefined> {
  if (config.redis.url) return config.redis.url;
  const local = isLocalApi(config.apiUrl);
  const api = new AgentApiClient(config.apiUrl, config.agentToken);
  const deadline = Date.now() + QUEUE_LOOKUP_DEADLINE_MS;
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    try {
      const answer = await api.register(
        {
          name: config.name,
          hostname: os.hostname(),
          version: packageVersion(),
          maxParallel: config.maxParallel,
        },
        AbortSignal.timeout(Math.max(500, deadline - Date.now())),
      );
      const url = answer.queue?.redisUrl;
      if (!url) {
        if (local) return undefined;
        throw new StartupError(
          'REDIS_URL',
          `the api at ${config.apiUrl} does not hand out its queue connection (an older api); set REDIS_URL to the farm's Redis (redis://user:password@host:6379).`,
        );
      }
      try {
        await pingRedis(url, QUEUE_PING_TIMEOUT_MS);
      } catch (err) {
        throw new StartupError(
          'REDIS_URL',
          `the api at ${config.apiUrl} names the farm's queue at ${redactedRedisUrl(url)}, which does not answer from this host (${(err as Error).message}). Set FLASHFARM_AGENT_REDIS_URL on the api to an address agents can reach (with its password), or REDIS_URL on this agent.`,
        );
      }
      log(`the api named the farm's queue: ${redactedRedisUrl(url)}`);
      return url;
    } catch (err) {
      if (err instanceof StartupError) throw err;
      if (err instanceof ApiRequestError && !err.transient) throw tokenRefused(err, config.apiUrl);
      lastError = (err as Error).message;
      await new Promise((r) => setTimeout(r, Math.min(RETRY_PAUSE_MS, Math.max(0, deadline - Date.now()))));
    }
  }
  if (local) return undefined;
  throw new StartupError(
    'FLASHFARM_URL',
    `the api at ${config.apiUrl} does not answer (${lastError}), and the agent learns the farm's queue from it. Check FLASHFARM_URL and that the api runs, or set REDIS_URL to the farm's Redis.`,
  );
}
