/**
 * `npm run start:agent`: the flashfarm agent on this USB host. Stops cleanly
 * on SIGINT/SIGTERM; refuses to start on invalid configuration.
 */
import { loadAgentConfig } from './config/agent-config.js';
import { createAgentApp, createAgentLogger, type AgentApp } from './agent.factory.js';

async function main(): Promise<void> {
  const config = loadAgentConfig();
  const logger = createAgentLogger(config.logFormat);
  const running: { agent?: AgentApp } = {};
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: stopping`, 'shutdown');
    if (!running.agent) process.exit(0);
    running.agent.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(error instanceof Error ? error.message : String(error), undefined, 'shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  running.agent = await createAgentApp(config, { logger });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `flashfarm agent failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
