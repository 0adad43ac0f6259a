/**
 * An agent must take its runs from the farm's queue and report only its own: an agent that heartbeats
 * but never takes its runs (its queue connection reaches another Redis) is marked queue_unreachable
 * with a farm event, and its run goes to another agent's board; run events naming another agent than
 * the run's are dropped and reported.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FarmEventView, Page } from '#contracts';
import { pollUntil } from '../support/poll.js';
import { board, startSchedulerSuite, type SchedulerSuite } from '../support/scheduler-suite.js';

/** FLASHFARM_DISPATCH_TAKE_TIMEOUT_MS of this suite. */
const TAKE_TIMEOUT_MS = 1_500;

let suite: SchedulerSuite;

beforeAll(async () => {
  suite = await startSchedulerSuite({
    env: {
      FLASHFARM_SCHEDULER_INTERVAL_MS: '200',
      FLASHFARM_DISPATCH_TAKE_TIMEOUT_MS: String(TAKE_TIMEOUT_MS),
    },
    statusTimeoutMs: 20_000,
  });
});

afterAll(async () => {
  await suite?.close();
});

async function farmEvents(type: string): Promise<FarmEventView[]> {
  const response = await fetch(`${suite.api.baseUrl}/farm-events?type=${type}`, {
    headers: { authorization: `Bearer ${suite.operator}` },
  });
  return ((await response.json()) as Page<FarmEventView>).items;
}

async function agentStatus(name: string): Promise<{ status: string; statusReason: string | null }> {
  const response = await fetch(`${suite.api.baseUrl}/agents/${name}`, {
    headers: { authorization: `Bearer ${suite.operator}` },
  });
  return (await response.json()) as { status: string; statusReason: string | null };
}

describe('an agent that never takes its runs', () => {
  it('is marked queue_unreachable (state + event) and its run finishes on another agent', async () => {
    const deaf = await suite.startAgent({
      name: 'deaf',
      boards: [board('c3:00:00:00:10:01')],
      takeRuns: false,
    });
    const created = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { selector: { chip: 'esp32c3' }, count: 1 },
    });
    expect(created.status).toBe(201);
    const jobId = created.body.id as string;
    await pollUntil(async () => (await suite.getJob(jobId)).slots[0]?.latest.status === 'dispatched', {
      what: "the run to be dispatched to the deaf agent's queue",
    });
    const healthy = await suite.startAgent({ name: 'healthy', boards: [board('c3:00:00:00:10:02')] });

    const job = await suite.waitForStatus(jobId, 'succeeded');
    expect(healthy.received).toHaveLength(1);
    expect(job.slots[0].latest.attempt).toBe(2);
    expect(await agentStatus('deaf')).toMatchObject({
      status: 'queue_unreachable',
      statusReason: expect.stringMatching(/no worker of it is connected/),
    });
    const events = await farmEvents('agent.queue-unreachable');
    expect(events.map((e) => e.agentId)).toEqual([deaf.agentId]);
    // Heartbeats do not make it online again: only a worker on the farm's queue does.
    const since = Date.now();
    await suite.passBeganAfter(since + 600, 'a few more heartbeats');
    expect((await agentStatus('deaf')).status).toBe('queue_unreachable');
  });
});

describe('run events from another agent', () => {
  it("are dropped and reported: an agent cannot finish another agent's run", async () => {
    const owner = await suite.startAgent({
      name: 'owner',
      boards: [board('c3:00:00:00:20:01')],
      script: async (run) => {
        await run.started();
        await new Promise<void>((resolve) => run.signal.addEventListener('abort', () => resolve()));
      },
    });
    const other = await suite.startAgent({ name: 'other', boards: [], maxParallel: 1, takeRuns: false });
    const created = await suite.post('/jobs', {
      firmwareId: suite.firmwareId,
      target: { device: 'c3:00:00:00:20:01' },
    });
    const jobId = created.body.id as string;
    await pollUntil(() => owner.received.length === 1, { what: 'the run to reach its agent' });
    const runId = owner.received[0].runId;
    await pollUntil(async () => (await suite.getJob(jobId)).slots[0].latest.status === 'running', {
      what: 'the run to be running',
    });
    await other.emit({
      type: 'run.finished',
      runId,
      agentId: other.agentId,
      at: new Date().toISOString(),
      result: {
        status: 'failed',
        errorCode: 'NO_SYNC',
        errorMessage: 'forged',
        retries: 0,
        bytesWritten: 0,
        bytesSkipped: 0,
        regions: [],
        timings: {},
      },
    });
    const rejected = await pollUntil(
      async () => (await farmEvents('agent.event-rejected')).find((e) => e.details.runId === runId),
      { what: 'the forged event to be reported' },
    );
    expect(rejected.agentId).toBe(other.agentId);
    // Events are handled in stream order: an event of the owner appended after the forged one is stored,
    // so by then the forged one was handled (dropped) too.
    await owner.emit({
      type: 'run.progress',
      runId,
      agentId: owner.agentId,
      at: new Date().toISOString(),
      stage: 'write',
      percent: 42,
      bytesDone: 42,
      bytesTotal: 100,
    });
    await pollUntil(async () => (await suite.getJob(jobId)).slots[0].latest.progress === 42, {
      what: "the owner's progress to be stored",
    });
    expect((await suite.getJob(jobId)).slots[0].latest.status).toBe('running');
  });
});
