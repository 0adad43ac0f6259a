/**
 * Jobs targeting every matching board ("all"): one slot per board that matched
 * at submission, and a board serves one slot. A slot whose board is taken out
 * of service (quarantined, unplugged) while every other board serves its own
 * slot has nowhere to go: it must end after the bounded wait (NO_USABLE_DEVICE,
 * never counted against a board), so the job finishes; it must not end while
 * its board comes back within the wait, nor while its agent is down (the board
 * is still attached and returns with it). A board whose slot ended on it for
 * good stays with that slot; one a slot left for another attempt is free for a
 * slot that lost its own board.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RunLifecycleService } from '../../apps/api/src/runs/run-lifecycle.service.js';
import { pollUntil } from '../support/poll.js';
import type { FakeAgent, FakeBoard, FakeRunScript } from '../support/fake-agent.js';
import { board, hang, startSchedulerSuite, type SchedulerSuite } from '../support/scheduler-suite.js';
import type { JobSlotView, JobView } from '#contracts';

/** The bounded wait of a slot with no usable board (FLASHFARM_PINNED_REQUEUE_WAIT_MS). */
const WAIT_MS = 2500;
/** The scheduler's safety-net poll (FLASHFARM_SCHEDULER_INTERVAL_MS). */
const INTERVAL_MS = 200;

let suite: SchedulerSuite;

beforeAll(async () => {
  suite = await startSchedulerSuite({
    env: {
      FLASHFARM_SCHEDULER_INTERVAL_MS: String(INTERVAL_MS),
      FLASHFARM_AGENT_HEARTBEAT_MS: '300',
      FLASHFARM_AGENT_DEAD_AFTER_MS: '1500',
      FLASHFARM_PINNED_REQUEUE_WAIT_MS: String(WAIT_MS),
      FLASHFARM_QUARANTINE_AFTER_FAILURES: '2',
      FLASHFARM_RUN_MAX_ATTEMPTS: '3',
    },
    statusTimeoutMs: 20_000,
  });
});

afterAll(async () => {
  await suite?.close();
});

/** Starts an agent holding the boards, all put in `pool` so each test's "all" job sees only its own boards. */
async function startAgent(
  name: string,
  pool: string,
  boards: FakeBoard[],
  script: FakeRunScript,
): Promise<FakeAgent> {
  const agent = await suite.startAgent({ name, boards, script });
  const macs = boards.map((b) => b.mac);
  await suite.sql(`UPDATE "Device" SET pool = $1 WHERE mac = ANY($2)`, [pool, macs]);
  // A heartbeat late under load may have had the agent's boards offline for a moment: a job is
  // refused while no board of its pool is usable, so wait until they all are.
  await pollUntil(
    async () =>
      (await suite.sql(`SELECT state FROM "Device" WHERE mac = ANY($1)`, [macs])).rows.every(
        (r) => r.state === 'idle',
      ),
    { what: `the boards of pool ${pool} to be idle` },
  );
  return agent;
}

async function submitAll(pool: string): Promise<string> {
  const created = await suite.post('/jobs', { firmwareId: suite.firmwareId, target: { all: { pool } } });
  // The body names why a job was refused (e.g. the pool's boards offline after a missed heartbeat).
  expect({ status: created.status, body: created.status === 201 ? undefined : created.body }).toEqual({
    status: 201,
    body: undefined,
  });
  return created.body.id as string;
}

function slotOf(job: JobView, deviceId: string | undefined): JobSlotView {
  const slot = job.slots.find((s) => s.history[0].deviceId === deviceId);
  if (!slot) throw new Error(`no slot started on device ${deviceId}`);
  return slot;
}

const succeed: FakeRunScript = async (run) => {
  await run.started();
  await run.finish();
};

