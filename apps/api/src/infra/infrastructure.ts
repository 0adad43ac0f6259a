/**
 * Everything the api needs before Nest starts: the database (migrated) and
 * Redis. Opening them first makes a bad DATABASE_URL or an unreachable Redis
 * fail fast with a clear message instead of hanging inside module init.
 */
import { Redis } from 'ioredis';
import { ensureRedis, type RedisEndpoint } from '#runtime';
import type { ApiConfig } from '../config/api-config.js';
import { openDatabase, type Database } from './database.js';

/** The api's open connections. */
export interface Infrastructure {
  database: Database;
  redisEndpoint: RedisEndpoint;
  /** Shared connection for commands (BullMQ workers create their own). */
  redis: Redis;
  close(): Promise<void>;
}

/** Opens Redis and the database; on failure closes whatever was opened. */
export async function openInfrastructure(
  config: ApiConfig,
  log: (message: string) => void,
): Promise<Infrastructure> {
  const redisEndpoint = await ensureRedis({ url: config.redis.url, dataDir: config.dataDir, log });
  let database: Database;
  try {
    database = await openDatabase(config, log);
  } catch (error) {
    await redisEndpoint.close();
    throw error;
  }
  // maxRetriesPerRequest null: BullMQ needs blocking commands to wait through reconnects.
  const redis = new Redis(redisEndpoint.url, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // surfaced by /health; ioredis keeps reconnecting
  return {
    database,
    redisEndpoint,
    redis,
    close: async () => {
      redis.disconnect();
      await database.close();
      await redisEndpoint.close();
    },
  };
}
