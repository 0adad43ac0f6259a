/**
 * `npm run start:agent` (or `node dist/apps/agent/src/main.js`): the flashfarm
 * agent on this USB host. Stops cleanly on SIGINT/SIGTERM. A configuration it
 * cannot work with (a bad variable, no token, a token the api refuses, Redis
 * unreachable) ends the process with exit code 1 and one line naming the
 * variable and the fix; no stack trace, no endless retries.
 */
import { StartupError, startupFailureText } from '#runtime';
import { loadAgentConfig } from './config/agent-config.js';
import { createAgentApp, createAgentLogger, type AgentApp } from './agent.factory.js';

async function main(): Promise<void> {
  const config = loadAgentConfig();
  if (!config.agentToken)
    throw new StartupError(
      'FLASHFARM_AGENT_TOKEN',
      'not set, and the api refuses agents without one. Create an agent token for this farm (flashfarm token create --name NAME --role agent) and set FLASHFARM_AGENT_TOKEN to it.',
    );
  const logger = createAgentLogger(config.logFormat);
  const running: { agent?: AgentApp } = {};
  let stopping = false;
  const stop = (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: stopping`, 'shutdown');
    if (!running.agent) process.exit(code);
    running.agent.close().then(
      () => process.exit(code),
      (error: unknown) => {
        logger.error(error instanceof Error ? error.message : String(error), undefined, 'shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const agent = await createAgentApp(config, { logger });
  running.agent = agent;
  void agent.failed.then((reason) => {
    process.stderr.write(startupFailureText('agent', reason));
    stop('token refused', 1);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(startupFailureText('agent', error));
  process.exit(1);
});
