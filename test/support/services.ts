/**
 * Real services for the integration, e2e and browser tiers: one
 * redis-server and one PostgreSQL server per test run, on free loopback
 * ports, in a temporary directory. PostgreSQL refuses to run as root, so as
 * root it runs as the `postgres` user (Debian's packages create it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, pingRedis } from '#runtime';

/** Connection facts handed from the global set-up to the test workers (through the environment). */
export interface TestServices {
  redisUrl: string;
  /** URL of the maintenance database, for CREATE/DROP DATABASE. */
  postgresAdminUrl: string;
  /** Name of the migrated template database each suite clones. */
  templateDatabase: string;
}

export const SERVICES_ENV = 'FLASHFARM_TEST_SERVICES';
export const TEMPLATE_DATABASE = 'flashfarm_template';

/** Reads the services started by the global set-up; throws a clear error when run outside it. */
export function testServices(): TestServices {
  const raw = process.env[SERVICES_ENV];
  if (!raw)
    throw new Error(
      `${SERVICES_ENV} is not set: run these tests through Jest (npm test), whose global set-up starts Redis and PostgreSQL`,
    );
  return JSON.parse(raw) as TestServices;
}

/** Started services and how to stop them. */
export interface RunningServices extends TestServices {
  stop(): Promise<void>;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function postgresBinDir(): string {
  const fromEnv = process.env.FLASHFARM_PG_BIN;
  if (fromEnv) return fromEnv;
  const base = '/usr/lib/postgresql';
  if (fs.existsSync(base)) {
    const versions = fs
      .readdirSync(base)
      .filter((v) => fs.existsSync(path.join(base, v, 'bin/initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(base, versions[0], 'bin');
  }
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (pgConfig.status === 0 && fs.existsSync(path.join(pgConfig.stdout.trim(), 'initdb')))
    return pgConfig.stdout.trim();
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them (Debian: apt-get install -y postgresql) or set FLASHFARM_PG_BIN to their directory.',
  );
}

/** Runs a command as the postgres user when we are root (PostgreSQL refuses root). */
function asPostgres(command: string, args: string[]): { command: string; args: string[] } {
  return isRoot()
    ? { command: 'runuser', args: ['-u', 'postgres', '--', command, ...args] }
    : { command, args };
}

function run(command: string, args: string[], what: string): void {
  const wrapped = asPostgres(command, args);
  const result = spawnSync(wrapped.command, wrapped.args, { encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(`${what} failed (${result.status}): ${result.stderr || result.stdout}`);
}

/** Options of startRedis. */
export interface RedisServerOptions {
  /** TCP port on 127.0.0.1; a free one when absent. */
  port?: number;
  /** Keep an append-only file in `dir` (fsync every second), so a restart on the same dir keeps the data. */
  appendOnly?: boolean;
}

/** Starts a redis-server on 127.0.0.1 with its files in `dir`; resolves once it answers PING. */
export async function startRedis(
  dir: string,
  options: RedisServerOptions = {},
): Promise<{ url: string; port: number; child: ChildProcess }> {
  const port = options.port ?? (await freePort());
  const persistence = options.appendOnly
    ? ['--appendonly', 'yes', '--appendfsync', 'everysec']
    : ['--appendonly', 'no'];
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      ...persistence,
      '--databases',
      '1024',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `redis-server exited with ${child.exitCode}; is it installed (apt-get install -y redis-server)?`,
      );
    try {
      await pingRedis(url, 500);
      return { url, port, child };
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`redis-server did not start: ${String(error)}`, { cause: error });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Initialises and starts a PostgreSQL server in `dir` on a free loopback port (as `postgres` when root). */
export async function startPostgres(dir: string): Promise<{ adminUrl: string; stop(): void }> {
  const bin = postgresBinDir();
  const dataDir = path.join(dir, 'pgdata');
  fs.mkdirSync(dataDir, { recursive: true });
  if (isRoot()) spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  run(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'],
    'initdb',
  );
  const port = await freePort();
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c unix_socket_directories=${dataDir}`;
  run(
    path.join(bin, 'pg_ctl'),
    ['-D', dataDir, '-o', options, '-l', path.join(dir, 'postgres.log'), '-w', '-t', '30', 'start'],
    'pg_ctl start',
  );
  return {
    adminUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    stop: () =>
      run(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], 'pg_ctl stop'),
  };
}

/** Starts Redis and PostgreSQL and builds the migrated template database. */
export async function startServices(migrate: (url: string) => Promise<void>): Promise<RunningServices> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-test-'));
  fs.chmodSync(dir, 0o755);
  const redis = await startRedis(dir);
  let postgres: Awaited<ReturnType<typeof startPostgres>>;
  try {
    postgres = await startPostgres(dir);
  } catch (error) {
    redis.child.kill('SIGKILL');
    throw error;
  }
  const admin = new pg.Client({ connectionString: postgres.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  const templateUrl = new URL(postgres.adminUrl);
  templateUrl.pathname = `/${TEMPLATE_DATABASE}`;
  await migrate(templateUrl.toString());
  return {
    redisUrl: redis.url,
    postgresAdminUrl: postgres.adminUrl,
    templateDatabase: TEMPLATE_DATABASE,
    stop: async () => {
      redis.child.kill('SIGKILL');
      postgres.stop();
      await new Promise((r) => setTimeout(r, 50));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
