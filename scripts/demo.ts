// `npm run demo`: a local farm on the embedded default, with no set-up: the
// api (embedded PostgreSQL via PGlite, a local redis-server) and an agent in
// one process. Ctrl-C stops everything.
import { loadApiConfig } from '../apps/api/src/config/api-config.js';
import { createApiApp, createLogger } from '../apps/api/src/app.factory.js';
import { loadAgentConfig } from '../apps/agent/src/config/agent-config.js';
import { createAgentApp, createAgentLogger } from '../apps/agent/src/agent.factory.js';

async function main(): Promise<void> {
  const started = Date.now();
  const env = { FLASHFARM_LOG_FORMAT: 'pretty', ...process.env };
  const apiConfig = loadApiConfig(env);
  const api = await createApiApp(apiConfig, { logger: createLogger(apiConfig.logFormat) });
  await api.app.listen(apiConfig.http.port, apiConfig.http.host);
  const url = (await api.app.getUrl()).replace('[::1]', 'localhost');

  const agentConfig = loadAgentConfig({ ...env, FLASHFARM_URL: url, REDIS_URL: api.infra.redisEndpoint.url });
  const agent = await createAgentApp(agentConfig, { logger: createAgentLogger(agentConfig.logFormat) });

  const health = (await (await fetch(`${url}/health`)).json()) as { status: string };
  process.stdout.write(
    [
      '',
      `flashfarm demo: farm ready in ${((Date.now() - started) / 1000).toFixed(1)} s (health: ${health.status})`,
      `  api        ${url}`,
      `  health     ${url}/health`,
      `  OpenAPI    ${url}/api/docs`,
      `  database   embedded PGlite in ${apiConfig.dataDir}/pglite`,
      `  redis      ${api.infra.redisEndpoint.url}`,
      `  agent      ${agentConfig.name}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nStopping the demo farm...\n');
    agent
      .close()
      .then(() => api.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `flashfarm demo failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
