/**
 * The api and the agent as they start for real: health against real
 * PostgreSQL and Redis, the OpenAPI document, the embedded default (PGlite +
 * a local redis-server, no configuration), and failing fast with a message
 * that names the variable when the configuration or a dependency is bad.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, pingRedis } from '#runtime';
import { ConfigError } from '#runtime';
import { loadApiConfig } from '../../apps/api/src/config/api-config.js';
import { startTestApi } from '../support/api-app.js';
import { createTestRedisUrl } from '../support/redis.js';
import { pollUntil, within } from '../support/poll.js';
import { spawnTs, type SpawnedProcess } from '../support/processes.js';
import { scratchDir } from '../support/scratch.js';

const started: SpawnedProcess[] = [];
afterAll(() => started.forEach((p) => p.kill()));

function tempDir(): string {
  return scratchDir('flashfarm-boot');
}

describe('api on PostgreSQL and Redis', () => {
  it('answers /health with both dependencies green and serves its OpenAPI document', async () => {
    const api = await startTestApi();
    try {
      const health = await fetch(`${api.baseUrl}/health`);
      expect(health.status).toBe(200);
      const body = (await health.json()) as {
        status: string;
        checks: Record<string, { ok: boolean; kind?: string }>;
      };
      expect(body.status).toBe('ok');
      expect(body.checks.database).toMatchObject({ ok: true, kind: 'postgres' });
      expect(body.checks.redis).toMatchObject({ ok: true });

      const openapi = (await (await fetch(`${api.baseUrl}/api/openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      expect(Object.keys(openapi.paths)).toContain('/health');
      const docs = await fetch(`${api.baseUrl}/api/docs`);
      expect(docs.status).toBe(200);
      expect(await docs.text()).toContain('swagger');
    } finally {
      await api.close();
    }
  });

  it('reports 503 naming Redis when Redis goes away, and 200 again when it is back', async () => {
    const port = await freePort();
    const dir = tempDir();
    const startRedis = () =>
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      );
    let redis = startRedis();
    const url = `redis://127.0.0.1:${port}`;
    await pollUntil(() => pingRedis(url, 200).then(() => true), { what: 'redis-server to start' });
    const api = await startTestApi({ redisUrl: url });
    try {
      // Ready means 200 soon after start; on a loaded machine a first check may still miss its 2 s bound.
      // A 503 is thrown, so a timeout names its body (which check failed).
      await pollUntil(
        async () => {
          const r = await fetch(`${api.baseUrl}/health`);
          if (r.status !== 200) throw new Error(`${r.status} ${await r.text()}`);
          return true;
        },
        { what: '/health to answer 200 after start', timeoutMs: 20_000, intervalMs: 200 },
      );
      redis.kill('SIGKILL');
      const degraded = await pollUntil(
        async () => {
          const r = await fetch(`${api.baseUrl}/health`);
          return r.status === 503
            ? ((await r.json()) as {
                checks: { redis: { ok: boolean; error?: string }; database: { ok: boolean } };
              })
            : undefined;
        },
        { what: '/health to turn 503' },
      );
      expect(degraded.checks.redis.ok).toBe(false);
      expect(degraded.checks.redis.error).toBeTruthy();
      expect(degraded.checks.database.ok).toBe(true);
      redis = startRedis();
      await pollUntil(async () => (await fetch(`${api.baseUrl}/health`)).status === 200, {
        what: '/health to recover',
        timeoutMs: 40_000,
      });
    } finally {
      // A close that hangs (a client waiting on the Redis that went away) names itself.
      await within(api.close(), 30_000, 'the api to close after the Redis restart');
      redis.kill('SIGKILL');
    }
    // Each step is bounded by its own poll; the whole may take their sum on a loaded CI machine.
  }, 120_000);
});

describe('configuration errors', () => {
  it('names every invalid variable in one message', () => {
    let error: unknown;
    try {
      loadApiConfig({
        DATABASE_URL: 'mysql://db/flashfarm',
        FLASHFARM_PORT: '99999',
        FLASHFARM_LOG_FORMAT: 'xml',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => p.variable).sort();
    expect(problems).toEqual(['DATABASE_URL', 'FLASHFARM_LOG_FORMAT', 'FLASHFARM_PORT']);
    expect((error as ConfigError).message).toContain('postgresql://');
  });

  it('the api process exits fast on a malformed DATABASE_URL, naming it', async () => {
    const p = spawnTs('apps/api/src/main.ts', [], {
      DATABASE_URL: 'not a url',
      FLASHFARM_DATA_DIR: tempDir(),
    });
    started.push(p);
    expect(await p.waitForExit(20_000)).toBe(1);
    expect(p.output()).toMatch(/DATABASE_URL: must be a PostgreSQL URL/);
  });

  it('the api process exits fast when PostgreSQL cannot be reached, naming DATABASE_URL', async () => {
    const port = await freePort();
    const p = spawnTs('apps/api/src/main.ts', [], {
      DATABASE_URL: `postgresql://flashfarm@127.0.0.1:${port}/flashfarm`,
      REDIS_URL: await createTestRedisUrl(),
      FLASHFARM_DATA_DIR: tempDir(),
    });
    started.push(p);
    expect(await p.waitForExit(20_000)).toBe(1);
    expect(p.output()).toMatch(
      /Cannot connect to PostgreSQL at DATABASE_URL \(127\.0\.0\.1:\d+\/flashfarm\): .*ECONNREFUSED/,
    );
  });

  it('the api process exits fast when Redis cannot be reached, naming REDIS_URL', async () => {
    // "Fast" is measured against the same program failing on its configuration, which does no I/O:
    // what remains is loading the api, which takes anything from 2 to 20 s with the machine's load.
    const exitTime = async (env: Record<string, string>) => {
      const startedAt = Date.now();
      const p = spawnTs('apps/api/src/main.ts', [], { FLASHFARM_DATA_DIR: tempDir(), ...env });
      started.push(p);
      expect(await p.waitForExit(60_000)).toBe(1);
      return { ms: Date.now() - startedAt, output: p.output() };
    };
    const baseline = await exitTime({ DATABASE_URL: 'not a url' });
    const port = await freePort();
    const refused = await exitTime({ REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(refused.output).toMatch(/Cannot reach Redis at REDIS_URL \(127\.0\.0\.1:\d+\): ECONNREFUSED/);
    // No retrying: a refused connection ends the start within a few seconds of loading the program.
    expect(refused.ms - baseline.ms).toBeLessThan(5_000);
  }, 150_000);

  it('the agent process refuses invalid configuration, naming the variables', async () => {
    const p = spawnTs('apps/agent/src/main.ts', [], {
      FLASHFARM_URL: 'ftp://farm',
      FLASHFARM_AGENT_MAX_PARALLEL: '0',
    });
    started.push(p);
    expect(await p.waitForExit(20_000)).toBe(1);
    expect(p.output()).toMatch(/FLASHFARM_URL: must be the api base URL/);
    expect(p.output()).toMatch(/FLASHFARM_AGENT_MAX_PARALLEL: must be a whole number from 1 to 256/);
  });
});

describe('processes that boot and stop', () => {
  it('the agent connects to Redis and stops cleanly on SIGTERM', async () => {
    // A token (the agent refuses to start without one) and an api that is not there: the agent
    // keeps trying to register, which is what it does until a SIGTERM.
    const p = spawnTs('apps/agent/src/main.ts', [], {
      REDIS_URL: await createTestRedisUrl(),
      FLASHFARM_DATA_DIR: tempDir(),
      FLASHFARM_AGENT_TOKEN: 'ff_test_agent_token_not_registered',
      FLASHFARM_URL: `http://127.0.0.1:${await freePort()}`,
    });
    started.push(p);
    await p.waitForOutput(/connected to Redis/);
    p.child.kill('SIGTERM');
    expect(await p.waitForExit(15_000)).toBe(0);
    expect(p.output()).toMatch(/SIGTERM: stopping/);
  });

  it('the api starts on the embedded default (PGlite + a local redis-server) with no configuration', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const p = spawnTs('apps/api/src/main.ts', [], {
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      FLASHFARM_DATA_DIR: dataDir,
      FLASHFARM_PORT: String(port),
    });
    started.push(p);
    await p.waitForOutput(/listening on/, 60_000);
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
      status: string;
      checks: { database: { kind: string } };
    };
    expect(health).toMatchObject({
      status: 'ok',
      checks: { database: { ok: true, kind: 'embedded' }, redis: { ok: true } },
    });
    const state = JSON.parse(fs.readFileSync(path.join(dataDir, 'redis.json'), 'utf8')) as {
      url: string;
      pid: number;
    };
    await pingRedis(state.url);
    p.child.kill('SIGTERM');
    expect(await p.waitForExit(20_000)).toBe(0);
    // The redis-server it started is gone with it.
    await pollUntil(
      () =>
        pingRedis(state.url, 200).then(
          () => false,
          () => true,
        ),
      { what: 'the local redis-server to stop' },
    );
    expect(fs.existsSync(path.join(dataDir, 'pglite'))).toBe(true);
  }, 90_000);
});
