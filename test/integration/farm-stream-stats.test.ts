/**
 * What the dashboard reads besides the resources, against the real api on
 * PostgreSQL and Redis with a scripted agent: GET /whoami and /chips; the farm
 * stream (GET /events) telling a board's idle → busy → idle and the job's end as
 * they are stored, and what changed meanwhile after a reconnect with
 * Last-Event-ID; the statistics counted by the database trigger as runs end.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  BreakdownView,
  ChipView,
  DeviceView,
  FailureStatsView,
  TrendView,
  WhoamiView,
} from '#contracts';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { pollUntil } from '../support/poll.js';
import { FakeAgent, seedFirmware, seedToken } from '../support/fake-agent.js';

let api: TestApi;
let agent: FakeAgent;
let viewer: string;
let ci: string;
let operator: string;
let firmwareId: string;
let release: () => void = () => {};
let holding = true;
let failing = false;

interface SseEvent {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

/** Follows a stream, collecting its events, until stop() is called. */
function follow(path: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  const done = (async () => {
    const response = await fetch(`${api.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${viewer}`, ...headers },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event: Partial<SseEvent> = {};
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) event.event = line.slice(7);
          else if (line.startsWith('id: ')) event.id = line.slice(4);
          else if (line.startsWith('data: '))
            event.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
        }
        if (event.event) events.push(event as SseEvent);
      }
    }
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) throw error;
  });
  return {
    events,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

async function get<T>(path: string, token = viewer): Promise<{ status: number; body: T }> {
  const response = await fetch(`${api.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as T };
}

async function createJob(): Promise<string> {
  const response = await fetch(`${api.baseUrl}/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json' },
    body: JSON.stringify({ firmwareId, target: { selector: {}, count: 1 } }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function jobStatus(id: string): Promise<string> {
  return (await get<{ status: string }>(`/jobs/${id}`)).body.status;
}

beforeAll(async () => {
  api = await startTestApi({ env: { FLASHFARM_SCHEDULER_INTERVAL_MS: '200' } });
  viewer = await seedToken(api.database.url, 'viewer', 'viewer');
  ci = await seedToken(api.database.url, 'ci', 'ci');
  operator = await seedToken(api.database.url, 'operator', 'operator');
  const agentToken = await seedToken(api.database.url, 'agent', 'agent');
  firmwareId = await seedFirmware(api.database.url, 'esp32c6');
  agent = await new FakeAgent({
    baseUrl: api.baseUrl,
    token: agentToken,
    redisUrl: api.redisUrl,
    name: 'stream-rack',
    boards: [{ mac: 'c6:00:00:00:00:21', chip: 'esp32c6', portPath: '/dev/ttyACM0' }],
    script: async (run) => {
      await run.started();
      if (holding) await new Promise<void>((resolve) => (release = resolve));
      if (failing)
        return run.finish({ status: 'failed', errorCode: 'IMAGE_TOO_BIG', errorMessage: 'too big' });
      await run.finish({ bytesWritten: 65536 });
    },
  }).start();
}, 60_000);

afterAll(async () => {
  await agent?.close();
  await api?.close();
});

describe('whoami and chips', () => {
  it('names the calling token and its role', async () => {
    const { status, body } = await get<WhoamiView>('/whoami');
    expect(status).toBe(200);
    expect(body).toMatchObject({ name: 'viewer', role: 'viewer', expiresAt: null });
  });

  it('lists the chips the farm flashes, without unsupported ones', async () => {
    const { body } = await get<ChipView[]>('/chips');
    const names = body.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['esp8266', 'esp32', 'esp32c6', 'esp32s3']));
    expect(names).not.toContain('esp32c5');
    expect(body.find((c) => c.name === 'esp32s3')?.displayName).toBe('ESP32-S3');
  });
});

describe('the farm stream', () => {
  it('tells a board going busy and idle again, and the job ending, as they are stored', async () => {
    const deviceId = agent.deviceIds.get('c6:00:00:00:00:21')!;
    const stream = follow('/events');
    await pollUntil(() => stream.events.some((e) => e.event === 'ready'), {
      timeoutMs: 5_000,
      what: 'ready',
    });
    expect(stream.events[0]).toMatchObject({ event: 'ready', data: { resumed: false } });
    const deviceState = (state: string) =>
      stream.events.some(
        (e) => e.event === 'device' && e.data.id === deviceId && (e.data as DeviceView).state === state,
      );
    const jobId = await createJob();
    await pollUntil(() => deviceState('busy'), { timeoutMs: 10_000, what: 'the board busy on the stream' });
    await pollUntil(
      () =>
        stream.events.some((e) => e.event === 'run' && e.data.jobId === jobId && e.data.status === 'running'),
      { timeoutMs: 10_000, what: 'the run running on the stream' },
    );
    release();
    await pollUntil(
      () =>
        stream.events.some((e) => e.event === 'job' && e.data.id === jobId && e.data.status === 'succeeded'),
      { timeoutMs: 10_000, what: 'the job succeeded on the stream' },
    );
    await pollUntil(
      () =>
        deviceState('idle') &&
        stream.events.findLastIndex((e) => e.event === 'device' && (e.data as DeviceView).state === 'idle') >
          stream.events.findIndex((e) => e.event === 'device' && (e.data as DeviceView).state === 'busy'),
      { timeoutMs: 10_000, what: 'the board idle again' },
    );
    const job = stream.events.findLast((e) => e.event === 'job' && e.data.id === jobId)!;
    expect(job.data.slotCounts).toEqual({ succeeded: 1 });
    await stream.stop();
  }, 30_000);

  it('sends what changed while a client was away when it reconnects with Last-Event-ID', async () => {
    const first = follow('/events');
    await pollUntil(() => first.events.length > 0, { timeoutMs: 5_000, what: 'ready' });
    const lastId = first.events.at(-1)!.id!;
    await first.stop();
    const deviceId = agent.deviceIds.get('c6:00:00:00:00:21')!;
    const patched = await fetch(`${api.baseUrl}/devices/${deviceId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'while away' }),
    });
    expect(patched.status).toBe(200);
    const again = follow('/events', { 'last-event-id': lastId });
    await pollUntil(() => again.events.some((e) => e.event === 'device' && e.data.label === 'while away'), {
      timeoutMs: 5_000,
      what: 'the change made meanwhile',
    });
    expect(again.events[0]).toMatchObject({ event: 'ready', data: { resumed: true } });
    await again.stop();
    const fresh = follow('/events', { 'last-event-id': 'not-a-time' });
    await pollUntil(() => fresh.events.length > 0, { timeoutMs: 5_000, what: 'ready' });
    expect(fresh.events[0]).toMatchObject({ event: 'ready', data: { resumed: false } });
    await fresh.stop();
  });
});

describe('statistics', () => {
  it('counts ended runs into trends, failure rates and breakdowns', async () => {
    holding = false;
    failing = true;
    const failedJob = await createJob();
    await pollUntil(async () => (await jobStatus(failedJob)) === 'failed', {
      timeoutMs: 15_000,
      what: 'the job failed',
    });
    const deviceId = agent.deviceIds.get('c6:00:00:00:00:21')!;

    const trend = await get<TrendView>(`/stats/trend?deviceId=${deviceId}`);
    expect(trend.status).toBe(200);
    expect(trend.body.grain).toBe('day');
    const sum = (k: 'runs' | 'succeeded' | 'failed') => trend.body.points.reduce((n, p) => n + p[k], 0);
    // IMAGE_TOO_BIG is not retried (the failure policy): one attempt, counted once.
    expect(sum('succeeded')).toBe(1);
    expect(sum('failed')).toBe(1);
    expect(sum('runs')).toBe(sum('succeeded') + sum('failed'));
    const ok = trend.body.points.find((p) => p.succeeded > 0)!;
    expect(ok.meanDurationMs).toBeGreaterThanOrEqual(0);
    expect(ok.maxDurationMs).not.toBeNull();

    const failures = await get<FailureStatsView>(
      '/stats/failures?grain=hour&from=' + new Date(Date.now() - 3_600_000).toISOString(),
    );
    expect(failures.body.grain).toBe('hour');
    expect(failures.body.codes[0]).toMatchObject({ errorCode: 'IMAGE_TOO_BIG' });
    expect(failures.body.codes[0].rate).toBeCloseTo(failures.body.codes[0].runs / failures.body.runs);

    const byDevice = await get<BreakdownView>('/stats/breakdown?by=device&sort=yield');
    expect(byDevice.body.rows).toHaveLength(1);
    expect(byDevice.body.rows[0]).toMatchObject({
      key: deviceId,
      label: 'while away (c6:00:00:00:00:21)',
      succeeded: 1,
    });
    expect(byDevice.body.rows[0].yield).toBeCloseTo(1 / (1 + byDevice.body.rows[0].failed));
    const byFirmware = await get<BreakdownView>('/stats/breakdown?by=firmware');
    expect(byFirmware.body.rows[0].key).toBe(firmwareId);
    const byChip = await get<BreakdownView>('/stats/breakdown?by=chip&chip=esp32');
    expect(byChip.body.rows).toEqual([]);
  }, 30_000);

  it('refuses windows it cannot answer with a message that says what to ask instead', async () => {
    const wide = await get<{ code: string; message: string }>(
      '/stats/trend?grain=hour&from=2020-01-01T00:00:00Z&to=2020-03-01T00:00:00Z',
    );
    expect(wide.status).toBe(400);
    expect(wide.body.code).toBe('VALIDATION_FAILED');
    expect(wide.body.message).toContain('grain=day');
    const backwards = await get<{ message: string }>(
      '/stats/trend?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
    );
    expect(backwards.status).toBe(400);
    expect(backwards.body.message).toContain('from');
    const by = await get<{ message: string }>('/stats/breakdown?by=port');
    expect(by.status).toBe(400);
    expect(by.body.message).toContain('by must be one of');
  });
});
