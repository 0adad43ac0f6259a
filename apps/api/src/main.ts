/**
 * `npm run start:api` (or `node dist/apps/api/src/main.js`): the flashfarm api
 * on the configured host and port. A configuration the api cannot start with
 * (a bad variable, the port taken, Redis or PostgreSQL unreachable) ends the
 * process with exit code 1 and one line per problem naming the variable and
 * the fix; no stack trace.
 */
import { assertCanListen, listenFailure, startupFailureText } from '#runtime';
import { loadApiConfig } from './config/api-config.js';
import { createApiApp, createLogger, type ApiApp } from './app.factory.js';

async function main(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger(config.logFormat);
  // Before Redis, the database and migrations: a taken port is known in milliseconds.
  await assertCanListen(config.http.host, config.http.port);
  // Signals are ours from the start: a stop during start-up still runs the
  // exit hooks (which stop a local redis-server we started).
  const running: { api?: ApiApp } = {};
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down`, 'shutdown');
    if (!running.api) process.exit(0);
    running.api.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(error instanceof Error ? error.message : String(error), undefined, 'shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const api = await createApiApp(config, { logger });
  running.api = api;
  try {
    await api.app.listen(config.http.port, config.http.host);
  } catch (error) {
    await api.close().catch(() => undefined);
    throw listenFailure(error, config.http);
  }
  const url = (await api.app.getUrl()).replace('[::1]', 'localhost');
  logger.log(`flashfarm api listening on ${url} (OpenAPI at /api/docs)`, 'startup');
}

main().catch((error: unknown) => {
  process.stderr.write(startupFailureText('api', error));
  process.exit(1);
});
