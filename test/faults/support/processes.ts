/**
 * The fault suite's processes, each started the way an operator starts it:
 * the api and the agent through bin/launch.js (dist/ when it is current,
 * the sources otherwise), the simulated boards through `flashfarm sim`, and
 * a redis-server that can be killed and brought back on the same port with
 * or without its data. Output goes to a log file per process, kept as
 * evidence in the suite's work directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startRedis } from '../../support/services.js';
import { holdFor } from '../../support/stimulus.js';

/** The repository root (where bin/ is). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');

/** Every child process the suite started and that has not exited yet. */
const live = new Set<ChildProcess>();
/** Synchronous clean-ups run when the suite exits, however it exits (servers started as daemons). */
const exitHooks = new Set<() => void>();

/**
 * Kills every process the suite started (SIGKILL to each one's process group) and runs the exit
 * hooks. Synchronous, so it can run from process.on('exit') and from signal handlers.
 */
export function killEverything(): void {
  for (const child of live) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // not a group leader (redis-server from test/support) or already gone
      child.kill('SIGKILL');
    }
  }
  live.clear();
  for (const hook of exitHooks) {
    try {
      hook();
    } catch {
      // best effort: one failing clean-up must not keep the others from running
    }
  }
  exitHooks.clear();
}

/** Runs `hook` (synchronously) when the suite exits; returns a function that forgets it. */
export function atExit(hook: () => void): () => void {
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}

/** Remembers a child so killEverything() reaches it (its whole process group when it leads one). */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

process.once('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.once(signal, () => {
    process.stderr.write(`fault suite: ${signal}, stopping every process it started\n`);
    killEverything();
    process.exit(130);
  });

/** A node program the suite can start, signal and start again with the same settings. */
export class NodeProgram {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private starts = 0;
  private text = '';

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: () => Record<string, string>,
    private readonly logFile: string,
  ) {}

  /** Starts the program (again); the previous process must have exited. */
  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.starts++;
    this.text = '';
    const out = fs.openSync(this.logFile, 'a');
    fs.writeSync(out, `\n==== start #${this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, this.args, {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a signal from the terminal reaches the suite only, which then
      // kills every group it started (killEverything).
      detached: true,
    });
    track(child);
    const capture = (d: Buffer) => {
      fs.writeSync(out, d);
      // Only the start of the output is kept in memory (readiness lines, start-up errors).
      if (this.text.length < 256 * 1024) this.text += d.toString();
    };
    child.stdout?.on('data', capture);
    child.stderr?.on('data', capture);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        fs.writeSync(out, `\n==== exited code=${code} signal=${signal} at ${new Date().toISOString()}\n`);
        fs.closeSync(out);
        resolve();
      }),
    );
    this.child = child;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The process id, while it runs. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** What the current process printed so far (its first 256 KiB). */
  get output(): string {
    return this.text;
  }

  /** Sends a signal and waits (up to waitMs) for the process to exit; SIGKILL after that. */
  async signal(signal: NodeJS.Signals, waitMs = 30_000): Promise<'exited' | 'killed'> {
    if (!this.running) return 'exited';
    this.child!.kill(signal);
    const inTime = await Promise.race([this.exited.then(() => true), holdFor(waitMs).then(() => false)]);
    if (inTime) return 'exited';
    this.child!.kill('SIGKILL');
    await this.exited;
    return 'killed';
  }

  /** Resolves when the current process has exited. */
  whenExited(): Promise<void> {
    return this.exited;
  }
}

/** A redis-server that can be SIGKILLed and restarted on the same port, keeping or losing its data. */
export class RedisServer {
  private child: ChildProcess | undefined;
  private port = 0;

  constructor(
    private readonly dir: string,
    readonly appendOnly: boolean,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (on the same port as before, after the first start). */
  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    const started = await startRedis(this.dir, {
      port: this.port || undefined,
      appendOnly: this.appendOnly,
    });
    this.port = started.port;
    this.child = started.child;
    track(started.child);
  }

  /** kill -9: whatever was not yet on disk is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Removes its files, so the next start is an empty server (a lost volume, a new machine). */
  wipe(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops it for good. */
  async stop(): Promise<void> {
    await this.kill();
  }
}
