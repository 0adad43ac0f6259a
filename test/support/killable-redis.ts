/**
 * A redis-server of a suite's own, for tests of what Redis losing its data does to the farm: it
 * is SIGKILLed (no shutdown, no save) and a new, empty one is started on the same port, so every
 * client reconnects by itself to a server that holds nothing (no stream, no consumer group, no
 * queues), as after a crash of a Redis without persistence. The shared test Redis cannot be used:
 * other suites run on it at the same time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, pingRedis } from '#runtime';
import { pollUntil } from './poll.js';
import { scratchDir } from './scratch.js';

/** A redis-server this suite may kill. */
export interface KillableRedis {
  /** redis://127.0.0.1:<port> (database 0). */
  url: string;
  port: number;
  /** SIGKILLs the server; clients see the connection drop. */
  kill(): Promise<void>;
  /** Starts a new server with no data on the same port; resolves once it answers. */
  startEmpty(): Promise<void>;
  /** kill(), then startEmpty(). */
  restartEmpty(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a redis-server without persistence on a free loopback port. */
export async function startKillableRedis(): Promise<KillableRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const startEmpty = async (): Promise<void> => {
    // A fresh directory each time: nothing a previous server left can be loaded.
    const dir = scratchDir('flashfarm-killable-redis');
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    child = started;
    await pollUntil(
      async () => {
        if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}`);
        await pingRedis(url, 500);
        return true;
      },
      { what: `redis-server on port ${port} to answer`, timeoutMs: 10_000, intervalMs: 50 },
    );
  };
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };
  await startEmpty();
  return {
    url,
    port,
    kill,
    startEmpty,
    restartEmpty: async () => {
      await kill();
      await startEmpty();
    },
    stop: kill,
  };
}
