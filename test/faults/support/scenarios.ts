/**
 * The fault scenarios. Each try flashes a new firmware onto the farm's boards
 * (one job pinned to each board), waits until a run is writing flash, then
 * does what the scenario does to the farm and returns once the fault is over
 * (processes restarted, cable back); the suite then waits for every run to
 * end and checks the result (checks.ts).
 */
import type { JobView } from '#contracts';
import { bundleBomb } from './bomb.js';
import type { FaultFarm } from './farm.js';
import { holdFor } from '../../support/stimulus.js';

/** Settings of a suite run that scenarios read. */
export interface SuiteSettings {
  outageMs: number;
  unplugShortMs: number;
  unplugLongMs: number;
  bombGiB: number;
  /** How long a request or a run may take once the fault is over. */
  boundMs: number;
}

/** The board being written when the fault strikes. */
export interface Writing {
  /** Its name in the simulator. */
  board: string;
}

/** What a scenario gets for one try. */
export interface TryContext {
  farm: FaultFarm;
  settings: SuiteSettings;
  /** The firmware of this try. */
  firmwareId: string;
  /** Adds a line to the try's notes (what the scenario saw: answers, timings). */
  note(text: string): void;
  /** Adds a job to the try (its slots are checked like the others). */
  addJob(jobId: string): void;
}

/** One scenario. */
export interface Scenario {
  name: string;
  /** One line for the table and the docs. */
  description: string;
  /** Tries when --repeat is not given (DEFAULT_REPEAT when absent): fewer for the long faults. */
  repeat?: number;
  /** Boards (by index) left out of the try's ordinary jobs. */
  spareBoards?: number[];
  /** Before the try's jobs are submitted. */
  before?(ctx: TryContext): Promise<void>;
  /** The fault, struck while `writing` is being flashed; resolves once it is over. */
  strike(ctx: TryContext, writing: Writing): Promise<void>;
  /** After the try was checked (clears what before() set). */
  after?(ctx: TryContext): Promise<void>;
}

/** Tries of a scenario that names no count of its own. */
export const DEFAULT_REPEAT = 10;

/** A boot-check pattern that backtracks for minutes on text without a "!". */
export const HOSTILE_PATTERN = '(.*\\s?)*!';

