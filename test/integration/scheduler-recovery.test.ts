/**
 * Runs that lose their agent or their board get a new attempt (attempt + 1,
 * same slot) and the history keeps both; pinned jobs wait a bounded time for
 * their board (absent: DEVICE_GONE; quarantined while still attached:
 * NO_USABLE_DEVICE), first attempts included; agents can give runs back;
 * failing boards get quarantined; learned settings land on the device.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pollUntil } from '../support/poll.js';
import {
  board,
  hang,
  holdUntilCancelled,
  startSchedulerSuite,
  type SchedulerSuite,
} from '../support/scheduler-suite.js';

/** The bounded wait of a pinned run whose board cannot take it (FLASHFARM_PINNED_REQUEUE_WAIT_MS). */
const WAIT_MS = 1500;
/** The scheduler's safety-net poll (FLASHFARM_SCHEDULER_INTERVAL_MS). */
const INTERVAL_MS = 200;

let suite: SchedulerSuite;

beforeAll(async () => {
  suite = await startSchedulerSuite({
    env: {
      FLASHFARM_SCHEDULER_INTERVAL_MS: String(INTERVAL_MS),
      FLASHFARM_AGENT_DEAD_AFTER_MS: '1500',
      FLASHFARM_PINNED_REQUEUE_WAIT_MS: String(WAIT_MS),
      FLASHFARM_CANCEL_GRACE_MS: '1000',
      FLASHFARM_QUARANTINE_AFTER_FAILURES: '2',
    },
    statusTimeoutMs: 15_000,
  });
});

afterAll(async () => {
  await suite?.close();
});

