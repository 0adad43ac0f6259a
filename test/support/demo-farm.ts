/**
 * The demo farm (scripts/demo.ts: api, agent, simulated boards) started for a
 * test on its own database, Redis database and data directory, all removed
 * again by `close()`.
 */
import fs from 'node:fs';
import { startDemoFarm, type DemoFarm, type DemoFarmOptions } from '../../scripts/demo.js';
import { createTestDatabase } from './database.js';
import { openApiCheckFor, responseRecorder } from './openapi-check.js';
import { createTestRedisUrl } from './redis.js';
import { scratchDir } from './scratch.js';

/** A test's demo farm and the directory it keeps its data in. */
export interface TestDemoFarm {
  farm: DemoFarm;
  /** The farm's data directory (scratch space for the test too). */
  work: string;
  /** Stops the farm, drops its database and removes the directory. */
  close: () => Promise<void>;
}

/** Starts a farm named after the agent; options other than `env` pass through to startDemoFarm. */
export async function startTestDemoFarm(
  agentName: string,
  options: Omit<DemoFarmOptions, 'env'> = {},
): Promise<TestDemoFarm> {
  const work = scratchDir(`flashfarm-${agentName}`);
  const database = await createTestDatabase();
  const cleanUp = async (): Promise<void> => {
    await database.drop();
    fs.rmSync(work, { recursive: true, force: true });
  };
  let farm: DemoFarm;
  // Every answer is held to the OpenAPI document, as with the test api (support/openapi-check.ts).
  const openApiViolations: string[] = [];
  try {
    farm = await startDemoFarm({
      ...options,
      beforeListen: (api) => api.app.use(responseRecorder(openApiCheckFor(api.document), openApiViolations)),
      env: {
        DATABASE_URL: database.url,
        REDIS_URL: await createTestRedisUrl(),
        FLASHFARM_PORT: '0',
        FLASHFARM_HOST: '127.0.0.1',
        FLASHFARM_DATA_DIR: work,
        FLASHFARM_AGENT_NAME: agentName,
      },
    });
  } catch (err) {
    // The suite's afterAll never sees a farm that failed to start, so nothing else would clean up.
    await cleanUp();
    throw err;
  }
  return {
    farm,
    work,
    close: async () => {
      try {
        await farm.stop();
      } finally {
        await cleanUp();
      }
      if (openApiViolations.length)
        throw new Error(
          `The api answered differently from its OpenAPI document:\n${[...new Set(openApiViolations)].join('\n')}`,
        );
    },
  };
}
