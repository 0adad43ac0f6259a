/**
 * Redis for the embedded default: without REDIS_URL, a process that needs
 * Redis starts a private redis-server on a free loopback port, or reuses the
 * one another flashfarm process of the same data directory already started.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';

const REDIS_START_TIMEOUT_MS = 10_000;
const REDIS_PING_TIMEOUT_MS = 3_000;

/** Why Redis could not be reached or started; the message says what to do. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/** A Redis server this process can use. */
export interface RedisEndpoint {
  url: string;
  /** True when this process started the server (and stops it on close). */
  owned: boolean;
  close(): Promise<void>;
}

/** Options for ensureRedis. */
export interface EnsureRedisOptions {
  /** REDIS_URL; when set it is checked and used as is. */
  url?: string;
  /** Data directory for the embedded server's state file and append-only log. */
  dataDir: string;
  /** Keep data across restarts (append-only file). Tests turn it off. */
  persist?: boolean;
  log?: (message: string) => void;
  /** Install Debian's redis-server with apt when missing and running as root. */
  allowInstall?: boolean;
}

/** Pings a Redis URL once, failing within a few seconds. */
export async function pingRedis(url: string, timeoutMs = REDIS_PING_TIMEOUT_MS): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // ioredis reports the socket error (ECONNREFUSED...) as an event and then
  // rejects with a bland "Connection is closed"; keep the informative one.
  let socketError: Error | undefined;
  client.on('error', (error: Error) => (socketError ??= error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw socketError ?? error;
  } finally {
    client.disconnect();
  }
}

/** Checks REDIS_URL or starts/reuses a local redis-server. */
export async function ensureRedis(options: EnsureRedisOptions): Promise<RedisEndpoint> {
  const log = options.log ?? (() => {});
  if (options.url) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new RedisUnavailableError(`REDIS_URL is not a URL: "${options.url}". Expected redis://host:6379`);
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw new RedisUnavailableError(
        `REDIS_URL must start with redis:// or rediss://, got "${parsed.protocol}//"`,
      );
    }
    try {
      await pingRedis(options.url);
    } catch (error) {
      throw new RedisUnavailableError(
        `Cannot reach Redis at REDIS_URL (${parsed.host}): ${describe(error)}. Check that Redis runs there, or unset REDIS_URL to use a local redis-server.`,
      );
    }
    return { url: options.url, owned: false, close: async () => {} };
  }

  const stateFile = path.join(options.dataDir, 'redis.json');
  const reused = await reuseRunning(stateFile);
  if (reused) {
    log(`Using the local Redis at ${reused} (started by another flashfarm process)`);
    return { url: reused, owned: false, close: async () => {} };
  }

  const binary = findRedisServer() ?? installRedis(options, log);
  const port = await freePort();
  const dir = path.join(options.dataDir, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push('--appendonly', options.persist === false ? 'no' : 'yes');
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = `redis://127.0.0.1:${port}`;
  await waitForRedis(child, url);
  fs.writeFileSync(stateFile, JSON.stringify({ url, pid: child.pid }));
  log(`Started a local redis-server at ${url} (data in ${dir})`);

  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('exit', stop);
  return {
    url,
    owned: true,
    close: async () => {
      process.removeListener('exit', stop);
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
      try {
        const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { pid?: number };
        if (state.pid === child.pid) fs.rmSync(stateFile);
      } catch {
        // the state file is advisory; a missing one is fine
      }
    },
  };
}

async function reuseRunning(stateFile: string): Promise<string | undefined> {
  let state: { url?: string; pid?: number };
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as typeof state;
  } catch {
    return undefined;
  }
  if (!state.url || !state.pid || !isAlive(state.pid)) return undefined;
  try {
    await pingRedis(state.url, 1_000);
    return state.url;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function findRedisServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'redis-server');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function installRedis(options: EnsureRedisOptions, log: (m: string) => void): string {
  const isDebian = fs.existsSync('/etc/debian_version');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (options.allowInstall !== false && isDebian && isRoot) {
    log('redis-server is not installed: installing Debian package redis-server with apt-get');
    let result = spawnSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'ignore' });
    if (result.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'ignore' });
      result = spawnSync('apt-get', ['install', '-y', 'redis-server'], { stdio: 'ignore' });
    }
    const found = findRedisServer();
    if (result.status === 0 && found) return found;
    throw new RedisUnavailableError(
      'Installing redis-server with apt-get failed. Run: apt-get update && apt-get install -y redis-server',
    );
  }
  const hint =
    process.platform === 'darwin'
      ? 'brew install redis'
      : isDebian
        ? 'sudo apt-get install -y redis-server'
        : fs.existsSync('/etc/fedora-release') || fs.existsSync('/etc/redhat-release')
          ? 'sudo dnf install -y redis'
          : fs.existsSync('/etc/alpine-release')
            ? 'apk add redis'
            : 'install Redis 6.2 or newer from your package manager';
  throw new RedisUnavailableError(
    `REDIS_URL is not set and redis-server is not installed. Either install it (${hint}) or set REDIS_URL=redis://host:6379.`,
  );
}

/** Asks the OS for a free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitForRedis(child: ChildProcess, url: string): Promise<void> {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-2000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-2000)));
  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new RedisUnavailableError(`redis-server exited with code ${child.exitCode}: ${output.trim()}`);
    }
    try {
      await pingRedis(url, 500);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill('SIGKILL');
  throw new RedisUnavailableError(
    `redis-server did not answer within ${REDIS_START_TIMEOUT_MS} ms: ${output.trim()}`,
  );
}

function describe(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.message;
  return String(error);
}