describe('recovery', () => {
  it('re-queues the run of an agent that stops heartbeating onto another board, keeping both attempts', async () => {
    const silent = await suite.startAgent({
      name: 'silent',
      boards: [board('c3:00:00:00:00:01')],
      script: async (run) => {
        await run.started();
        await run.log('connecting');
        await new Promise<void>((resolve) => run.signal.addEventListener('abort', () => resolve()));
      },
    });
    const created = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { selector: { chip: 'esp32c3' }, count: 1 },
    });
    expect(created.status).toBe(201);
    const jobId = created.body.id as string;
    await pollUntil(() => silent.received.length === 1, { what: 'the run to reach the first agent' });
    await pollUntil(async () => (await suite.getJob(jobId)).slots[0].latest.status === 'running', {
      what: 'run.started stored',
    });

    const healthy = await suite.startAgent({ name: 'healthy', boards: [board('c3:00:00:00:00:02')] });
    silent.pauseHeartbeats();
    const startedAt = Date.now();
    const job = await suite.waitForStatus(jobId, 'succeeded', {
      timeoutMs: 15_000,
      what: 'the job to succeed on the other board',
    });
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(healthy.received).toHaveLength(1);
    const slot = job.slots[0];
    expect(slot.attempts).toBe(2);
    expect(slot.history.map((h) => [h.attempt, h.status, h.errorCode])).toEqual([
      [1, 'failed', 'INFRASTRUCTURE'],
      [2, 'succeeded', null],
    ]);
    expect(slot.history[0].deviceId).toBe(silent.deviceIds.get('c3:00:00:00:00:01'));
    expect(slot.history[1].deviceId).toBe(healthy.deviceIds.get('c3:00:00:00:00:02'));
    const { rows } = await suite.sql(
      `SELECT state, "currentRunId" FROM "Device" WHERE mac = 'c3:00:00:00:00:01'`,
    );
    expect(rows[0].currentRunId).toBeNull();
    // The old attempt starting again (as a BullMQ redelivery after a restart would) is told to stop: its slot moved on.
    const staleRunId = slot.history[0].runId;
    await silent.emit({
      type: 'run.started',
      runId: staleRunId,
      agentId: silent.agentId,
      at: new Date().toISOString(),
      portPath: '/dev/ttyACM0',
    });
    await pollUntil(() => silent.cancelRequests.includes(staleRunId), { what: 'a cancel for the stale run' });
    expect((await suite.getJob(jobId)).slots[0].history[0].status).toBe('failed');
    await silent.close();
  });

  it('lets a pinned job wait a bounded time for its lost board, then fails it with DEVICE_GONE', async () => {
    const doomed = await suite.startAgent({
      name: 'doomed',
      boards: [board('c3:00:00:00:00:03')],
      script: hang,
    });
    const created = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { device: 'c3:00:00:00:00:03' },
    });
    const jobId = created.body.id as string;
    await pollUntil(() => doomed.received.length === 1, { what: 'the pinned run to reach the agent' });
    doomed.pauseHeartbeats();
    const job = await suite.waitForStatus(jobId, 'failed', {
      timeoutMs: 15_000,
      what: 'the pinned job to fail',
    });
    expect(job.slots[0].history.map((h) => [h.attempt, h.status, h.errorCode])).toEqual([
      [1, 'failed', 'INFRASTRUCTURE'],
      [2, 'failed', 'DEVICE_GONE'],
    ]);
    await doomed.close();
  });

  it('ends a re-queued pinned run whose board came back quarantined (still attached) with NO_USABLE_DEVICE after the bounded wait', async () => {
    const mac = 'c3:00:00:00:00:08';
    const boards = [board(mac)];
    const agent = await suite.startAgent({
      name: 'returns-quarantined',
      boards,
      script: hang,
    });
    const jobId = (await suite.post('/jobs', { firmwareId: suite.firmwareId, target: { device: mac } })).body
      .id as string;
    await pollUntil(() => agent.received.length === 1, { what: 'the pinned run to reach the agent' });
    await agent.reportBoards([], [boards[0].portPath], false);
    const requeuedAt = await pollUntil(
      async () => ((await suite.getJob(jobId)).slots[0].attempts === 2 ? Date.now() : undefined),
      { what: 'the run of the unplugged board to be re-queued' },
    );
    // An operator takes the board out of service while it is away; it is plugged back in quarantined.
    const quarantined = await suite.post(
      `/devices/${mac}/quarantine`,
      { reason: 'cracked USB connector' },
      suite.operator,
    );
    expect(quarantined.status).toBe(200);
    await agent.reportBoards(boards, [], true);
    const { rows } = await suite.sql(
      `SELECT d.state, count(a.id)::int AS attached FROM "Device" d LEFT JOIN "Attachment" a ON a."deviceId" = d.id AND a."detachedAt" IS NULL WHERE d.mac = $1 GROUP BY d.state`,
      [mac],
    );
    expect(rows[0]).toEqual({ state: 'quarantined', attached: 1 });

    const job = await suite.waitForStatus(jobId, 'failed');
    expect(Date.now() - requeuedAt).toBeGreaterThanOrEqual(WAIT_MS - 500);
    expect(job.slots[0].history.map((h) => [h.attempt, h.status, h.errorCode, h.deviceId])).toEqual([
      [1, 'failed', 'DEVICE_GONE', agent.deviceIds.get(mac)],
      [2, 'failed', 'NO_USABLE_DEVICE', null],
    ]);
    expect(job.slots[0].history[1].errorMessage).toMatch(/quarantined.*cracked USB connector.*release/);
    expect(agent.received).toHaveLength(1);
    await agent.close();
  });

  it('ends a first attempt queued behind a run that quarantines its pinned board with NO_USABLE_DEVICE after the bounded wait', async () => {
    const mac = 'c3:00:00:00:00:09';
    let failNow: () => void = () => {};
    const failing = new Promise<void>((resolve) => (failNow = resolve));
    const agent = await suite.startAgent({
      name: 'quarantined-while-queued',
      boards: [board(mac)],
      script: async (run) => {
        await run.started();
        await failing;
        await run.finish({ status: 'failed', errorCode: 'FLASH_ERROR', errorMessage: 'erase failed' });
      },
    });
    // One failure short of quarantine (FLASHFARM_QUARANTINE_AFTER_FAILURES=2).
    await suite.sql(`UPDATE "Device" SET "consecutiveFailures" = 1 WHERE mac = $1`, [mac]);
    const pinned = { firmwareId: suite.firmwareId, target: { device: mac } };
    const first = (await suite.post('/jobs', pinned)).body.id as string;
    await pollUntil(() => agent.received.length === 1, { what: 'the first pinned run to reach the agent' });
    const second = await suite.post('/jobs', pinned);
    expect(second.status).toBe(201);
    const secondId = second.body.id as string;
    failNow();
    await suite.waitForStatus(first, 'failed');
    const quarantinedAt = Date.now();
    const { rows } = await suite.sql(`SELECT state FROM "Device" WHERE mac = $1`, [mac]);
    expect(rows[0].state).toBe('quarantined');

    const job = await suite.waitForStatus(secondId, 'failed');
    expect(Date.now() - quarantinedAt).toBeGreaterThanOrEqual(WAIT_MS - 500);
    expect(job.slots[0].history.map((h) => [h.attempt, h.status, h.errorCode, h.deviceId])).toEqual([
      [1, 'failed', 'NO_USABLE_DEVICE', null],
    ]);
    expect(job.slots[0].history[0].errorMessage).toMatch(/quarantined.*FLASH_ERROR.*release/);
    expect(agent.received).toHaveLength(1);
    await agent.close();
  });

  it('ends a first attempt pinned to a board that is unplugged with DEVICE_GONE after the bounded wait', async () => {
    const mac = 'c3:00:00:00:00:0a';
    const agent = await suite.startAgent({ name: 'unplugged-before', boards: [board(mac)] });
    await agent.reportBoards([], ['/dev/ttyACM0'], false);
    const created = await suite.post('/jobs', { firmwareId: suite.firmwareId, target: { device: mac } });
    // Not refused: a board that is away may be plugged back in.
    expect(created.status).toBe(201);
    const submittedAt = Date.now();

    const job = await suite.waitForStatus(created.body.id as string, 'failed');
    expect(Date.now() - submittedAt).toBeGreaterThanOrEqual(WAIT_MS - 500);
    expect(job.slots[0].history.map((h) => [h.attempt, h.status, h.errorCode, h.deviceId])).toEqual([
      [1, 'failed', 'DEVICE_GONE', null],
    ]);
    expect(job.slots[0].history[0].errorMessage).toMatch(/c3:00:00:00:00:0a.*not reachable/);
    expect(agent.received).toHaveLength(0);
    await agent.close();
  });

  it('counts the wait of a first attempt from when its board went away, not from when it was queued', async () => {
    const mac = 'c3:00:00:00:00:0b';
    const boards = [board(mac)];
    let runs = 0;
    const agent = await suite.startAgent({
      name: 'replugged',
      boards,
      maxParallel: 2,
      script: async (run) => (++runs === 1 ? hang(run) : run.finish()),
    });
    const pinned = { firmwareId: suite.firmwareId, target: { device: mac } };
    const first = (await suite.post('/jobs', pinned)).body.id as string;
    await pollUntil(() => agent.received.length === 1, { what: 'the first pinned run to reach the agent' });
    const second = (await suite.post('/jobs', pinned)).body.id as string;
    // Queued behind a run on a board that is present: waiting longer than the bound is no reason to end.
    await suite.passBeganAfter(Date.now() + WAIT_MS + INTERVAL_MS, 'the bounded wait of the queued run');
    expect((await suite.getJob(second)).status).toBe('queued');

    // The board is unplugged and plugged back in well within the wait: both jobs are flashed.
    await agent.reportBoards([], [boards[0].portPath], false);
    await pollUntil(async () => (await suite.getJob(first)).slots[0].attempts === 2, {
      what: 'the run of the unplugged board to be re-queued',
    });
    await agent.reportBoards(boards, [], true);
    const done = await suite.waitForStatus(second, 'succeeded');
    expect(done.slots[0].history.map((h) => [h.attempt, h.status])).toEqual([[1, 'succeeded']]);
    const retried = await suite.waitForStatus(first, 'succeeded');
    expect(retried.slots[0].history.map((h) => [h.attempt, h.status, h.errorCode])).toEqual([
      [1, 'failed', 'DEVICE_GONE'],
      [2, 'succeeded', null],
    ]);
    await agent.close();
  });

  it('re-queues a run the agent gives back, and stops after the attempt cap', async () => {
    let calls = 0;
    const giver = await suite.startAgent({
      name: 'giver',
      boards: [board('c3:00:00:00:00:04')],
      script: async (run) => {
        calls++;
        await run.started();
        await run.finish({
          status: 'failed',
          errorCode: 'PORT_BUSY',
          errorMessage: 'port held',
          requeue: true,
        });
      },
    });
    const created = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { device: 'c3:00:00:00:00:04' },
    });
    const job = await suite.waitForStatus(created.body.id as string, 'failed', {
      timeoutMs: 15_000,
      what: 'the job to fail after three attempts',
    });
    expect(job.slots[0].history.map((h) => h.attempt)).toEqual([1, 2, 3]);
    expect(calls).toBe(3);
    await giver.close();
  });

  it('quarantines a board after consecutive failures and stores what the agent learned', async () => {
    let outcome: 'fail' | 'ok' = 'ok';
    const flaky = await suite.startAgent({
      name: 'flaky',
      boards: [board('c3:00:00:00:00:05')],
      script: async (run) => {
        await run.started();
        if (outcome === 'ok')
          await run.finish({ baud: 460800, learned: { bestBaud: 460800, resetStrategy: 'usb-jtag' } });
        else await run.finish({ status: 'failed', errorCode: 'FLASH_ERROR', errorMessage: 'erase failed' });
      },
    });
    const pinned = { firmwareId: suite.firmwareId, target: { device: 'c3:00:00:00:00:05' } };
    const waitFor = async (id: string, status: string) =>
      pollUntil(async () => (await suite.getJob(id)).status === status, { what: `job ${id} ${status}` });
    await waitFor((await suite.post('/jobs', pinned)).body.id as string, 'succeeded');
    const learned = await suite.sql(
      `SELECT "bestBaud", "resetSequence", "consecutiveFailures" FROM "Device" WHERE mac = 'c3:00:00:00:00:05'`,
    );
    expect(learned.rows[0]).toEqual({ bestBaud: 460800, resetSequence: 'usb-jtag', consecutiveFailures: 0 });
    outcome = 'fail';
    await waitFor((await suite.post('/jobs', pinned)).body.id as string, 'failed');
    await waitFor((await suite.post('/jobs', pinned)).body.id as string, 'failed');
    const { rows } = await suite.sql(
      `SELECT state, "quarantineReason", "consecutiveFailures" FROM "Device" WHERE mac = 'c3:00:00:00:00:05'`,
    );
    expect(rows[0].state).toBe('quarantined');
    expect(rows[0].consecutiveFailures).toBe(2);
    expect(rows[0].quarantineReason).toMatch(/2 consecutive failed runs.*FLASH_ERROR/);
    // A quarantined board takes no more work: a job pinned to it is refused, and nothing is stored.
    const jobs = async () => (await suite.sql(`SELECT count(*)::int AS n FROM "Job"`)).rows[0].n;
    const before = await jobs();
    const refused = await suite.post('/jobs', pinned);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('DEVICE_QUARANTINED');
    expect(refused.body.message).toMatch(/c3:00:00:00:00:05.*2 consecutive failed runs.*release/);
    expect(await jobs()).toBe(before);
    expect(flaky.received).toHaveLength(3);
    await flaky.close();
  });

  it('cancels an in-flight run through the agent, and a run the agent never confirms after the grace time', async () => {
    const obedient = await suite.startAgent({
      name: 'obedient',
      boards: [board('c3:00:00:00:00:06')],
      script: holdUntilCancelled,
    });
    const created = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { device: 'c3:00:00:00:00:06' },
    });
    const jobId = created.body.id as string;
    await pollUntil(async () => (await suite.getJob(jobId)).slots[0].latest.status === 'running', {
      what: 'the run to start',
    });
    const cancelled = await suite.post(`/jobs/${jobId}/cancel`, { reason: 'stop' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    await pollUntil(async () => (await suite.getJob(jobId)).slots[0].latest.status === 'cancelled', {
      what: 'the agent to confirm',
    });
    expect(obedient.cancelRequests).toEqual([obedient.received[0].runId]);
    const { rows } = await suite.sql(
      `SELECT state, "currentRunId" FROM "Device" WHERE mac = 'c3:00:00:00:00:06'`,
    );
    expect(rows[0]).toEqual({ state: 'idle', currentRunId: null });
    await obedient.close();

    await suite.startAgent({
      name: 'deaf',
      boards: [board('c3:00:00:00:00:07')],
      script: async (run) => {
        await run.started();
        await new Promise<void>(() => {}); // never answers, not even a cancel
      },
    });
    const second = (
      await suite.post('/jobs', { firmwareId: suite.firmwareId, target: { device: 'c3:00:00:00:00:07' } })
    ).body.id as string;
    await pollUntil(async () => (await suite.getJob(second)).slots[0].latest.status === 'running', {
      what: 'the run to start',
    });
    await suite.post(`/jobs/${second}/cancel`, {});
    const job = await pollUntil(
      async () => {
        const j = await suite.getJob(second);
        return j.slots[0].latest.status === 'cancelled' ? j : undefined;
      },
      { timeoutMs: 10_000, what: 'the grace time to end the run' },
    );
    expect(job.slots[0].latest.errorCode).toBe('CANCELLED');
  });
});
