/**
 * `npm run start:api`: the flashfarm api on the configured host and port.
 * Invalid configuration or unreachable dependencies end the process with a
 * message naming the variable to fix.
 */
import { loadApiConfig } from './config/api-config.js';
import { createApiApp, createLogger } from './app.factory.js';

async function main(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger(config.logFormat);
  const api = await createApiApp(config, { logger });
  await api.app.listen(config.http.port, config.http.host);
  const url = await api.app.getUrl();
  logger.log(
    `flashfarm api listening on ${url.replace('[::1]', 'localhost')} (OpenAPI at /api/docs)`,
    'startup',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down`, 'shutdown');
    api.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(error instanceof Error ? error.message : String(error), undefined, 'shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `flashfarm api failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
