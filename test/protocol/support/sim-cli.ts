/**
 * `flashfarm sim` run in-process (runSimCli with an AbortSignal instead of
 * SIGINT), for the protocol tests of its listing, fault flags and control
 * endpoint; every run a test starts is stopped after it.
 */
import { afterEach } from '@jest/globals';
import { createServer, type AddressInfo } from 'node:net';
import { type ControlServer, type RunningSimBoard, runSimCli } from '../../../apps/cli/src/sim/index.js';

/** One running `flashfarm sim`. */
export interface SimCliRun {
  exit: Promise<number>;
  stdout: () => string;
  stderr: () => string;
  /** The slots and the control endpoint once every board listens; rejects if the command exits first. */
  ready: Promise<{ boards: RunningSimBoard[]; control: ControlServer | null }>;
  /** Aborts the run (as Ctrl-C would) and resolves with its exit code. */
  stop: () => Promise<number>;
}

/** Registers the clean-up and returns `start(argv)`. */
export function simCliRuns(): (argv: string[]) => SimCliRun {
  const runs: SimCliRun[] = [];
  afterEach(async () => {
    for (const run of runs.splice(0)) await run.stop();
  });
  return (argv) => {
    let out = '';
    let err = '';
    const controller = new AbortController();
    let markReady: (value: { boards: RunningSimBoard[]; control: ControlServer | null }) => void = () =>
      undefined;
    const ready = new Promise<{ boards: RunningSimBoard[]; control: ControlServer | null }>(
      (resolve) => (markReady = resolve),
    );
    const exit = runSimCli(argv, {
      stdout: (text) => void (out += text),
      stderr: (text) => void (err += text),
      signal: controller.signal,
      onReady: (boards, control) => markReady({ boards, control }),
    });
    const run: SimCliRun = {
      exit,
      stdout: () => out,
      stderr: () => err,
      ready: Promise.race([ready, exit.then(() => Promise.reject(new Error(`exited early: ${err}`)))]),
      stop: () => {
        controller.abort();
        return exit;
      },
    };
    // Tests that expect an early exit never await ready.
    run.ready.catch(() => undefined);
    runs.push(run);
    return run;
  };
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
