/**
 * The container image, built and booted without Docker (no engine runs on
 * CI): the Dockerfile's stages performed as shell in a scratch directory
 * (context copied with .dockerignore's rules, npm ci, npm run build, npm prune
 * --omit=dev, then only what the runtime stage copies), and that pruned tree
 * started as the image would run it: the api (the image's CMD) on real
 * PostgreSQL and Redis, answering /health and its HEALTHCHECK and serving the
 * built dashboard; an agent (docker-compose.yml's command) that registers with
 * the package's version; simulated boards and the CLI from the same tree, and
 * a board flashed and verified through them.
 * What differs from Docker: the machine's Node.js instead of the base image's,
 * the test's user instead of `node`, loopback instead of a container network.
 * Installs come from the npm registry (its cache is warm), nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildFirmwareSet } from '#esp';
import { freePort } from '#runtime';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { pollUntil } from '../support/poll.js';
import { REPO_ROOT, type SpawnedProcess, watchProcess } from '../support/processes.js';
import { createTestRedisUrl } from '../support/redis.js';
import { scratchDir } from '../support/scratch.js';
import { performDockerfile, type PerformedBuild } from './support/dockerfile-steps.js';

/**
 * npm ci of every dependency is most of it (about 50 s of CPU, minutes of wall time on a loaded 2-core
 * machine); npm run build adds the bundles and the migrated PGlite template (about 15 s of CPU).
 */
const BUILD_TIMEOUT_MS = 600_000;

let build: PerformedBuild;
let app: string;
let database: TestDatabase;
let redisUrl: string;
let apiUrl: string;
const adminToken = randomBytes(24).toString('hex');
const processes: SpawnedProcess[] = [];

