/** Runs the project's TypeScript entry points as real child processes (as a user would), with output capture. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pollUntil } from './poll.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** A child process with its combined output. */
export interface SpawnedProcess {
  child: ChildProcess;
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  waitForExit(timeoutMs?: number): Promise<number | null>;
  /** SIGKILLs the process if it still runs. */
  kill(): void;
}

/** Starts `node --import ./scripts/register-ts.mjs <file> ...args` in the repository root. */
export function spawnTs(
  file: string,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
): SpawnedProcess {
  const child = spawn(process.execPath, ['--import', './scripts/register-ts.mjs', file, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchProcess(child);
}

/**
 * Captures a started child's combined output and wraps it as a SpawnedProcess: for tests that start
 * programs their own way (a compiled tree, an image's command) and wait on them like spawnTs's.
 */
export function watchProcess(child: ChildProcess): SpawnedProcess {
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    waitForOutput: (pattern, timeoutMs = 30_000) =>
      pollUntil(
        () =>
          text.match(pattern) ??
          (child.exitCode !== null
            ? Promise.reject(new Error(`exited ${child.exitCode}: ${text}`))
            : undefined),
        {
          timeoutMs,
          what: `output matching ${pattern}`,
        },
      ),
    waitForExit: (timeoutMs = 30_000) =>
      Promise.race([
        exited,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`still running after ${timeoutMs} ms: ${text}`)),
            timeoutMs,
          ).unref(),
        ),
      ]),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
