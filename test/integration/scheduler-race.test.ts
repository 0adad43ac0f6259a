/**
 * The scheduler under contention: two api replicas on one PostgreSQL and one
 * Redis, 50 selector jobs over 10 boards held by two scripted agents. Every
 * run completes and no board ever runs two things at once (checked from the
 * stored run intervals). Then priority and FIFO order on one busy board.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { closeApis, startTestApi, type TestApi } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestRedisUrl } from '../support/redis.js';
import { pollUntil } from '../support/poll.js';
import { FakeAgent, seedFirmware, seedToken, sql, type FakeBoard } from '../support/fake-agent.js';

const ENV = { FLASHFARM_SCHEDULER_INTERVAL_MS: '250', FLASHFARM_EVENTS_CLAIM_IDLE_MS: '1000' };

function boards(prefix: string, n: number, chip = 'esp32'): FakeBoard[] {
  return Array.from({ length: n }, (_, i) => ({
    mac: `${prefix}:00:00:00:00:${i.toString(16).padStart(2, '0')}`,
    chip,
    portPath: `/dev/ttyUSB${i}`,
  }));
}

async function createJob(api: TestApi, token: string, body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${api.baseUrl}/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`POST /jobs: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

describe('two api replicas, 50 jobs, 10 boards', () => {
  let database: TestDatabase;
  const apis: TestApi[] = [];
  const agents: FakeAgent[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const redisUrl = await createTestRedisUrl();
    apis.push(await startTestApi({ database, redisUrl, env: ENV }));
    apis.push(await startTestApi({ database, redisUrl, env: ENV }));
  });

  afterAll(async () => {
    await Promise.allSettled(agents.map((agent) => agent.close()));
    await closeApis(apis);
    await database?.drop();
  });

  it('completes every run and never gives one board two overlapping runs', async () => {
    const ci = await seedToken(database.url, 'ci', 'ci');
    const firmwareId = await seedFirmware(database.url, 'esp32');
    for (const [i, api] of apis.entries())
      agents.push(
        await new FakeAgent({
          baseUrl: api.baseUrl,
          token: await seedToken(database.url, 'agent', `host-${i}`),
          redisUrl: api.redisUrl,
          name: `host-${i}`,
          boards: boards(`b${i}`, 5),
          runDelayMs: () => 5 + Math.floor(Math.random() * 40),
        }).start(),
      );

    const jobIds = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        createJob(apis[i % 2], ci, { firmwareId, target: { selector: { chip: 'esp32' }, count: 1 } }),
      ),
    );
    await pollUntil(
      async () => {
        const { rows } = await sql(
          database.url,
          `SELECT count(*)::int AS n FROM "Job" WHERE status = 'succeeded'`,
        );
        return (rows[0] as { n: number }).n === 50;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'all 50 jobs to succeed' },
    );

    type RunRow = {
      jobId: string;
      deviceId: string;
      status: string;
      attempt: number;
      startedAt: Date;
      finishedAt: Date;
    };
    const { rows } = await sql(
      database.url,
      `SELECT r."jobId", r."deviceId", r.status, r.attempt, r."startedAt", r."finishedAt" FROM "Run" r ORDER BY r."startedAt"`,
    );
    const runs = rows as RunRow[];
    expect(runs).toHaveLength(50);
    expect(new Set(runs.map((r) => r.jobId))).toEqual(new Set(jobIds));
    for (const run of runs) {
      expect(run.status).toBe('succeeded');
      expect(run.attempt).toBe(1);
      expect(run.finishedAt.getTime()).toBeGreaterThanOrEqual(run.startedAt.getTime());
    }
    const byDevice = new Map<string, Array<{ startedAt: Date; finishedAt: Date }>>();
    for (const run of runs) {
      const list = byDevice.get(run.deviceId) ?? [];
      list.push(run);
      byDevice.set(run.deviceId, list);
    }
    // Each board's runs, in start order, must each end before the next starts.
    let overlaps = 0;
    for (const list of byDevice.values()) {
      list.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
      for (let i = 1; i < list.length; i++)
        if (list[i].startedAt.getTime() < list[i - 1].finishedAt.getTime()) overlaps++;
    }
    expect(overlaps).toBe(0);
    expect(byDevice.size).toBeGreaterThan(1); // the work was spread, not serialised on one board
    const { rows: devices } = await sql(database.url, `SELECT state, "currentRunId" FROM "Device"`);
    expect(devices).toHaveLength(10);
    for (const d of devices) expect(d).toEqual({ state: 'idle', currentRunId: null });
    // Longer than the 60 s poll above, so a slow machine reports that wait instead of the test timeout.
  }, 90_000);
});

describe('order of waiting runs on one busy board', () => {
  let api: TestApi;
  let agent: FakeAgent | undefined;

  beforeAll(async () => {
    api = await startTestApi({ env: ENV });
  });

  afterAll(async () => {
    await agent?.close();
    await api?.close();
  });

  it('runs higher priorities first and equal priorities in creation order', async () => {
    const agentToken = await seedToken(api.database.url, 'agent', 'agent');
    const ci = await seedToken(api.database.url, 'ci', 'ci');
    const firmwareId = await seedFirmware(api.database.url, 'esp32');
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    agent = await new FakeAgent({
      baseUrl: api.baseUrl,
      token: agentToken,
      redisUrl: api.redisUrl,
      name: 'single',
      boards: boards('c0', 1),
      script: async (run) => {
        await run.started();
        if (first) {
          first = false;
          await gate; // hold the board until every other job is waiting
        }
        await run.finish();
      },
    }).start();

    const target = { selector: {}, count: 1 };
    const blocker = await createJob(api, ci, { firmwareId, target });
    await pollUntil(() => agent!.received.length === 1, { what: 'the blocker to reach the agent' });
    const names: Record<string, string> = { [blocker]: 'blocker' };
    for (const [name, priority] of [
      ['a', 0],
      ['b', 0],
      ['c', 5],
      ['d', 0],
      ['e', 5],
      ['f', -1],
      ['g', 9],
    ] as const)
      names[await createJob(api, ci, { firmwareId, target, priority })] = name;
    release();
    await pollUntil(() => agent!.received.length === 8, { timeoutMs: 20_000, what: 'all eight runs' });
    expect(agent.received.map((r) => names[r.payload.jobId])).toEqual([
      'blocker',
      'g',
      'c',
      'e',
      'a',
      'b',
      'd',
      'f',
    ]);
  });
});
