/**
 * Recovery reads before it judges (the api as a real process, SIGKILLed; real PostgreSQL and Redis):
 * the api dies mid-flash, the agent finishes the run while it is down (its result waits in the Redis
 * stream, its heartbeats fail), and an api started again finds the agent's last heartbeat long past
 * the offline threshold. It used to fail the run as INFRASTRUCTURE ("agent stopped answering") and
 * flash the board a second time before reading the stored result; now it reads the stored events and
 * hears the agents for one heartbeat period first, so the run ends as the agent reported, once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { freePort } from '#runtime';
import { AGENT_EVENTS_STREAM, type AgentEvent, type JobView } from '#contracts';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FakeAgent, seedFirmware, seedToken, sql } from '../support/fake-agent.js';
import { pollUntil } from '../support/poll.js';
import { spawnTs, type SpawnedProcess } from '../support/processes.js';
import { createTestRedisUrl } from '../support/redis.js';
import { scratchDir } from '../support/scratch.js';

const HEARTBEAT_MS = 300;

let database: TestDatabase;
let redisUrl: string;
let port: number;
let probe: Redis;
const apis: SpawnedProcess[] = [];
let agent: FakeAgent | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  redisUrl = await createTestRedisUrl();
  port = await freePort();
  probe = new Redis(redisUrl, { maxRetriesPerRequest: null });
}, 30_000);

afterAll(async () => {
  await agent?.close();
  for (const api of apis) api.kill();
  probe?.disconnect();
  await database?.drop();
});

/** Starts the api as `node apps/api/src/main.ts` on the suite's port; resolves once it listens. */
async function startApi(): Promise<SpawnedProcess> {
  const api = spawnTs('apps/api/src/main.ts', [], {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    FLASHFARM_PORT: String(port),
    FLASHFARM_DATA_DIR: scratchDir('flashfarm-api-kill'),
    FLASHFARM_AGENT_HEARTBEAT_MS: String(HEARTBEAT_MS),
    FLASHFARM_SCHEDULER_INTERVAL_MS: '200',
  });
  apis.push(api);
  await api.waitForOutput(/listening on/, 60_000);
  return api;
}

describe('an api killed mid-flash', () => {
  it('stores the run as the agent reported it after restarting, and never flashes the board again', async () => {
    const baseUrl = `http://127.0.0.1:${port}`;
    const first = await startApi();
    const ci = await seedToken(database.url, 'ci', 'ci');
    const firmwareId = await seedFirmware(database.url, 'esp32');
    let flashing!: () => void;
    const midFlash = new Promise<void>((resolve) => (flashing = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    agent = await new FakeAgent({
      baseUrl,
      token: await seedToken(database.url, 'agent', 'agent'),
      redisUrl,
      name: 'kill-agent',
      heartbeatMs: HEARTBEAT_MS,
      boards: [{ mac: '5e:00:00:00:00:21', chip: 'esp32', portPath: '/dev/ttyUSB0' }],
      script: async (run) => {
        await run.started();
        await run.log('writing app at 0x10000', 'info', 'write');
        flashing();
        await released;
        await run.log('verified', 'info', 'verify');
        await run.log('succeeded', 'info', 'done');
        await run.finish();
      },
    }).start();

    const submitted = await fetch(`${baseUrl}/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json' },
      body: JSON.stringify({ firmwareId, target: { selector: {}, count: 1 } }),
    });
    expect(submitted.status).toBe(201);
    const { id: jobId } = (await submitted.json()) as JobView;
    const getJob = async () =>
      (await (
        await fetch(`${baseUrl}/jobs/${jobId}`, { headers: { authorization: `Bearer ${ci}` } })
      ).json()) as JobView;
    await midFlash;
    await pollUntil(async () => (await getJob()).slots[0]?.latest.status === 'running', {
      what: 'the run to be stored as running',
      timeoutMs: 15_000,
    });

    first.kill();
    await first.waitForExit(10_000);
    release();
    // The agent finished while the api was down: its result waits in the stream.
    await pollUntil(
      async () =>
        (await probe.xrange(AGENT_EVENTS_STREAM, '-', '+')).some(
          ([, fields]) => (JSON.parse(fields[1]) as AgentEvent).type === 'run.finished',
        ),
      { what: 'run.finished in the Redis stream', timeoutMs: 10_000 },
    );
    // The outage lasts until the stored heartbeat is far past the offline threshold (3.5 periods).
    await pollUntil(
      async () => {
        const { rows } = await sql(database.url, `SELECT "lastHeartbeatAt" FROM "Agent" WHERE id = $1`, [
          agent!.agentId,
        ]);
        return Date.now() - new Date(rows[0].lastHeartbeatAt as string).getTime() > 10 * HEARTBEAT_MS;
      },
      { what: "the agent's last stored heartbeat to be 10 periods old", timeoutMs: 15_000, intervalMs: 100 },
    );

    await startApi();
    const ended = await pollUntil(
      async () => {
        const job = await getJob();
        return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
      },
      { what: 'the job to end after the restart', timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(ended.status).toBe('succeeded');
    expect(ended.slots[0].latest).toMatchObject({ status: 'succeeded', attempt: 1 });
    // Flashed once: the agent got the run once and no second attempt exists.
    expect(agent.received.map((r) => r.payload.attempt)).toEqual([1]);
    const { rows } = await sql(database.url, `SELECT count(*)::int AS n FROM "Run" WHERE "jobId" = $1`, [
      jobId,
    ]);
    expect(rows[0].n).toBe(1);
    const log = await fetch(`${baseUrl}/runs/${ended.slots[0].latest.id}/log`, {
      headers: { authorization: `Bearer ${ci}` },
    });
    expect(await log.text()).toMatch(/writing app at 0x10000[\s\S]*verified[\s\S]*succeeded/);
  }, 120_000);
});
