/** A Redis logical database per test suite, so suites running in parallel never see each other's keys. */
import { Redis } from 'ioredis';
import { testServices } from './services.js';

const COUNTER_KEY = 'flashfarm:test:next-db';

/** A Redis URL selecting a database no other suite of this run uses. */
export async function createTestRedisUrl(): Promise<string> {
  const { redisUrl } = testServices();
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    // db 0 holds the counter; the server is started with 1024 databases.
    const db = await client.incr(COUNTER_KEY);
    if (db >= 1024) throw new Error('more than 1023 suites asked for a Redis database in one run');
    return `${redisUrl}/${db}`;
  } finally {
    client.disconnect();
  }
}
