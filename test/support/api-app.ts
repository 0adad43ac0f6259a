/** Starts the real api (Nest, PostgreSQL, Redis) on a free port for a test suite. */
import type { LoggerService } from '@nestjs/common';
import { loadApiConfig, type ApiConfig } from '../../apps/api/src/config/api-config.js';
import { createApiApp, type ApiApp } from '../../apps/api/src/app.factory.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { scratchDir } from './scratch.js';
import { openApiCheckFor, responseRecorder } from './openapi-check.js';
import { createTestRedisUrl } from './redis.js';

/** A listening api with its own database and Redis db. */
export interface TestApi {
  baseUrl: string;
  api: ApiApp;
  config: ApiConfig;
  database: TestDatabase;
  redisUrl: string;
  /** Answers that differed from the OpenAPI document so far (close() fails when there are any). */
  openApiViolations: string[];
  /** What the api logged as errors so far (its log is otherwise off). */
  errors: string[];
  close(): Promise<void>;
}

/** Options for startTestApi; env overrides any variable (defaults: a fresh database and Redis db, port 0). */
export interface StartTestApiOptions {
  env?: Record<string, string>;
  /** Reuse a database (e.g. two api instances on one database). */
  database?: TestDatabase;
  redisUrl?: string;
}

/** Builds the api exactly as main.ts does and listens on 127.0.0.1:<free port>. */
export async function startTestApi(options: StartTestApiOptions = {}): Promise<TestApi> {
  const database = options.database ?? (await createTestDatabase());
  const redisUrl = options.redisUrl ?? (await createTestRedisUrl());
  const config = loadApiConfig({
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    FLASHFARM_PORT: '0',
    // Under the run's scratch root, which the global teardown removes.
    FLASHFARM_DATA_DIR: scratchDir('flashfarm-test-api'),
    ...options.env,
  });
  // Quiet, except that errors are kept: a 500 in a test is explained by what the api logged.
  const errors: string[] = [];
  const keep = (message: unknown, ...rest: unknown[]) =>
    errors.push(
      [message, ...rest].map((m) => (m instanceof Error ? (m.stack ?? m.message) : String(m))).join(' '),
    );
  const logger: LoggerService = { log: () => undefined, warn: () => undefined, error: keep, fatal: keep };
  const api = await createApiApp(config, { logger });
  // Every answer of every suite is held to the OpenAPI document (support/openapi-check.ts).
  const openApiViolations: string[] = [];
  api.app.use(responseRecorder(openApiCheckFor(api.document), openApiViolations));
  await api.app.listen(0, '127.0.0.1');
  const server = api.app.getHttpServer() as import('node:http').Server;
  const address = server.address() as { port: number };
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    api,
    config,
    database,
    redisUrl,
    openApiViolations,
    errors,
    close: async () => {
      await api.close();
      if (!options.database) await database.drop();
      if (openApiViolations.length)
        throw new Error(
          `The api answered differently from its OpenAPI document:\n${[...new Set(openApiViolations)].join('\n')}` +
            (errors.length ? `\nThe api logged these errors:\n${errors.slice(-10).join('\n')}` : ''),
        );
    },
  };
}

/**
 * Closes every api, then fails with the first error: one replica's failed close (an undocumented
 * answer, say) must not leave the others running — their Redis clients would keep the in-band Jest
 * process alive after the run, reconnecting to a Redis the global teardown stopped.
 */
export async function closeApis(apis: TestApi[]): Promise<void> {
  const results = await Promise.allSettled(apis.map((api) => api.close()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
