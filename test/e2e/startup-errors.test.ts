/**
 * What an operator sees when the api or an agent cannot start: exit code 1
 * and one line on stderr per problem, naming the variable and the fix, with
 * no stack trace, and soon (an agent whose token the api refuses stops; it
 * does not retry a 401 forever). Each case is the real program as a process,
 * against real Redis, PostgreSQL and a real api.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { seedToken } from '../support/fake-agent.js';
import { freePort } from '#runtime';
import { REPO_ROOT } from '../support/processes.js';
import { scratchDir } from '../support/scratch.js';

/** How long a start-up failure may take to be reported (from source, on a loaded machine): no retry loop, no hang. */
const FAIL_WITHIN_MS = 40_000;
jest.setTimeout(FAIL_WITHIN_MS + 20_000);

interface Ended {
  code: number | null;
  stderr: string;
  ms: number;
}

/** Runs an entry point from source to its end (SIGKILL after the bound, which fails the test). */
function runToEnd(program: 'api' | 'agent', env: Record<string, string>): Promise<Ended> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    ['--import', './scripts/register-ts.mjs', `apps/${program}/src/main.ts`],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_OPTIONS: '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), FAIL_WITHIN_MS);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - started });
    }),
  );
}

/** The one line, checked for the variable, the words of the fix and the absence of a stack trace. */
function expectOneLine(ended: Ended, program: string, variable: string, fix: RegExp): void {
  const lines = ended.stderr.split('\n').filter((l) => l.trim() !== '');
  expect({ code: ended.code, lines }).toEqual({ code: 1, lines: [expect.any(String)] });
  expect(lines[0]).toContain(`flashfarm ${program} failed to start: ${variable}`);
  expect(lines[0]).toMatch(fix);
  expect(ended.stderr).not.toMatch(/^\s+at /m);
  expect(ended.ms).toBeLessThan(FAIL_WITHIN_MS);
}

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
}, 60_000);

afterAll(async () => {
  await api?.close();
});

describe('api start-up errors', () => {
  it('a port in use names FLASHFARM_PORT and says to free it or pick another', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const ended = await runToEnd('api', {
        FLASHFARM_PORT: String(port),
        FLASHFARM_HOST: '127.0.0.1',
        DATABASE_URL: api.database.url,
        REDIS_URL: api.redisUrl,
        FLASHFARM_DATA_DIR: scratchDir('startup-api'),
      });
      expectOneLine(ended, 'api', 'FLASHFARM_PORT', new RegExp(`port ${port} .*already in use.*free port`));
    } finally {
      holder.close();
    }
  });

  it('an unreachable Redis names REDIS_URL', async () => {
    const closed = await freePort();
    const ended = await runToEnd('api', {
      FLASHFARM_PORT: '0',
      DATABASE_URL: api.database.url,
      REDIS_URL: `redis://127.0.0.1:${closed}`,
      FLASHFARM_DATA_DIR: scratchDir('startup-api'),
    });
    expectOneLine(ended, 'api', 'Cannot reach Redis at REDIS_URL', /ECONNREFUSED.*unset REDIS_URL/);
  });

  it('an unreachable PostgreSQL names DATABASE_URL', async () => {
    const closed = await freePort();
    const ended = await runToEnd('api', {
      FLASHFARM_PORT: '0',
      DATABASE_URL: `postgresql://flashfarm:secret@127.0.0.1:${closed}/flashfarm`,
      REDIS_URL: api.redisUrl,
      FLASHFARM_DATA_DIR: scratchDir('startup-api'),
    });
    expectOneLine(
      ended,
      'api',
      'Cannot connect to PostgreSQL at DATABASE_URL',
      /ECONNREFUSED.*unset DATABASE_URL/,
    );
  });

  it('a bad variable is one line naming it', async () => {
    const ended = await runToEnd('api', { FLASHFARM_PORT: 'eighty' });
    expectOneLine(ended, 'api', 'FLASHFARM_PORT', /must be a TCP port number/);
  });
});

