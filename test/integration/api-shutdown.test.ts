/**
 * Graceful shutdown with clients attached: open event streams (a dashboard
 * watching a job) are counted in /metrics and must not hold the api's shutdown;
 * nor may a Redis that is gone, or came back empty, when the api is told to stop.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { pollUntil, within } from '../support/poll.js';
import { startKillableRedis } from '../support/killable-redis.js';
import { seedFirmware, seedToken, sql } from '../support/fake-agent.js';

describe('api shutdown', () => {
  let api: TestApi | undefined;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api?.close().catch(() => undefined);
  });

  it('ends open event streams and finishes', async () => {
    const ci = await seedToken(api!.database.url, 'ci', 'ci');
    const admin = await seedToken(api!.database.url, 'admin', 'admin');
    const firmwareId = await seedFirmware(api!.database.url, 'esp32');
    // A registered board that is offline: the job is accepted (422 if no board could ever take it) and waits.
    await sql(
      api!.database.url,
      `INSERT INTO "Device" (id, mac, chip, state, "updatedAt") VALUES (gen_random_uuid(), '5d:00:00:00:00:01', 'esp32', 'offline', now())`,
    );
    const created = await fetch(`${api!.baseUrl}/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json' },
      body: JSON.stringify({ firmwareId, target: { selector: {}, count: 1 } }),
    });
    expect(created.status).toBe(201);
    const jobId = ((await created.json()) as { id: string }).id;
    const stream = await fetch(`${api!.baseUrl}/jobs/${jobId}/events`, {
      headers: { authorization: `Bearer ${ci}` },
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    await reader.read(); // the stream is open and the job waits for a board
    const metrics = await fetch(`${api!.baseUrl}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    expect(await metrics.text()).toMatch(/^flashfarm_sse_streams_open 1$/m);

    const closing = api!.close();
    api = undefined;
    await within(closing, 10_000, 'the api shutdown with an open event stream');
    // The client sees its stream end (and reconnects elsewhere with Last-Event-ID).
    let done = false;
    while (!done) done = (await within(reader.read(), 5_000, 'the end of the event stream')).done;
  });

  it('stops while Redis is unreachable, and after Redis came back empty', async () => {
    // An orchestrator sends SIGTERM during a Redis outage: BullMQ's closes and the event intake wait for
    // their connection, and the api must stop anyway (each waits a bounded time, then is cut off).
    for (const comeBack of [false, true]) {
      const redis = await startKillableRedis();
      const outage = await startTestApi({ redisUrl: redis.url });
      try {
        await redis.kill();
        await pollUntil(async () => (await fetch(`${outage.baseUrl}/health`)).status === 503, {
          what: '/health to notice Redis gone',
        });
        if (comeBack) {
          await redis.startEmpty();
          await pollUntil(async () => (await fetch(`${outage.baseUrl}/health`)).status === 200, {
            what: '/health to see Redis back',
            timeoutMs: 40_000,
          });
        }
        await within(outage.close(), 20_000, `the api shutdown with Redis ${comeBack ? 'back' : 'down'}`);
      } finally {
        await redis.stop();
      }
    }
  }, 150_000);
});
