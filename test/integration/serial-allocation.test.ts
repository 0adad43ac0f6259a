/**
 * Serial numbers for campaign units, allocated by two api replicas on one
 * PostgreSQL database at once: every number distinct, none skipped, none
 * handed out twice; a void allocation is never handed out again; a bad
 * pattern is refused when the campaign is set up, with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { SerialAllocator } from '../../apps/api/src/campaigns/serial-allocator.js';
import { closeApis, startTestApi, type TestApi } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestRedisUrl } from '../support/redis.js';

const ADMIN = 'serial-allocation-admin-token-0123456789';
let database: TestDatabase;
const apis: TestApi[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  const redisUrl = await createTestRedisUrl();
  for (let i = 0; i < 2; i++)
    apis.push(await startTestApi({ database, redisUrl, env: { FLASHFARM_ADMIN_TOKEN: ADMIN } }));
}, 60_000);

afterAll(async () => {
  await closeApis(apis);
  await database?.drop();
});

describe('serial allocation', () => {
  it('two replicas allocating at once never hand out the same serial, and skip none', async () => {
    const [a, b] = apis.map((api) => api.api.app.get(SerialAllocator));
    const campaignId = randomUUID();
    const recipe = { serialPattern: 'FF-{yyww}-{seq:06}' };
    const date = new Date('2026-05-06T10:00:00Z'); // ISO week 19 of 2026
    const each = 60;
    const grants = await Promise.all(
      Array.from({ length: each * 2 }, (_, i) =>
        (i % 2 ? a : b).allocate(campaignId, recipe, undefined, date),
      ),
    );
    const serials = grants.map((g) => g.serial);
    expect(new Set(serials).size).toBe(each * 2);
    expect(grants.map((g) => g.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: each * 2 }, (_, i) => i + 1),
    );
    expect(serials).toContain('FF-2619-000001');
    expect(serials).toContain(`FF-2619-${String(each * 2).padStart(6, '0')}`);

    // A void serial stays taken: the next one is new.
    await a.markVoid('FF-2619-000001', 'the unit failed: WRONG_BOOT_MODE');
    const next = await b.allocate(campaignId, recipe, undefined, date);
    expect(next.seq).toBe(each * 2 + 1);
    // A new week is a new scope with its own counter, and cannot collide with the last one.
    const nextWeek = await a.allocate(campaignId, recipe, undefined, new Date('2026-05-13T10:00:00Z'));
    expect(nextWeek.serial).toBe('FF-2620-000001');
  });

  it('a campaign with a bad serial pattern is refused with the reason, and nothing is created', async () => {
    const answer = await fetch(`${apis[0].baseUrl}/campaigns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'bad-serials',
        firmwareId: randomUUID(),
        mode: 'station',
        unitData: { serialPattern: 'FF-{yyww}-no-counter' },
      }),
    });
    expect(answer.status).toBe(400);
    const problem = (await answer.json()) as { code: string; message: string };
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.message).toMatch(/seq/);
    const list = (await (
      await fetch(`${apis[1].baseUrl}/campaigns`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).json()) as { total: number };
    expect(list.total).toBe(0);
  });
});
