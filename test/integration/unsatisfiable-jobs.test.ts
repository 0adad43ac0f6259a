/**
 * Work that can never be done fails fast and loud:
 * - POST /jobs with a selector and a count no registered board can meet (a board serves one slot of
 *   a job) answers 422 NO_MATCHING_DEVICE saying what exists, and stores nothing (it used to answer
 *   201 and wait forever: `count: 9` with 8 boards, or a pool that does not exist);
 * - a slot of a count job that no board can take any more (its board quarantined while the other
 *   board serves the job's other slot) ends NO_USABLE_DEVICE after the bounded wait, as a slot of an
 *   "all" job does, so the job ends instead of waiting forever.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { JobView, ProblemBody } from '#contracts';
import { board, startSchedulerSuite, type SchedulerSuite } from '../support/scheduler-suite.js';

/** The bounded wait of a slot with no usable board (FLASHFARM_PINNED_REQUEUE_WAIT_MS). */
const WAIT_MS = 2500;

let suite: SchedulerSuite;

beforeAll(async () => {
  suite = await startSchedulerSuite({
    env: {
      FLASHFARM_SCHEDULER_INTERVAL_MS: '200',
      FLASHFARM_AGENT_HEARTBEAT_MS: '300',
      FLASHFARM_PINNED_REQUEUE_WAIT_MS: String(WAIT_MS),
      FLASHFARM_QUARANTINE_AFTER_FAILURES: '2',
      FLASHFARM_RUN_MAX_ATTEMPTS: '3',
    },
    statusTimeoutMs: 20_000,
  });
  const boards = [board('c3:b1:00:00:00:01'), board('c3:b1:00:00:00:02', '/dev/ttyACM1')];
  await suite.startAgent({
    name: 'count-line',
    boards,
    script: async (run) => {
      await run.started();
      if (run.payload.mac === boards[0].mac)
        await run.finish({ status: 'failed', errorCode: 'FLASH_ERROR', errorMessage: 'erase failed' });
      else await run.finish();
    },
  });
  await suite.sql(`UPDATE "Device" SET pool = 'line-b' WHERE mac = ANY($1)`, [boards.map((b) => b.mac)]);
}, 60_000);

afterAll(async () => {
  await suite?.close();
});

async function jobCount(): Promise<number> {
  const { rows } = await suite.sql(`SELECT count(*)::int AS n FROM "Job"`);
  return rows[0].n as number;
}

describe('jobs no board can serve', () => {
  it('refuses a count larger than the matching boards with 422 NO_MATCHING_DEVICE, saying what exists', async () => {
    const before = await jobCount();
    const answer = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { selector: { pool: 'line-b' }, count: 3 },
    });
    expect(answer.status).toBe(422);
    const problem = answer.body as unknown as ProblemBody;
    expect(problem.code).toBe('NO_MATCHING_DEVICE');
    expect(problem.message).toMatch(/3 board\(s\).*pool line-b.*2 registered board\(s\) match/);
    // The states said are the boards' at that moment: idle, or offline when a heartbeat came late
    // (300 ms heartbeats here); either way the answer names them.
    expect(problem.details).toEqual([
      {
        field: 'target.count',
        message: expect.stringMatching(
          /^asks for 3 board\(s\); 2 registered board\(s\) match \(2 (idle|offline)\)$/,
        ),
      },
    ]);
    expect(await jobCount()).toBe(before);
  });

  it('refuses a selector for a pool that does not exist, listing the pools that do', async () => {
    const answer = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { selector: { pool: 'no-such-pool' }, count: 1 },
    });
    expect(answer.status).toBe(422);
    const problem = answer.body as unknown as ProblemBody;
    expect(problem.code).toBe('NO_MATCHING_DEVICE');
    expect(problem.details?.[1]).toEqual({
      field: 'target.selector',
      message: 'registered esp32c3 boards by pool: line-b 2',
    });
  });

  it('ends a count slot no board can take any more with NO_USABLE_DEVICE after the wait', async () => {
    const created = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { selector: { pool: 'line-b' }, count: 2 },
    });
    expect(created.status).toBe(201);
    const job: JobView = await suite.waitForStatus(created.body.id as string, 'failed');
    const outcomes = job.slots.map((s) => s.history.map((h) => [h.attempt, h.status, h.errorCode]));
    // One slot succeeded on the good board; the other failed twice on the bad one, which was then
    // quarantined, and its third attempt had no board left (the good one serves the other slot).
    expect(outcomes).toContainEqual([[1, 'succeeded', null]]);
    expect(outcomes).toContainEqual([
      [1, 'failed', 'FLASH_ERROR'],
      [2, 'failed', 'FLASH_ERROR'],
      [3, 'failed', 'NO_USABLE_DEVICE'],
    ]);
    const stranded = job.slots.find((s) => s.history.length === 3);
    expect(stranded?.latest.errorMessage).toMatch(/no usable board for 2500 ms.*another slot of this job/);
  }, 60_000);
});