describe('agent start-up errors', () => {
  const agentEnv = (extra: Record<string, string>) => ({
    FLASHFARM_URL: api.baseUrl,
    REDIS_URL: api.redisUrl,
    FLASHFARM_AGENT_DISCOVERY: 'false',
    FLASHFARM_DATA_DIR: scratchDir('startup-agent'),
    ...extra,
  });

  it('no token names FLASHFARM_AGENT_TOKEN and how to create one', async () => {
    const ended = await runToEnd('agent', agentEnv({}));
    expectOneLine(ended, 'agent', 'FLASHFARM_AGENT_TOKEN: not set', /flashfarm token create .*--role agent/);
  });

  it('a token the api does not know (401) stops the agent instead of retrying forever', async () => {
    const ended = await runToEnd(
      'agent',
      agentEnv({ FLASHFARM_AGENT_TOKEN: 'ff_unknown_token_0123456789abcdef' }),
    );
    expectOneLine(ended, 'agent', 'FLASHFARM_AGENT_TOKEN', /refused this token \(401: .*--role agent/);
  });

  it('a token of another role (403) names the role it needs', async () => {
    const viewer = await seedToken(api.database.url, 'viewer', 'startup-viewer');
    const ended = await runToEnd('agent', agentEnv({ FLASHFARM_AGENT_TOKEN: viewer }));
    expectOneLine(
      ended,
      'agent',
      'FLASHFARM_AGENT_TOKEN',
      /not for an agent \(403: .*role viewer.*role agent/,
    );
  });

  it('an unreachable Redis names REDIS_URL', async () => {
    const agentToken = await seedToken(api.database.url, 'agent', 'startup-agent');
    const closed = await freePort();
    const ended = await runToEnd(
      'agent',
      agentEnv({ FLASHFARM_AGENT_TOKEN: agentToken, REDIS_URL: `redis://127.0.0.1:${closed}` }),
    );
    expectOneLine(ended, 'agent', 'Cannot reach Redis at REDIS_URL', /ECONNREFUSED/);
  });
});

describe('an agent with the api URL and a token only (no REDIS_URL)', () => {
  /** How long the agent itself may take to give up once it runs (the bound); start-up from source comes on top. */
  const GIVES_UP_WITHIN_MS = 10_000;

  it('stops with one line when the queue the api names does not answer from its host', async () => {
    const closed = await freePort();
    const remote = await startTestApi({
      env: { FLASHFARM_AGENT_REDIS_URL: `redis://:secret@127.0.0.1:${closed}` },
    });
    try {
      const token = await seedToken(remote.database.url, 'agent', 'queue-less');
      const dataDir = scratchDir('startup-agent-queue');
      const ended = await runToEnd('agent', {
        FLASHFARM_URL: remote.baseUrl,
        FLASHFARM_AGENT_TOKEN: token,
        FLASHFARM_AGENT_DISCOVERY: 'false',
        FLASHFARM_DATA_DIR: dataDir,
      });
      expectOneLine(ended, 'agent', 'REDIS_URL', /does not answer from this host.*FLASHFARM_AGENT_REDIS_URL/);
      expect(ended.stderr).not.toContain('secret'); // the password is never printed
      expect(fs.existsSync(path.join(dataDir, 'redis.json'))).toBe(false);
    } finally {
      await remote.close();
    }
  });

  it('stops with one line, and starts no redis-server of its own, when a remote api does not answer', async () => {
    const token = await seedToken(api.database.url, 'agent', 'far-away');
    const dataDir = scratchDir('startup-agent-remote');
    // 192.0.2.0/24 is reserved for documentation: nothing answers there, as with a firewalled farm.
    const started = Date.now();
    const ended = await runToEnd('agent', {
      FLASHFARM_URL: 'http://192.0.2.1:8080',
      FLASHFARM_AGENT_TOKEN: token,
      FLASHFARM_AGENT_DISCOVERY: 'false',
      FLASHFARM_DATA_DIR: dataDir,
    });
    expectOneLine(ended, 'agent', 'FLASHFARM_URL', /does not answer.*set REDIS_URL/);
    expect(fs.existsSync(path.join(dataDir, 'redis.json'))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'redis'))).toBe(false);
    // The lookup's own deadline (6 s) bounds it; loading the sources is all that comes on top.
    expect(Date.now() - started).toBeLessThan(GIVES_UP_WITHIN_MS + 15_000);
  });
});
