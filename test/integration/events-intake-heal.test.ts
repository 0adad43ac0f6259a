/**
 * The intake of agent events heals (real api, PostgreSQL, a redis-server of the suite's own):
 * - Redis SIGKILLed and started again empty: the consumer group is gone; the api creates it again
 *   and runs flow as before (it used to retry on NOGROUP forever, runs running and boards busy);
 * - an intake that cannot read while Redis and the database answer makes /health 503, naming the
 *   agentEvents check, and 200 again once it reads;
 * - acknowledged entries are trimmed from the stream, unacknowledged ones are kept.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { AGENT_EVENTS_GROUP, AGENT_EVENTS_STREAM, type HealthView, type JobView } from '#contracts';
import { AgentEventsConsumer, streamEntries } from '../../apps/api/src/runs/agent-events.consumer.js';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FakeAgent, seedFirmware, seedToken } from '../support/fake-agent.js';
import { startKillableRedis, type KillableRedis } from '../support/killable-redis.js';
import { pollUntil, within } from '../support/poll.js';

const ENV = {
  FLASHFARM_SCHEDULER_INTERVAL_MS: '200',
  FLASHFARM_AGENT_HEARTBEAT_MS: '300',
  FLASHFARM_EVENTS_STALL_MS: '1000',
  // Gone consumers are looked for every claimIdleMs / 2: at the 30 s default the take-over below could
  // come 20 s after the other replica stops reading, later than the test waits.
  FLASHFARM_EVENTS_CLAIM_IDLE_MS: '4000',
};

let database: TestDatabase;
let redis: KillableRedis;
let api: TestApi;
let agent: FakeAgent;
let ci: string;
let firmwareId: string;
let probe: Redis;

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await startKillableRedis();
  api = await within(startTestApi({ database, redisUrl: redis.url, env: ENV }), 20_000, 'the api start');
  ci = await seedToken(database.url, 'ci', 'ci');
  firmwareId = await seedFirmware(database.url, 'esp32');
  agent = await new FakeAgent({
    baseUrl: api.baseUrl,
    token: await seedToken(database.url, 'agent', 'agent'),
    redisUrl: redis.url,
    name: 'heal-agent',
    heartbeatMs: 200,
    boards: [{ mac: '5e:00:00:00:00:01', chip: 'esp32', portPath: '/dev/ttyUSB0' }],
  }).start();
  probe = new Redis(redis.url, { maxRetriesPerRequest: null });
  probe.on('error', () => {});
}, 60_000);

afterAll(async () => {
  probe?.disconnect();
  await agent?.close();
  await api?.close();
  await redis?.stop();
  await database?.drop();
});

async function runJob(): Promise<JobView> {
  const response = await fetch(`${api.baseUrl}/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json' },
    body: JSON.stringify({ firmwareId, target: { selector: {}, count: 1 } }),
  });
  expect(response.status).toBe(201);
  const { id } = (await response.json()) as JobView;
  return pollUntil(
    async () => {
      const job = (await (
        await fetch(`${api.baseUrl}/jobs/${id}`, { headers: { authorization: `Bearer ${ci}` } })
      ).json()) as JobView;
      return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
    },
    { what: `job ${id} to end`, timeoutMs: 20_000, intervalMs: 100 },
  );
}

async function health(): Promise<{ status: number; body: HealthView }> {
  const response = await fetch(`${api.baseUrl}/health`);
  return { status: response.status, body: (await response.json()) as HealthView };
}

describe('agent event intake', () => {
  it('creates its consumer group again after Redis restarts empty, and runs flow as before', async () => {
    expect((await runJob()).status).toBe('succeeded');

    // A marker of the test's own shows that nothing survived the restart. The stream itself cannot
    // show it: the api and the agent may create it again the moment Redis answers.
    await probe.set('flashfarm:test:before-restart', '1');
    await redis.restartEmpty();
    expect(await probe.exists('flashfarm:test:before-restart')).toBe(0);

    const after = await runJob();
    expect(after.status).toBe('succeeded');
    expect(after.slots[0].latest.lastLogSeq).toBeGreaterThan(0);
    const groups = (await probe.call('XINFO', 'GROUPS', AGENT_EVENTS_STREAM)) as unknown[][];
    expect(groups.map((g) => g[1])).toContain(AGENT_EVENTS_GROUP);
    await pollUntil(async () => (await health()).status === 200, { what: '/health to answer 200' });
  }, 90_000);

  it('answers 503 on /health naming agentEvents while the intake cannot read, and 200 once it reads again', async () => {
    expect((await health()).status).toBe(200);
    // The stream's key replaced by a string: Redis and the database answer, but no read can succeed.
    await probe.del(AGENT_EVENTS_STREAM);
    await probe.set(AGENT_EVENTS_STREAM, 'not a stream');
    const stalled = await pollUntil(
      async () => {
        const answer = await health();
        return answer.status === 503 ? answer.body : undefined;
      },
      { what: '/health to answer 503', timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(stalled.status).toBe('degraded');
    expect(stalled.checks.agentEvents.ok).toBe(false);
    expect(stalled.checks.agentEvents.error).toMatch(/no agent event read for \d+ s: WRONGTYPE/);
    expect(stalled.checks.redis.ok).toBe(true);
    expect(stalled.checks.database.ok).toBe(true);

    await probe.del(AGENT_EVENTS_STREAM);
    await pollUntil(async () => (await health()).status === 200, {
      what: '/health to answer 200 again',
      timeoutMs: 15_000,
    });
    expect((await runJob()).status).toBe('succeeded');
  }, 90_000);

  it('trims acknowledged entries from the stream and keeps the unacknowledged ones', async () => {
    for (let i = 0; i < 3; i++) expect((await runJob()).status).toBe('succeeded');
    // Everything the agent sent was stored and acknowledged: the trim leaves (next to) nothing.
    await pollUntil(
      async () =>
        ((await probe.xpending(AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP)) as [number])[0] === 0 &&
        (await probe.xlen(AGENT_EVENTS_STREAM)) === 0,
      { what: 'the stream to be trimmed to nothing', timeoutMs: 15_000, intervalMs: 100 },
    );

    // An entry read by a live consumer that has not acknowledged it yet (another replica mid-batch) is kept.
    // Appended and read in one transaction: the api, blocked on the stream, cannot read it in between.
    const readBy = (consumer: string, from: string) =>
      probe.call(
        'XREADGROUP',
        'GROUP',
        AGENT_EVENTS_GROUP,
        consumer,
        'COUNT',
        1,
        'STREAMS',
        AGENT_EVENTS_STREAM,
        from,
      );
    const taken = await probe
      .multi()
      .xadd(AGENT_EVENTS_STREAM, '*', 'event', JSON.stringify({ type: 'console.data' }))
      .call(
        'XREADGROUP',
        'GROUP',
        AGENT_EVENTS_GROUP,
        'other-replica',
        'COUNT',
        1,
        'STREAMS',
        AGENT_EVENTS_STREAM,
        '>',
      )
      .exec();
    const held = String(taken?.[0]?.[1]);
    expect(streamEntries(taken?.[1]?.[1])[0]?.[0]).toBe(held);
    // The other replica keeps reading (it is alive), so its pending entry is not taken over; trimming
    // passes after the job's entries were acknowledged leave it (and what follows it) in the stream.
    const consumer = api.api.app.get(AgentEventsConsumer);
    const alive = setInterval(() => void readBy('other-replica', '0').catch(() => undefined), 300);
    try {
      expect((await runJob()).status).toBe('succeeded');
      const passes = consumer.trimPasses;
      await pollUntil(() => consumer.trimPasses >= passes + 2, { what: 'two trim passes after the job' });
      expect((await probe.xrange(AGENT_EVENTS_STREAM, held, held)).length).toBe(1);
    } finally {
      clearInterval(alive);
    }
    // Once it stops reading, the api takes the entry over, acknowledges it and trims it.
    await pollUntil(
      async () =>
        ((await probe.xpending(AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP)) as [number])[0] === 0 &&
        (await probe.xlen(AGENT_EVENTS_STREAM)) === 0,
      { what: 'the entry to be taken over, acknowledged and trimmed', timeoutMs: 20_000 },
    );
  }, 90_000);
});