describe('"all" jobs', () => {
  it('ends a slot whose board was quarantined while the other board served its own slot', async () => {
    const bad = 'c3:a1:00:00:00:01';
    const good = 'c3:a1:00:00:00:02';
    const agent = await startAgent(
      'line-q',
      'quarantine',
      [board(bad), board(good, '/dev/ttyACM1')],
      async (run) => {
        if (run.payload.mac !== bad) return succeed(run);
        await run.started();
        await run.finish({ status: 'failed', errorCode: 'FLASH_ERROR', errorMessage: 'erase failed' });
      },
    );
    const jobId = await submitAll('quarantine');

    const job = await suite.waitForStatus(jobId, 'failed');
    expect(job.slots).toHaveLength(2);
    expect(slotOf(job, agent.deviceIds.get(good)).latest.status).toBe('succeeded');
    // Two failures quarantine the board; the third attempt then has no board left and ends instead of waiting.
    const stranded = slotOf(job, agent.deviceIds.get(bad));
    expect(stranded.history.map((h) => [h.attempt, h.status, h.errorCode])).toEqual([
      [1, 'failed', 'FLASH_ERROR'],
      [2, 'failed', 'FLASH_ERROR'],
      [3, 'failed', 'NO_USABLE_DEVICE'],
    ]);
    expect(stranded.history[2].deviceId).toBeNull();
    expect(stranded.history[2].errorMessage).toMatch(/no usable board.*another slot/i);
    const { rows } = await suite.sql(`SELECT state FROM "Device" WHERE mac = $1`, [bad]);
    expect(rows[0].state).toBe('quarantined');
  });

  it('ends a slot whose board was unplugged during its run, after the bounded wait', async () => {
    const leaving = 'c3:a2:00:00:00:01';
    const staying = 'c3:a2:00:00:00:02';
    const boards = [board(leaving), board(staying, '/dev/ttyACM1')];
    const agent = await startAgent('line-u', 'unplug', boards, (run) =>
      run.payload.mac === leaving ? hang(run) : succeed(run),
    );
    const jobId = await submitAll('unplug');
    await pollUntil(() => agent.received.some((r) => r.payload.mac === leaving), {
      what: 'the run on the leaving board',
    });
    await agent.reportBoards([boards[1]], [boards[0].portPath], false);
    const requeuedAt = await pollUntil(
      async () => ((await suite.getJob(jobId)).slots.some((s) => s.attempts === 2) ? Date.now() : undefined),
      { what: 'the slot of the unplugged board to be re-queued' },
    );

    const job = await suite.waitForStatus(jobId, 'failed');
    // Not before the wait: the board could have come back.
    expect(Date.now() - requeuedAt).toBeGreaterThanOrEqual(WAIT_MS - 500);
    expect(slotOf(job, agent.deviceIds.get(staying)).latest.status).toBe('succeeded');
    const stranded = slotOf(job, agent.deviceIds.get(leaving));
    expect(stranded.history.map((h) => [h.attempt, h.status, h.errorCode])).toEqual([
      [1, 'failed', 'DEVICE_GONE'],
      [2, 'failed', 'NO_USABLE_DEVICE'],
    ]);
    expect(stranded.history[1].errorMessage).toMatch(/no usable board/i);
  });

  it('keeps the slot of a board that comes back within the wait, and flashes it', async () => {
    const flaky = 'c3:a3:00:00:00:01';
    const steady = 'c3:a3:00:00:00:02';
    const boards = [board(flaky), board(steady, '/dev/ttyACM1')];
    let flakyRuns = 0;
    // Only the first run on the flaky board hangs (until the board is unplugged); the next one succeeds.
    const agent = await startAgent('line-b', 'blip', boards, (run) =>
      run.payload.mac === flaky && ++flakyRuns === 1 ? hang(run) : succeed(run),
    );
    const jobId = await submitAll('blip');
    await pollUntil(() => agent.received.some((r) => r.payload.mac === flaky), {
      what: 'the run on the flaky board',
    });
    await agent.reportBoards([boards[1]], [boards[0].portPath], false);
    await pollUntil(async () => (await suite.getJob(jobId)).slots.some((s) => s.attempts === 2), {
      what: 'the slot of the unplugged board to be re-queued',
    });
    await agent.reportBoards(boards, [], true);

    const job = await suite.waitForStatus(jobId, 'succeeded');
    const slot = slotOf(job, agent.deviceIds.get(flaky));
    expect(slot.history.map((h) => [h.attempt, h.status, h.errorCode])).toEqual([
      [1, 'failed', 'DEVICE_GONE'],
      [2, 'succeeded', null],
    ]);
    expect(slot.history[1].deviceId).toBe(agent.deviceIds.get(flaky));
  });

  it('keeps waiting through an agent outage longer than the wait, and flashes the board when the agent is back', async () => {
    const held = 'c3:a4:00:00:00:01';
    const done = 'c3:a4:00:00:00:02';
    const boards = [board(held), board(done, '/dev/ttyACM1')];
    const first = await startAgent('line-o', 'outage', boards, (run) =>
      run.payload.mac === held ? hang(run) : succeed(run),
    );
    const jobId = await submitAll('outage');
    await pollUntil(() => first.received.some((r) => r.payload.mac === held), {
      what: 'the run on the held board',
    });
    // The agent process dies: no more heartbeats, nothing answers on its queue.
    await first.close();
    await pollUntil(
      async () => {
        const { rows } = await suite.sql(`SELECT state FROM "Device" WHERE mac = $1`, [held]);
        const job = await suite.getJob(jobId);
        return rows[0].state === 'offline' && job.slots.some((s) => s.attempts === 2);
      },
      { what: 'the board offline with its agent, and its slot re-queued' },
    );
    // Nothing changes during the outage: a pass begun after the bounded wait ran out (counted from
    // at most one pass interval before now) leaves the slot waiting.
    await suite.passBeganAfter(Date.now() + WAIT_MS + INTERVAL_MS, 'the bounded wait of the slot');
    const during = await suite.getJob(jobId);
    expect(during.status).toBe('running');
    expect(slotOf(during, first.deviceIds.get(held)).latest.status).toBe('queued');

    // The agent restarts under the same name: its boards are back and the slot is flashed.
    const second = await startAgent('line-o', 'outage', boards, succeed);
    const job = await suite.waitForStatus(jobId, 'succeeded');
    const slot = slotOf(job, second.deviceIds.get(held));
    expect(slot.history.map((h) => [h.attempt, h.status, h.errorCode])).toEqual([
      [1, 'failed', 'INFRASTRUCTURE'],
      [2, 'succeeded', null],
    ]);
  });
  it('does not give a board whose slot failed for good to another slot', async () => {
    const failing = 'c3:a5:00:00:00:01';
    const leaving = 'c3:a5:00:00:00:02';
    const boards = [board(failing), board(leaving, '/dev/ttyACM1')];
    let failingRuns = 0;
    const agent = await startAgent('line-f', 'final', boards, async (run) => {
      await run.started();
      if (run.payload.mac === leaving)
        return new Promise<void>((resolve) => run.signal.addEventListener('abort', () => resolve()));
      // Only the first run on this board fails; a second one (which must not come) would succeed.
      if (++failingRuns > 1) return run.finish();
      await run.finish({ status: 'failed', errorCode: 'BOOT_CHECK_FAILED', errorMessage: 'no banner' });
    });
    const jobId = await submitAll('final');
    await pollUntil(
      async () => {
        const job = await suite.getJob(jobId);
        const slot = job.slots.find((s) => s.history[0].deviceId === agent.deviceIds.get(failing));
        return slot?.latest.status === 'failed' && agent.received.some((r) => r.payload.mac === leaving);
      },
      { what: 'the failing board to end its slot and the leaving board to hold the other' },
    );
    await agent.reportBoards([boards[0]], [boards[1].portPath], false);

    const job = await suite.waitForStatus(jobId, 'failed');
    // The failed board already has its answer in this job; flashing it again under another slot
    // would report it twice and hide that the unplugged board was never flashed.
    expect(agent.received.filter((r) => r.payload.mac === failing)).toHaveLength(1);
    expect(
      slotOf(job, agent.deviceIds.get(failing)).history.map((h) => [h.attempt, h.status, h.errorCode]),
    ).toEqual([[1, 'failed', 'BOOT_CHECK_FAILED']]);
    const stranded = slotOf(job, agent.deviceIds.get(leaving));
    expect(stranded.history.map((h) => [h.attempt, h.status, h.errorCode, h.deviceId])).toEqual([
      [1, 'failed', 'DEVICE_GONE', agent.deviceIds.get(leaving)],
      [2, 'failed', 'NO_USABLE_DEVICE', null],
    ]);
  });

  it('lets a slot move to a board another slot left behind when its own board went away', async () => {
    const first = 'c3:a6:00:00:00:01';
    const second = 'c3:a6:00:00:00:02';
    const late = 'c3:a6:00:00:00:03';
    const boards = [board(first), board(second, '/dev/ttyACM1'), board(late, '/dev/ttyACM2')];
    const runsOn = new Map<string, number>();
    // A first run hangs until its board is unplugged (the agent gives up on a port that went away,
    // which frees its worker for the next board).
    const unplugged = new Map<string, () => void>();
    const agent = await startAgent('line-m', 'move', boards.slice(0, 2), async (run) => {
      const n = (runsOn.get(run.payload.mac) ?? 0) + 1;
      runsOn.set(run.payload.mac, n);
      if (n > 1 || run.payload.mac === late) return succeed(run);
      await run.started();
      await new Promise<void>((resolve) => {
        unplugged.set(run.payload.mac, resolve);
        run.signal.addEventListener('abort', () => resolve());
      });
    });
    const jobId = await submitAll('move');
    await pollUntil(() => runsOn.get(first) === 1 && runsOn.get(second) === 1, {
      what: 'both boards holding a slot',
    });
    const slotA = (await suite.getJob(jobId)).slots.findIndex(
      (s) => s.history[0].deviceId === agent.deviceIds.get(first),
    );

    // The first board goes; its slot moves to a board plugged in meanwhile and succeeds there.
    await agent.reportBoards([boards[1]], [boards[0].portPath], false);
    unplugged.get(first)?.();
    await agent.reportBoards([boards[1], boards[2]], [], false);
    await suite.sql(`UPDATE "Device" SET pool = 'move' WHERE mac = $1`, [late]);
    await pollUntil(async () => (await suite.getJob(jobId)).slots[slotA].latest.status === 'succeeded', {
      what: 'the moved slot to succeed on the late board',
    });

    // Then the second board goes and the first one comes back: its slot has moved on, so the
    // board is free for the slot that lost its own.
    await agent.reportBoards([boards[2]], [boards[1].portPath], false);
    unplugged.get(second)?.();
    await agent.reportBoards([boards[0], boards[2]], [], false);

    const job = await suite.waitForStatus(jobId, 'succeeded');
    const history = (slot: JobSlotView) =>
      slot.history.map((h) => [h.attempt, h.status, h.errorCode, h.deviceId]);
    expect(history(job.slots[slotA])).toEqual([
      [1, 'failed', 'DEVICE_GONE', agent.deviceIds.get(first)],
      [2, 'succeeded', null, agent.deviceIds.get(late)],
    ]);
    expect(history(job.slots[1 - slotA])).toEqual([
      [1, 'failed', 'DEVICE_GONE', agent.deviceIds.get(second)],
      [2, 'succeeded', null, agent.deviceIds.get(first)],
    ]);
  });
  it('never counts a slot ended for want of a board against the board that ran it', async () => {
    const mac = 'c3:a7:00:00:00:01';
    const agent = await startAgent('line-n', 'blame', [board(mac)], hang);
    // One failure short of quarantine (FLASHFARM_QUARANTINE_AFTER_FAILURES=2).
    await suite.sql(`UPDATE "Device" SET "consecutiveFailures" = 1 WHERE mac = $1`, [mac]);
    const jobId = await submitAll('blame');
    const { runId } = await pollUntil(() => agent.received.find((r) => r.payload.jobId === jobId), {
      what: 'the run on the board',
    });
    // A replica that saw the slot stranded may end it just after another replica bound it.
    const result = await suite.api.api.app.get(RunLifecycleService).finishRun(runId, {
      status: 'failed',
      errorCode: 'NO_USABLE_DEVICE',
      errorMessage: 'no usable board',
      final: true,
    });
    expect(result.finished).toBe(true);
    const { rows } = await suite.sql(`SELECT state, "consecutiveFailures" FROM "Device" WHERE mac = $1`, [
      mac,
    ]);
    expect(rows[0]).toEqual({ state: 'idle', consecutiveFailures: 1 });
  });
});
