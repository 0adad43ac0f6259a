/**
 * `npm run start:api`: the flashfarm api on the configured host and port.
 * Invalid configuration or unreachable dependencies end the process with a
 * message naming the variable to fix.
 */
import { loadApiConfig } from './config/api-config.js';
import { createApiApp, createLogger, type ApiApp } from './app.factory.js';

async function main(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger(config.logFormat);
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
  await api.app.listen(config.http.port, config.http.host);
  const url = (await api.app.getUrl()).replace('[::1]', 'localhost');
  logger.log(`flashfarm api listening on ${url} (OpenAPI at /api/docs)`, 'startup');
}

main().catch((error: unknown) => {
  process.stderr.write(
    `flashfarm api failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