async function restartApi(ctx: TryContext, signal: NodeJS.Signals, downMs = 0): Promise<void> {
  const { farm } = ctx;
  const how = await farm.api.signal(signal, 30_000);
  if (how === 'killed') ctx.note(`the api did not exit within 30 s of ${signal}; SIGKILLed`);
  if (downMs > 0) await holdFor(downMs);
  farm.api.start();
  const started = Date.now();
  await farm.waitApiHealthy(ctx.settings.boundMs);
  ctx.note(`api back in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function unplugFor(ctx: TryContext, board: string, ms: number): Promise<void> {
  const out = await ctx.farm.simRequest('POST', `/boards/${board}/unplug`);
  if (out.status !== 200) throw new Error(`unplug ${board}: ${out.status}`);
  await holdFor(ms);
  const back = await ctx.farm.simRequest('POST', `/boards/${board}/plug`);
  if (back.status !== 200) throw new Error(`plug ${board}: ${back.status}`);
}

async function restartRedis(ctx: TryContext, wipe: boolean): Promise<void> {
  await ctx.farm.redis.kill();
  if (wipe) ctx.farm.redis.wipe();
  await ctx.farm.redis.start();
}

/** Probes /health every 500 ms while `during` runs: the slowest answer and how many took over 2 s. */
async function healthWhile<T>(
  farm: FaultFarm,
  during: Promise<T>,
): Promise<{ value: T; slowestMs: number; slow: number }> {
  let done = false;
  let slowestMs = 0;
  let slow = 0;
  const probing = (async () => {
    while (!done) {
      const started = performance.now();
      const answer = await farm.request('GET', '/health', undefined, 60_000);
      const ms = performance.now() - started;
      slowestMs = Math.max(slowestMs, ms);
      if (ms > 2_000 || answer.status !== 200) slow++;
      await holdFor(500);
    }
  })();
  try {
    return { value: await during, slowestMs, slow };
  } finally {
    done = true;
    await probing;
  }
}

/**
 * Every scenario, in the order they run: the ones that may leave the farm
 * broken (a frozen agent, Redis without its data) last, so a defect they show
 * does not spill into the others (a new farm is started after a scenario the
 * harness could not finish, but not after one that merely left stuck runs).
 */
export const SCENARIOS: Scenario[] = [
  {
    name: 'agent-sigkill',
    // Each try waits out the queue's lock on the killed agent's jobs (~30 s).
    repeat: 5,
    description: 'agent SIGKILLed mid-flash, started again at once',
    strike: async (ctx) => {
      await ctx.farm.agent.signal('SIGKILL');
      ctx.farm.agent.start();
    },
  },
  {
    name: 'api-sigterm',
    description: 'api SIGTERMed mid-flash, started again once it exited',
    strike: (ctx) => restartApi(ctx, 'SIGTERM'),
  },
  {
    name: 'api-sigkill',
    description: 'api SIGKILLed mid-flash, started again at once',
    strike: (ctx) => restartApi(ctx, 'SIGKILL'),
  },
  {
    name: 'unplug-short',
    description: 'the board being written unplugged for the short time, then plugged back',
    strike: (ctx, writing) => unplugFor(ctx, writing.board, ctx.settings.unplugShortMs),
  },
  {
    name: 'noise-high-baud',
    description: 'every board: bit errors above 460 800 baud (1e-4 per bit) and 1e-5 of bytes dropped',
    before: async (ctx) => {
      for (const b of ctx.farm.boards) {
        const out = await ctx.farm.simRequest('PATCH', `/boards/${b.name}/faults`, {
          noiseAboveBaud: 460_800,
          bitErrorRate: 1e-4,
          dropRate: 1e-5,
        });
        if (out.status !== 200) throw new Error(`faults of ${b.name}: ${out.status}`);
      }
    },
    strike: async () => {},
    after: async (ctx) => {
      for (const b of ctx.farm.boards) await ctx.farm.simRequest('DELETE', `/boards/${b.name}/faults`);
    },
  },
  {
    name: 'redis-sigkill-aof',
    description: 'redis-server (append-only file) SIGKILLed mid-flash, restarted on its data',
    strike: (ctx) => restartRedis(ctx, false),
  },
  {
    name: 'unplug-long',
    repeat: 2,
    description: 'the board being written unplugged for the long time, then plugged back',
    strike: (ctx, writing) => unplugFor(ctx, writing.board, ctx.settings.unplugLongMs),
  },
  {
    name: 'api-outage',
    repeat: 2,
    description: 'api SIGKILLed mid-flash, down for the outage, then started',
    strike: (ctx) => restartApi(ctx, 'SIGKILL', ctx.settings.outageMs),
  },
  {
    name: 'bundle-bomb',
    repeat: 2,
    description: 'a zip bundle whose app entry inflates to GiBs (declared small) uploaded mid-flash',
    strike: async (ctx) => {
      const { farm } = ctx;
      const bomb = bundleBomb(ctx.settings.bombGiB);
      const form = new FormData();
      form.append('bundle', new Blob([new Uint8Array(bomb.zip)]), 'build.zip');
      form.append('name', 'bomb');
      const started = performance.now();
      const {
        value: answer,
        slowestMs,
        slow,
      } = await healthWhile(
        farm,
        farm.request<{ code?: string }>('POST', '/firmware', form, ctx.settings.boundMs),
      );
      ctx.note(
        `bomb (${(bomb.zip.length / 1e6).toFixed(1)} MB zip, ${(bomb.inflatedBytes / 1024 ** 3).toFixed(1)} GiB inflated): ` +
          `${answer.status || answer.error}${answer.body?.code ? ` ${answer.body.code}` : ''} after ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
          `/health slowest ${(slowestMs / 1000).toFixed(1)} s, ${slow} probe(s) over 2 s or not 200`,
      );
    },
  },
  {
    name: 'hostile-pattern',
    description: `a job with boot-check pattern ${HOSTILE_PATTERN} posted mid-flash for a spare board`,
    spareBoards: [0],
    strike: async (ctx) => {
      const { farm } = ctx;
      const spare = farm.boards[0];
      const answer = await farm.request<JobView & { code?: string }>('POST', '/jobs', {
        firmwareId: ctx.firmwareId,
        target: { device: spare.mac },
        options: { bootCheck: { pattern: HOSTILE_PATTERN, timeoutMs: 5_000 } },
      });
      ctx.note(
        `POST /jobs with the pattern: ${answer.status}${answer.body?.code ? ` ${answer.body.code}` : ''}`,
      );
      if (answer.status === 201 && answer.body) ctx.addJob(answer.body.id);
    },
  },
  {
    name: 'redis-sigkill-empty',
    description:
      'redis-server SIGKILLed mid-flash and its files removed (no persistence: data lost), restarted empty on the same port',
    strike: (ctx) => restartRedis(ctx, true),
  },
];