/** A process of the image: the machine's node for `node`, the tree's environment plus `env`. */
function start(argv: string[], env: Record<string, string>): SpawnedProcess {
  const [command, ...args] = argv;
  const child = spawn(command === 'node' ? process.execPath : command, args, {
    cwd: app,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...build.image.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawned = watchProcess(child);
  processes.push(spawned);
  return spawned;
}

async function api<T>(method: string, url: string, body?: unknown, token = adminToken): Promise<T> {
  const response = await fetch(`${apiUrl}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

beforeAll(async () => {
  const work = scratchDir('container-build');
  [build, database, redisUrl] = await Promise.all([
    performDockerfile(REPO_ROOT, work),
    createTestDatabase(),
    createTestRedisUrl(),
  ]);
  app = build.image.workdir;
  for (const t of build.timings) process.stdout.write(`container build: ${t.step}: ${t.ms} ms\n`);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  for (const p of processes.reverse()) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      await p.waitForExit(15_000).catch(() => p.kill());
    }
  }
  await database?.drop();
});

describe('the container image, built and started as the Dockerfile says', () => {
  it('holds the compiled program and production dependencies only', () => {
    expect(build.stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    expect(build.image.user).toBe('node');
    expect(build.image.env.NODE_ENV).toBe('production');
    expect(fs.readdirSync(app).sort()).toEqual(['bin', 'dist', 'node_modules', 'package.json', 'prisma']);
    // Development tools are gone (typescript and the prisma CLI stay: npm installs them as
    // peers of @nestjs/swagger and @prisma/client).
    for (const dev of ['@swc/core', 'esbuild', 'jest', 'eslint', 'playwright-core', '@nestjs/testing'])
      expect({ dev, present: fs.existsSync(path.join(app, 'node_modules', dev)) }).toEqual({
        dev,
        present: false,
      });
    expect(fs.existsSync(path.join(app, 'dist/apps/api/src/db/generated/prisma/client.js'))).toBe(true);
    expect(fs.existsSync(path.join(app, 'dist/apps/dashboard/manifest.json'))).toBe(true);
    // Nothing of the host's state crossed .dockerignore into the build.
    const context = path.join(path.dirname(build.stages[0].root), 'context');
    for (const leaked of ['.git', '.flashfarm', 'dist', 'node_modules', 'apps/api/src/db/generated'])
      expect({ leaked, present: fs.existsSync(path.join(context, leaked)) }).toEqual({
        leaked,
        present: false,
      });
  });

  it('starts the api with its CMD: /health answers 200, the HEALTHCHECK passes, the dashboard is the built one', async () => {
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    expect(build.image.cmd).toEqual(['node', 'dist/apps/api/src/main.js']);
    const apiProcess = start(build.image.cmd!, {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      FLASHFARM_HOST: '127.0.0.1',
      FLASHFARM_PORT: String(port),
      FLASHFARM_ADMIN_TOKEN: adminToken,
      FLASHFARM_DATA_DIR: path.join(build.image.root, 'data'),
    });
    await apiProcess.waitForOutput(/flashfarm api listening on/, 60_000);
    const health = await fetch(`${apiUrl}/health`);
    expect(health.status).toBe(200);

    const check = start(build.image.healthcheck!, { FLASHFARM_PORT: String(port) });
    expect(await check.waitForExit(15_000)).toBe(0);

    const page = await fetch(`${apiUrl}/`);
    expect(page.headers.get('cache-control')).toBe('no-store');
    const html = await page.text();
    const main = /\/app\/(main-[A-Z0-9]+\.js)/.exec(html)?.[1];
    expect(main).toBeDefined();
    const bundle = await fetch(`${apiUrl}/app/${main!}`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    // Sources are not served from a built tree (and are not in the image).
    expect((await fetch(`${apiUrl}/app/main.js`)).status).toBe(404);
  }, 90_000);

  it("runs an agent with docker-compose.yml's command, which registers with the package version and flashes a simulated board", async () => {
    const compose = parseYaml(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), {
      merge: true,
    }) as { services: Record<string, { command: string[] }> };
    // Compose turns $$ into $ before the shell sees the command.
    const agentCommand = compose.services['sim-agent'].command.map((a) => a.replaceAll('$$', '$'));

    const sim = start(
      [
        'node',
        'bin/flashfarm.js',
        'sim',
        '--chips',
        'esp32',
        '--host',
        '127.0.0.1',
        '--base-port',
        '0',
        '--time-scale',
        '0.02',
      ],
      {},
    );
    const boardUrl = (await sim.waitForOutput(/rfc2217:\/\/127\.0\.0\.1:\d+/, 30_000))[0];

    const { secret } = await api<{ secret: string }>('POST', '/tokens', {
      name: 'image-agent',
      role: 'agent',
    });
    const agent = start(agentCommand, {
      FLASHFARM_URL: apiUrl,
      FLASHFARM_AGENT_TOKEN: secret,
      REDIS_URL: redisUrl,
      FLASHFARM_AGENT_NAME: 'image-agent',
      FLASHFARM_AGENT_DISCOVERY: 'false',
      FLASHFARM_AGENT_PORTS: boardUrl,
      FLASHFARM_DATA_DIR: scratchDir('container-agent'),
    });
    await agent.waitForOutput(/registered as image-agent/, 60_000);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const agents = await api<Array<{ name: string; version: string }>>('GET', '/agents');
    expect(agents.find((a) => a.name === 'image-agent')?.version).toBe(pkg.version);
    await pollUntil(
      async () => {
        const devices = await api<{ items: Array<{ chip: string; state: string }> }>('GET', '/devices');
        return devices.items.some((d) => d.chip === 'esp32' && d.state === 'idle') || undefined;
      },
      { timeoutMs: 30_000, what: 'the simulated esp32 idle in /devices' },
    );

    const buildDir = scratchDir('container-fw');
    const files: Record<string, string> = {};
    for (const part of buildFirmwareSet({ chip: 'esp32', projectName: 'image-app', version: '1.0.0' })) {
      fs.writeFileSync(path.join(buildDir, part.name!), part.data);
      files[`0x${part.offset.toString(16)}`] = part.name!;
    }
    fs.writeFileSync(
      path.join(buildDir, 'flasher_args.json'),
      JSON.stringify({ flash_files: files, flash_settings: {}, extra_esptool_args: { chip: 'esp32' } }),
    );
    const submit = start(
      ['node', 'bin/flashfarm.js', 'submit', buildDir, '--select', 'chip=esp32', '--wait'],
      {
        FLASHFARM_URL: apiUrl,
        FLASHFARM_TOKEN: adminToken,
      },
    );
    const code = await submit.waitForExit(90_000);
    expect({ code, output: submit.output() }).toEqual({
      code: 0,
      output: expect.stringMatching(/succeeded/),
    });
  }, 180_000);
});
