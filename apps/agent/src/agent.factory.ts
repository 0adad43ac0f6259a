/**
 * Builds the agent: Redis first (fail fast), then the Nest application
 * context. Used by main.ts, the demo and the tests.
 */
import 'reflect-metadata';
import { ConsoleLogger, type INestApplicationContext, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { ensureRedis, type RedisEndpoint, type StartupError } from '#runtime';
import type { AgentConfig } from './config/agent-config.js';
import { AgentModule } from './agent.module.js';
import { AgentRuntime } from './lifecycle/agent-runtime.js';
import { redactedRedisUrl, resolveQueueUrl } from './lifecycle/queue-connection.js';

/** A running agent. */
export interface AgentApp {
  context: INestApplicationContext;
  redisEndpoint: RedisEndpoint;
  /** Settles when the agent gave up for a reason only an operator can fix (its token was refused). */
  failed: Promise<StartupError>;
  close(): Promise<void>;
}

/** The agent's logger: JSON lines or Nest's pretty output. */
export function createAgentLogger(format: AgentConfig['logFormat']): LoggerService {
  return new ConsoleLogger({ json: format === 'json', prefix: 'flashfarm-agent' });
}

/** Connects to Redis and starts the agent's application context. */
export async function createAgentApp(
  config: AgentConfig,
  options: { logger?: LoggerService | false } = {},
): Promise<AgentApp> {
  const logger = options.logger === undefined ? createAgentLogger(config.logFormat) : options.logger;
  const log = (message: string): void => {
    if (logger) logger.log(message, 'startup');
  };
  // REDIS_URL, else the farm's queue as the api names it; a private local Redis only beside a local api.
  const queueUrl = await resolveQueueUrl(config, log);
  const redisEndpoint = await ensureRedis({ url: queueUrl, dataDir: config.dataDir, log });
  const redis = new Redis(redisEndpoint.url, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // ioredis reconnects; run-level code reports failures where they matter
  let context: INestApplicationContext;
  try {
    context = await NestFactory.createApplicationContext(AgentModule.register(config, redis), {
      logger: logger === false ? false : logger,
    });
  } catch (error) {
    redis.disconnect();
    await redisEndpoint.close();
    throw error;
  }
  log(`agent ${config.name} connected to Redis ${redactedRedisUrl(redisEndpoint.url)}; api ${config.apiUrl}`);
  return {
    context,
    redisEndpoint,
    failed: context.get(AgentRuntime).failed,
    close: async () => {
      await context.close();
      await redisEndpoint.close();
    },
  };
}
