/**
 * An open event stream ends when the token that opened it stops being valid: revoked through the
 * api on either of two replicas (one database, one Redis), revoked on the database directly (as
 * `flashfarm token revoke` does), or expired. Streams of other tokens keep flowing, and the token
 * gets 401 on its next request.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { seedFirmware, seedToken, sql } from '../support/fake-agent.js';

let first: TestApi;
let second: TestApi;
/** A third replica that re-reads its streams' tokens often (the first two effectively never do). */
let checker: TestApi;
/** The checker's FLASHFARM_SSE_TOKEN_CHECK_MS. */
const CHECK_MS = 500;
let admin: string;
let ci: string;
let jobId: string;

/** An open stream: its events so far, and a promise that settles when the server ends it. */
interface OpenStream {
  events: Array<{ event: string; data: Record<string, unknown> }>;
  ended: Promise<void>;
  isEnded(): boolean;
  abort(): void;
}

async function open(baseUrl: string, path: string, token: string): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(`${baseUrl}${path}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const events: OpenStream['events'] = [];
  let done = false;
  let opened!: () => void;
  const firstEvent = new Promise<void>((resolve) => (opened = resolve));
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event) {
            events.push({ event, data: data ? (JSON.parse(data) as Record<string, unknown>) : {} });
            opened();
          }
        }
      }
    } catch {
      // Aborted by the test: not ended by the server.
      return;
    }
    done = true;
  })();
  await firstEvent; // the stream is registered and flowing before the test acts on its token
  return { events, ended, isEnded: () => done, abort: () => controller.abort() };
}

/** Resolves when the stream ends, or fails naming the deadline. */
async function endsWithin(stream: OpenStream, ms: number): Promise<number> {
  const started = Date.now();
  let timer!: NodeJS.Timeout;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the stream was still open after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([stream.ended, late]);
  } finally {
    clearTimeout(timer);
  }
  expect(stream.isEnded()).toBe(true);
  return Date.now() - started;
}

async function tokenId(name: string): Promise<string> {
  const { rows } = await sql(first.database.url, `SELECT id FROM "ApiToken" WHERE name = $1`, [name]);
  expect(rows).toHaveLength(1);
  return rows[0].id as string;
}

async function status(baseUrl: string, path: string, token: string): Promise<number> {
  return (await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
}

beforeAll(async () => {
  // The first two only learn of a revocation through Redis: a stream ending there proves the announcement.
  const announcementOnly = { FLASHFARM_SSE_TOKEN_CHECK_MS: '600000' };
  first = await startTestApi({ env: announcementOnly });
  const shared = { database: first.database, redisUrl: first.redisUrl };
  second = await startTestApi({ ...shared, env: announcementOnly });
  checker = await startTestApi({ ...shared, env: { FLASHFARM_SSE_TOKEN_CHECK_MS: String(CHECK_MS) } });
  admin = await seedToken(first.database.url, 'admin', 'admin');
  ci = await seedToken(first.database.url, 'ci', 'ci');
  const firmwareId = await seedFirmware(first.database.url, 'esp32');
  await sql(
    first.database.url,
    `INSERT INTO "Device" (id, mac, chip, state, "updatedAt") VALUES ($1, 'ab:00:00:00:00:01', 'esp32', 'idle', now())`,
    [crypto.randomUUID()],
  );
  // No agent: the job stays queued and its stream stays open until something ends it.
  const job = await fetch(`${first.baseUrl}/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json' },
    body: JSON.stringify({ firmwareId, target: { device: 'ab:00:00:00:00:01' } }),
  });
  expect(job.status).toBe(201);
  jobId = ((await job.json()) as { id: string }).id;
});

afterAll(async () => {
  await checker?.close();
  await second?.close();
  await first?.close();
});

describe('event streams of a token that stops being valid', () => {
  it('end on every replica within seconds of DELETE /tokens/:id on one of them; other tokens keep theirs', async () => {
    const viewer = await seedToken(first.database.url, 'viewer', 'wallboard-1');
    const bystander = await seedToken(first.database.url, 'viewer', 'wallboard-2');
    const farmOnSecond = await open(second.baseUrl, '/events', viewer);
    const jobOnSecond = await open(second.baseUrl, `/jobs/${jobId}/events`, viewer);
    const farmOnFirst = await open(first.baseUrl, '/events', viewer);
    const untouched = await open(second.baseUrl, '/events', bystander);

    const revoked = await fetch(`${first.baseUrl}/tokens/${await tokenId('wallboard-1')}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(revoked.status).toBe(200);
    // These replicas do not re-read tokens during the test: only the announcement on Redis can end them.
    for (const stream of [farmOnSecond, jobOnSecond, farmOnFirst]) await endsWithin(stream, 5_000);
    expect(farmOnSecond.events.at(-1)).toEqual({
      event: 'unauthorized',
      data: { code: 'UNAUTHORIZED', message: 'The bearer token has been revoked.' },
    });
    expect(await status(second.baseUrl, '/events', viewer)).toBe(401);
    expect(await status(first.baseUrl, `/jobs/${jobId}/events`, viewer)).toBe(401);
    // The other token's stream on the announcing replicas still flows.
    expect(untouched.isEnded()).toBe(false);
    untouched.abort();
  });

  it('end when the token is revoked on the database directly (the token CLI), by the periodic check', async () => {
    const viewer = await seedToken(first.database.url, 'viewer', 'kiosk');
    const bystander = await seedToken(first.database.url, 'viewer', 'kiosk-2');
    const stream = await open(checker.baseUrl, `/jobs/${jobId}/events`, viewer);
    const untouched = await open(checker.baseUrl, `/jobs/${jobId}/events`, bystander);
    await sql(first.database.url, `UPDATE "ApiToken" SET "revokedAt" = now() WHERE name = 'kiosk'`);
    await endsWithin(stream, CHECK_MS + 10_000);
    expect(stream.events.at(-1)?.event).toBe('unauthorized');
    // The check that ended it read the other token too, and left its stream open.
    expect(untouched.isEnded()).toBe(false);
    untouched.abort();
    expect(await status(checker.baseUrl, '/events', viewer)).toBe(401);
  });

  it('end once the token expires', async () => {
    const viewer = await seedToken(first.database.url, 'viewer', 'short-lived');
    await sql(
      first.database.url,
      `UPDATE "ApiToken" SET "expiresAt" = now() + interval '1 second' WHERE name = 'short-lived'`,
    );
    const stream = await open(checker.baseUrl, '/events', viewer);
    await endsWithin(stream, CHECK_MS + 10_000);
    expect(stream.events.at(-1)).toEqual({
      event: 'unauthorized',
      data: { code: 'UNAUTHORIZED', message: 'The bearer token has expired.' },
    });
    expect(await status(checker.baseUrl, '/events', viewer)).toBe(401);
  });
});
