/**
 * Nothing the agents send is lost: the api is stopped while an agent streams
 * log lines (with redeliveries mixed in) and started again; every line ends
 * up stored once, in seq order, and the run finishes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { AGENT_EVENTS_GROUP, AGENT_EVENTS_STREAM } from '#contracts';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestRedisUrl } from '../support/redis.js';
import { pollUntil, within } from '../support/poll.js';
import { FakeAgent, seedFirmware, seedToken, sql } from '../support/fake-agent.js';
import { holdFor } from '../support/stimulus.js';

const ENV = { FLASHFARM_SCHEDULER_INTERVAL_MS: '200', FLASHFARM_EVENTS_CLAIM_IDLE_MS: '500' };
const BATCHES = 60;
const PER_BATCH = 5;
const TOTAL = BATCHES * PER_BATCH;

describe('agent events while the api restarts', () => {
  let database: TestDatabase;
  let redisUrl: string;
  const apis: TestApi[] = [];
  let agent: FakeAgent | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    redisUrl = await createTestRedisUrl();
  });

  afterAll(async () => {
    await agent?.close();
    for (const api of apis) await api.close().catch(() => undefined);
    await database?.drop();
  });

  it('stores every log line once and in order across an api restart', async () => {
    const first = await within(startTestApi({ database, redisUrl, env: ENV }), 20_000, 'the first api start');
    apis.push(first);
    const agentToken = await seedToken(database.url, 'agent', 'agent');
    const ci = await seedToken(database.url, 'ci', 'ci');
    const firmwareId = await seedFirmware(database.url, 'esp32s3');
    let sentBatches = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Half the batches go out before the api stops, the rest only once it has stopped: the restart
    // lands mid-stream however long the shutdown takes.
    let resume: () => void = () => {};
    const halfway = new Promise<void>((resolve) => (resume = resolve));
    agent = await new FakeAgent({
      baseUrl: first.baseUrl,
      token: agentToken,
      redisUrl,
      name: 'streamer',
      boards: [{ mac: '53:00:00:00:00:01', chip: 'esp32s3', portPath: '/dev/ttyACM0' }],
      script: async (run) => {
        await run.started();
        for (let b = 0; b < BATCHES; b++) {
          if (b === Math.floor(BATCHES / 2)) await halfway;
          const seqs = Array.from({ length: PER_BATCH }, (_, i) => b * PER_BATCH + i + 1);
          await run.logBatch(seqs);
          // Every seventh batch is sent twice, as a redelivery after a lost acknowledgement would be.
          if (b % 7 === 3) await run.logBatch(seqs);
          sentBatches = b + 1;
          await holdFor(8); // an agent's pace: the api restart lands mid-stream
        }
        await gate;
        await run.finish();
      },
    }).start();

    const created = await fetch(`${first.baseUrl}/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json' },
      body: JSON.stringify({ firmwareId, target: { selector: {}, count: 1 } }),
    });
    expect(created.status).toBe(201);
    const jobId = ((await created.json()) as { id: string }).id;
    const lastSeq = async (): Promise<number> => {
      const { rows } = await sql(database.url, `SELECT "lastLogSeq" FROM "Run" WHERE "jobId" = $1`, [jobId]);
      return (rows[0] as { lastLogSeq: number } | undefined)?.lastLogSeq ?? 0;
    };
    await pollUntil(async () => (await lastSeq()) >= 40, { what: 'the first lines to be stored' });

    await within(first.close(), 20_000, 'the first api shutdown');
    const storedWhileUp = await lastSeq();
    resume(); // the agent streams the second half into Redis while no api runs
    await pollUntil(() => sentBatches === BATCHES, {
      timeoutMs: 20_000,
      what: 'the agent to send every batch',
    });
    expect(await lastSeq()).toBe(storedWhileUp); // nothing was stored while no api ran
    expect(storedWhileUp).toBeLessThan(TOTAL);

    const second = await within(
      startTestApi({ database, redisUrl, env: ENV }),
      20_000,
      'the second api start',
    );
    apis.push(second);
    agent.useApi(second.baseUrl);
    release();
    await pollUntil(
      async () => {
        const { rows } = await sql(database.url, `SELECT status FROM "Job" WHERE id = $1`, [jobId]);
        return (rows[0] as { status: string }).status === 'succeeded';
      },
      { timeoutMs: 20_000, what: 'the job to succeed after the restart' },
    );
    const { rows } = await sql(
      database.url,
      `SELECT l.seq, l.text FROM "RunLogLine" l JOIN "Run" r ON r.id = l."runId" WHERE r."jobId" = $1 ORDER BY l.id`,
      [jobId],
    );
    const seqs = (rows as Array<{ seq: number; text: string }>).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    for (const row of rows as Array<{ seq: number; text: string }>) expect(row.text).toBe(`line ${row.seq}`);
    expect(await lastSeq()).toBe(TOTAL);
    // Every entry was acknowledged once stored: nothing is left pending in the consumer group.
    const redis = new Redis(redisUrl);
    try {
      await pollUntil(
        async () => ((await redis.xpending(AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP)) as [number])[0] === 0,
        { what: 'no pending agent events' },
      );
    } finally {
      redis.disconnect();
    }
    // Two api start-ups and the claim of the stopped consumer's entries: more than the default 30 s on a loaded machine.
  }, 90_000);
});
