/**
 * POST/GET /jobs and cancel against a real api on PostgreSQL and Redis:
 * validation, idempotency, roles, the runs a job creates, and cancelling
 * waiting runs. No agent is attached, so every run stays queued: waiting is
 * not failing.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { seedFirmware, seedToken, sql } from '../support/fake-agent.js';

let api: TestApi;
let ci: string;
let viewer: string;
let operator: string;
let agentToken: string;
let esp32Firmware: string;
let esp8266Firmware: string;
const devices: Record<string, string> = {};

async function addDevice(
  mac: string,
  chip: string,
  extra: { pool?: string; tags?: string[]; state?: string } = {},
) {
  const id = crypto.randomUUID();
  await sql(
    api.database.url,
    `INSERT INTO "Device" (id, mac, chip, pool, tags, state, "updatedAt") VALUES ($1, $2, $3, $4, $5, $6, now())`,
    [id, mac, chip, extra.pool ?? null, extra.tags ?? [], extra.state ?? 'idle'],
  );
  devices[mac] = id;
  return id;
}

function call(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${api.baseUrl}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

interface JobBody {
  id: string;
  status: string;
  requestedBy: string;
  priority: number;
  target: Record<string, unknown>;
  slots: Array<{ slot: number; attempts: number; latest: { status: string; errorCode: string | null } }>;
}

beforeAll(async () => {
  api = await startTestApi();
  ci = await seedToken(api.database.url, 'ci', 'pipeline-7');
  viewer = await seedToken(api.database.url, 'viewer', 'dashboard');
  operator = await seedToken(api.database.url, 'operator', 'line-lead');
  agentToken = await seedToken(api.database.url, 'agent', 'host-a');
  esp32Firmware = await seedFirmware(api.database.url, 'esp32');
  esp8266Firmware = await seedFirmware(api.database.url, 'esp8266');
  await addDevice('aa:00:00:00:00:01', 'esp32', { pool: 'line-1', tags: ['usb-c'] });
  await addDevice('aa:00:00:00:00:02', 'esp32', { pool: 'line-1' });
  await addDevice('aa:00:00:00:00:03', 'esp32', { pool: 'line-2', tags: ['usb-c'] });
  await addDevice('aa:00:00:00:00:04', 'esp32', { pool: 'line-1', state: 'quarantined' });
  await addDevice('aa:00:00:00:00:05', 'esp8266', { pool: 'line-1' });
});

afterAll(async () => {
  await api?.close();
});

describe('POST /jobs', () => {
  it('creates a selector job with one queued run per slot, requested by the token name', async () => {
    const response = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { selector: { pool: 'line-1' }, count: 3 }, priority: 5 },
    });
    expect(response.status).toBe(201);
    const job = await json<JobBody>(response);
    expect(job).toMatchObject({ status: 'queued', requestedBy: 'pipeline-7', priority: 5 });
    expect(job.target).toEqual({ selector: { chip: 'esp32', pool: 'line-1' }, count: 3 });
    expect(job.slots.map((s) => [s.slot, s.attempts, s.latest.status])).toEqual([
      [0, 1, 'queued'],
      [1, 1, 'queued'],
      [2, 1, 'queued'],
    ]);
    const again = await json<JobBody>(await call('GET', `/jobs/${job.id}`, { token: viewer }));
    expect(again.slots).toHaveLength(3);
  });

  it('pins a device by MAC or id and creates one run', async () => {
    const byMac = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { device: 'AA:00:00:00:00:02' } },
    });
    expect(byMac.status).toBe(201);
    const job = await json<JobBody>(byMac);
    expect(job.target).toEqual({ device: devices['aa:00:00:00:00:02'] });
    expect(job.slots).toHaveLength(1);
    const byId = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { device: devices['aa:00:00:00:00:03'] } },
    });
    expect(byId.status).toBe(201);
  });

  it('pins a device by MAC in every spelling GET /devices/:idOrMac accepts', async () => {
    // One grammar for naming a board: bare hex and dashes used to be 404 here while GET /devices took them.
    for (const spelling of ['aa0000000002', 'AA-00-00-00-00-02', 'aa00.0000.0002']) {
      const pinned = await call('POST', '/jobs', {
        token: ci,
        body: { firmwareId: esp32Firmware, target: { device: spelling } },
      });
      expect({ spelling, status: pinned.status }).toEqual({ spelling, status: 201 });
      expect((await json<JobBody>(pinned)).target).toEqual({ device: devices['aa:00:00:00:00:02'] });
      const read = await call('GET', `/devices/${spelling}`, { token: viewer });
      expect((await json<{ id: string }>(read)).id).toBe(devices['aa:00:00:00:00:02']);
    }
    const neither = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { device: 'bench-3' } },
    });
    expect(neither.status).toBe(404);
    expect((await json<{ message: string }>(neither)).message).toMatch(/neither a device id nor a MAC/);
  });

  it('targets every matching online board for "all" (quarantined and other chips excluded)', async () => {
    const response = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { all: { pool: 'line-1' } } },
    });
    expect(response.status).toBe(201);
    expect((await json<JobBody>(response)).slots).toHaveLength(2);
    const tagged = await json<JobBody>(
      await call('POST', '/jobs', {
        token: ci,
        body: { firmwareId: esp32Firmware, target: { all: { tags: ['usb-c'] } } },
      }),
    );
    expect(tagged.slots).toHaveLength(2);
  });

  it('refuses "all" when no board matches, with 422', async () => {
    const response = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { all: { pool: 'nowhere' } } },
    });
    expect(response.status).toBe(422);
    const body = await json<{ code: string; message: string }>(response);
    expect(body.code).toBe('NO_MATCHING_DEVICE');
    expect(body.message).toMatch(/no device matches/i);
  });

  it('refuses a job pinned to a quarantined device with 409 DEVICE_QUARANTINED, storing nothing', async () => {
    const mac = 'aa:00:00:00:00:06';
    const id = await addDevice(mac, 'esp32', { pool: 'quarantine-intake' });
    // A job created before the quarantine is still answered for its idempotency key.
    const earlier = { firmwareId: esp32Firmware, target: { device: mac }, idempotencyKey: 'pinned-before' };
    const created = await call('POST', '/jobs', { token: ci, body: earlier });
    expect(created.status).toBe(201);
    await sql(
      api.database.url,
      `UPDATE "Device" SET state = 'quarantined', "quarantineReason" = 'cracked USB connector', "quarantinedAt" = now() WHERE id = $1`,
      [id],
    );
    const jobsBefore = await sql(api.database.url, `SELECT count(*)::int AS n FROM "Job"`);

    for (const device of [mac, id, 'AA-00-00-00-00-06']) {
      const refused = await call('POST', '/jobs', {
        token: ci,
        body: { firmwareId: esp32Firmware, target: { device }, idempotencyKey: `pinned-${device}` },
      });
      expect(refused.status).toBe(409);
      const body = await json<{ code: string; message: string }>(refused);
      expect(body.code).toBe('DEVICE_QUARANTINED');
      expect(body.message).toContain(mac);
      expect(body.message).toContain('cracked USB connector');
      expect(body.message).toMatch(/POST \/devices\/[^ ]+\/release/);
      expect(body.message).toMatch(/selector/);
    }
    expect((await sql(api.database.url, `SELECT count(*)::int AS n FROM "Job"`)).rows).toEqual(
      jobsBefore.rows,
    );
    const replay = await call('POST', '/jobs', { token: ci, body: earlier });
    expect(replay.status).toBe(200);
    expect((await json<JobBody>(replay)).id).toBe((await json<JobBody>(created)).id);

    const doc = await json<{
      paths: Record<string, { post?: { responses: Record<string, { description: string }> } }>;
    }>(await call('GET', '/api/openapi.json'));
    expect(doc.paths['/jobs'].post?.responses['409'].description).toMatch(/DEVICE_QUARANTINED/);
  });

  it('answers 404 for unknown firmware and unknown devices', async () => {
    const fw = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: crypto.randomUUID(), target: { selector: {}, count: 1 } },
    });
    expect(fw.status).toBe(404);
    expect(await json(fw)).toMatchObject({ code: 'NOT_FOUND' });
    const device = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { device: 'de:ad:be:ef:00:00' } },
    });
    expect(device.status).toBe(404);
    expect((await json<{ message: string }>(device)).message).toContain('de:ad:be:ef:00:00');
  });

  it('refuses a chip mismatch with 422 and a clear message', async () => {
    const selector = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, target: { selector: { chip: 'esp32s3' }, count: 1 } },
    });
    expect(selector.status).toBe(422);
    const body = await json<{ code: string; message: string }>(selector);
    expect(body.code).toBe('CHIP_MISMATCH');
    expect(body.message).toMatch(/esp32s3.*esp32/);
    const pinned = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp8266Firmware, target: { device: 'aa:00:00:00:00:01' } },
    });
    expect(pinned.status).toBe(422);
  });

  it.each([
    ['a pattern a backtracking engine takes minutes on', '(.*\\s?)*!', /repeats a group that itself repeats/],
    ['a pattern that does not parse', '(', /not a regular expression RE2 accepts/],
    ['a backreference', '(a)\\1', /no backreferences/],
    ['a pattern past the length cap', 'x'.repeat(501), /at most 500/],
  ])(
    'refuses %s with 422 BOOT_CHECK_PATTERN_INVALID, for jobs and campaigns',
    async (_name, pattern, why) => {
      const options = { bootCheck: { pattern, timeoutMs: 1000 } };
      const job = await call('POST', '/jobs', {
        token: ci,
        body: { firmwareId: esp32Firmware, target: { selector: {}, count: 1 }, options },
      });
      const body = await json<{ code: string; details: Array<{ field: string; message: string }> }>(job);
      expect([job.status, body.code]).toEqual([422, 'BOOT_CHECK_PATTERN_INVALID']);
      expect(body.details[0]).toMatchObject({
        field: 'options.bootCheck.pattern',
        message: expect.stringMatching(why),
      });
      const campaign = await call('POST', '/campaigns', {
        token: operator,
        body: { name: 'pattern', firmwareId: esp32Firmware, mode: 'pool', options },
      });
      expect([campaign.status, (await json<{ code: string }>(campaign)).code]).toEqual([
        422,
        'BOOT_CHECK_PATTERN_INVALID',
      ]);
    },
  );

  it.each([
    ['count 0', { target: { selector: {}, count: 0 } }, 'target'],
    ['count 1001', { target: { selector: {}, count: 1001 } }, 'target'],
    ['two target kinds', { target: { device: 'x', all: {} } }, 'target'],
    [
      'an unsupported baud',
      { target: { selector: {}, count: 1 }, options: { baud: 123456 } },
      'options.baud',
    ],
    ['an unknown option', { target: { selector: {}, count: 1 }, options: { turbo: true } }, 'options'],
    [
      'a firmware id that is no uuid',
      { firmwareId: 'abc', target: { selector: {}, count: 1 } },
      'firmwareId',
    ],
  ])('refuses %s with 400 naming the field', async (_name, patch, field) => {
    const response = await call('POST', '/jobs', {
      token: ci,
      body: { firmwareId: esp32Firmware, ...patch },
    });
    expect(response.status).toBe(400);
    const body = await json<{ code: string; details: Array<{ field: string }> }>(response);
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.details.map((d) => d.field).some((f) => f.startsWith(field))).toBe(true);
  });

  it('replays an idempotent request (header or body) and refuses a different body with the same key', async () => {
    const body = { firmwareId: esp32Firmware, target: { selector: { pool: 'line-2' }, count: 1 } };
    const first = await call('POST', '/jobs', {
      token: ci,
      body,
      headers: { 'Idempotency-Key': 'build-42' },
    });
    expect(first.status).toBe(201);
    const id = (await json<JobBody>(first)).id;
    const replay = await call('POST', '/jobs', { token: ci, body: { ...body, idempotencyKey: 'build-42' } });
    expect(replay.status).toBe(200);
    expect((await json<JobBody>(replay)).id).toBe(id);
    const conflict = await call('POST', '/jobs', {
      token: ci,
      body: { ...body, priority: 9 },
      headers: { 'Idempotency-Key': 'build-42' },
    });
    expect(conflict.status).toBe(409);
    expect(await json(conflict)).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    const { rows } = await sql(
      api.database.url,
      `SELECT count(*)::int AS n FROM "Job" WHERE "idempotencyKey" = 'build-42'`,
    );
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('scopes idempotency keys to the token: another token (even one of the same name) gets its own job', async () => {
    const body = { firmwareId: esp32Firmware, target: { selector: { pool: 'line-2' }, count: 1 } };
    const headers = { 'Idempotency-Key': 'shared-key-1' };
    const mine = await call('POST', '/jobs', { token: ci, body, headers });
    expect(mine.status).toBe(201);
    const mineId = (await json<JobBody>(mine)).id;
    // An operator sending the ci token's key used to be handed the ci token's job (200, same id).
    const theirs = await call('POST', '/jobs', { token: operator, body, headers });
    expect(theirs.status).toBe(201);
    const theirsJob = await json<JobBody>(theirs);
    expect(theirsJob.id).not.toBe(mineId);
    expect(theirsJob.requestedBy).toBe('line-lead');
    // Token names are not unique: a second token named like the first is still another token.
    const twin = await seedToken(api.database.url, 'ci', 'pipeline-7');
    const twinAnswer = await call('POST', '/jobs', { token: twin, body: { ...body, priority: 3 }, headers });
    expect(twinAnswer.status).toBe(201);
    // Each token still replays its own job, and another body with its key is still a conflict.
    const replay = await call('POST', '/jobs', { token: operator, body, headers });
    expect(replay.status).toBe(200);
    expect((await json<JobBody>(replay)).id).toBe(theirsJob.id);
    expect((await call('POST', '/jobs', { token: ci, body: { ...body, priority: 3 }, headers })).status).toBe(
      409,
    );
    const { rows } = await sql(
      api.database.url,
      `SELECT count(*)::int AS n FROM "Job" WHERE "idempotencyKey" = 'shared-key-1'`,
    );
    expect(rows[0]).toEqual({ n: 3 });
    // The listing test below counts only pipeline-7's queued jobs: the operator's leaves the queue.
    expect((await call('POST', `/jobs/${theirsJob.id}/cancel`, { token: operator, body: {} })).status).toBe(
      200,
    );
  });

  it('answers concurrent requests with one key with one job', async () => {
    const body = { firmwareId: esp32Firmware, target: { selector: {}, count: 2 }, idempotencyKey: 'race-1' };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => call('POST', '/jobs', { token: ci, body })),
    );
    const ids = new Set(await Promise.all(answers.map(async (a) => (await json<JobBody>(a)).id)));
    expect(ids.size).toBe(1);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
  });

  it('needs a token of role admin, ci or operator', async () => {
    const body = { firmwareId: esp32Firmware, target: { selector: {}, count: 1 } };
    expect((await call('POST', '/jobs', { body })).status).toBe(401);
    expect((await call('POST', '/jobs', { body, token: 'ff_not_a_token' })).status).toBe(401);
    const denied = await call('POST', '/jobs', { body, token: viewer });
    expect(denied.status).toBe(403);
    expect((await call('POST', '/jobs', { body, token: agentToken })).status).toBe(403);
    expect((await call('GET', '/jobs', { token: agentToken })).status).toBe(403);
  });
});

describe('GET /jobs', () => {
  it('lists newest first, filtered and paginated', async () => {
    const all = await json<{ items: JobBody[]; total: number }>(
      await call('GET', '/jobs?limit=200', { token: viewer }),
    );
    expect(all.total).toBeGreaterThanOrEqual(6);
    const page = await json<{ items: JobBody[]; total: number }>(
      await call('GET', '/jobs?limit=2&offset=1', { token: viewer }),
    );
    expect(page.items.map((j) => j.id)).toEqual(all.items.slice(1, 3).map((j) => j.id));
    const mine = await json<{ items: JobBody[] }>(
      await call('GET', '/jobs?requestedBy=pipeline-7&status=queued', { token: viewer }),
    );
    expect(mine.items.length).toBe(all.items.filter((j) => j.status === 'queued').length);
    const none = await json<{ items: JobBody[] }>(
      await call('GET', '/jobs?requestedBy=nobody', { token: viewer }),
    );
    expect(none.items).toEqual([]);
    expect((await call('GET', '/jobs?limit=0', { token: viewer })).status).toBe(400);
    expect((await call('GET', '/jobs?status=done', { token: viewer })).status).toBe(400);
  });

  it('answers 404 for an unknown job', async () => {
    expect((await call('GET', `/jobs/${crypto.randomUUID()}`, { token: viewer })).status).toBe(404);
    expect((await call('GET', '/jobs/not-an-id', { token: viewer })).status).toBe(404);
  });
});

describe('POST /jobs/:id/cancel', () => {
  it('cancels waiting runs and refuses a second cancel with 409', async () => {
    const job = await json<JobBody>(
      await call('POST', '/jobs', {
        token: ci,
        body: { firmwareId: esp32Firmware, target: { selector: {}, count: 2 } },
      }),
    );
    const cancelled = await call('POST', `/jobs/${job.id}/cancel`, {
      token: ci,
      body: { reason: 'wrong build' },
    });
    expect(cancelled.status).toBe(200);
    const body = await json<JobBody & { cancelReason: string }>(cancelled);
    expect(body.status).toBe('cancelled');
    expect(body.cancelReason).toBe('wrong build');
    expect(body.slots.map((s) => [s.latest.status, s.latest.errorCode])).toEqual([
      ['cancelled', 'CANCELLED'],
      ['cancelled', 'CANCELLED'],
    ]);
    const again = await call('POST', `/jobs/${job.id}/cancel`, { token: ci });
    expect(again.status).toBe(409);
    expect(await json(again)).toMatchObject({ code: 'JOB_NOT_CANCELLABLE' });
    expect((await call('POST', `/jobs/${job.id}/cancel`, { token: viewer })).status).toBe(403);
    expect((await call('POST', `/jobs/${crypto.randomUUID()}/cancel`, { token: ci })).status).toBe(404);
  });
});
