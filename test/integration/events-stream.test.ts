/**
 * Reading runs: GET /runs/:id, the stored log (text and JSON), and the live
 * Server-Sent Event streams of a run and a job, including resuming with
 * Last-Event-ID and the end-of-stream event.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { pollUntil } from '../support/poll.js';
import { FakeAgent, seedFirmware, seedToken, type FakeRunContext } from '../support/fake-agent.js';

let api: TestApi;
let agent: FakeAgent;
let viewer: string;
let ci: string;
let firmwareId: string;
let release: () => void = () => {};
let holdNext = false;
/** Replaces the log lines of the next run (after the hold, if any); may say how run.finished names its last seq. */
let customLines: ((run: FakeRunContext) => Promise<{ lastSeq?: number | null } | void>) | undefined;

interface SseEvent {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

/** Sees a stream as it is read: each event, and each keep-alive comment. */
interface SseWatcher {
  onEvent?: (event: SseEvent) => void;
  onKeepAlive?: () => void;
}

/** Reads a stream until `end` (or the deadline) and returns its events. */
async function readSse(
  path: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
  watcher: SseWatcher = {},
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const response = await fetch(`${api.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${viewer}`, ...headers },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event: Partial<SseEvent> = {};
        if (frame.startsWith(': keep-alive')) watcher.onKeepAlive?.();
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) event.event = line.slice(7);
          else if (line.startsWith('id: ')) event.id = line.slice(4);
          else if (line.startsWith('data: '))
            event.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
        }
        if (event.event) {
          events.push(event as SseEvent);
          watcher.onEvent?.(event as SseEvent);
        }
        if (event.event === 'end') return events;
      }
    }
    return events;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** Opens a stream and resolves `opened` at its first event (the snapshot), before any live event matters. */
function openSse(
  path: string,
  watcher: SseWatcher = {},
): { opened: Promise<void>; events: Promise<SseEvent[]> } {
  let opened!: () => void;
  const openedPromise = new Promise<void>((resolve) => (opened = resolve));
  const events = readSse(path, {}, 15_000, {
    ...watcher,
    onEvent: (e) => {
      opened();
      watcher.onEvent?.(e);
    },
  });
  return { opened: openedPromise, events };
}

async function createJob(): Promise<string> {
  const response = await fetch(`${api.baseUrl}/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ci}`, 'content-type': 'application/json' },
    body: JSON.stringify({ firmwareId, target: { selector: {}, count: 1 } }),
  });
  return ((await response.json()) as { id: string }).id;
}

async function runOf(jobId: string): Promise<{ id: string; status: string }> {
  const response = await fetch(`${api.baseUrl}/jobs/${jobId}`, {
    headers: { authorization: `Bearer ${viewer}` },
  });
  const job = (await response.json()) as { slots: Array<{ latest: { id: string; status: string } }> };
  return job.slots[0].latest;
}

beforeAll(async () => {
  api = await startTestApi({
    env: { FLASHFARM_SCHEDULER_INTERVAL_MS: '200', FLASHFARM_SSE_HEARTBEAT_MS: '200' },
  });
  viewer = await seedToken(api.database.url, 'viewer', 'viewer');
  ci = await seedToken(api.database.url, 'ci', 'ci');
  const agentToken = await seedToken(api.database.url, 'agent', 'agent');
  firmwareId = await seedFirmware(api.database.url, 'esp32c6');
  agent = await new FakeAgent({
    baseUrl: api.baseUrl,
    token: agentToken,
    redisUrl: api.redisUrl,
    name: 'logger',
    boards: [{ mac: 'c6:00:00:00:00:01', chip: 'esp32c6', portPath: '/dev/ttyACM0' }],
    script: async (run) => {
      await run.started();
      if (holdNext) await new Promise<void>((resolve) => (release = resolve));
      const lines = customLines;
      customLines = undefined;
      if (lines) {
        const finish = await lines(run);
        return run.finish({}, finish ?? {});
      }
      await run.progress(40, 'write');
      for (let seq = 1; seq <= 30; seq++) await run.log(`line ${seq}`, seq === 30 ? 'warn' : 'info', 'write');
      await run.finish({ baud: 921600 });
    },
  }).start();
});

afterAll(async () => {
  await agent?.close();
  await api?.close();
});

describe('a finished run', () => {
  let jobId: string;
  let runId: string;

  beforeAll(async () => {
    jobId = await createJob();
    const run = await pollUntil(
      async () => {
        const r = await runOf(jobId);
        return r.status === 'succeeded' ? r : undefined;
      },
      { what: 'the run to succeed' },
    );
    runId = run.id;
    await pollUntil(
      async () => {
        const r = await fetch(`${api.baseUrl}/runs/${runId}`, {
          headers: { authorization: `Bearer ${viewer}` },
        });
        return ((await r.json()) as { lastLogSeq: number }).lastLogSeq === 30;
      },
      { what: 'all lines stored' },
    );
  });

  it('is readable with its board, agent and attempt history', async () => {
    const response = await fetch(`${api.baseUrl}/runs/${runId}`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(response.status).toBe(200);
    const run = (await response.json()) as Record<string, unknown>;
    expect(run).toMatchObject({
      id: runId,
      jobId,
      status: 'succeeded',
      attempt: 1,
      baud: 921600,
      progress: 100,
      device: { mac: 'c6:00:00:00:00:01', chip: 'esp32c6' },
      agent: { name: 'logger' },
      lastLogSeq: 30,
    });
    expect(run.attempts).toEqual([expect.objectContaining({ runId, attempt: 1, status: 'succeeded' })]);
  });

  it('serves its log as text by default and as JSON on request', async () => {
    const text = await fetch(`${api.baseUrl}/runs/${runId}/log`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(text.headers.get('content-type')).toContain('text/plain');
    const lines = (await text.text()).trimEnd().split('\n');
    expect(lines).toHaveLength(30);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+ INFO {2}\[write\] line 1$/);
    expect(lines[29]).toMatch(/WARN {2}\[write\] line 30$/);
    for (const url of [`/runs/${runId}/log?format=json&afterSeq=25`, `/runs/${runId}/log?afterSeq=25`]) {
      const response = await fetch(`${api.baseUrl}${url}`, {
        headers: { authorization: `Bearer ${viewer}`, accept: 'application/json' },
      });
      const body = (await response.json()) as {
        lastLogSeq: number;
        lines: Array<{ seq: number; level: string; stage: string; ts: string }>;
      };
      expect(body.lastLogSeq).toBe(30);
      expect(body.lines.map((l) => l.seq)).toEqual([26, 27, 28, 29, 30]);
      expect(body.lines[4]).toMatchObject({ level: 'warn', stage: 'write', ts: expect.any(String) });
    }
  });

  it('streams a snapshot, every stored line and end; resumes after Last-Event-ID', async () => {
    const events = await readSse(`/runs/${runId}/events`);
    expect(events[0]).toMatchObject({ event: 'run', data: { id: runId, status: 'succeeded' } });
    const logs = events.filter((e) => e.event === 'log');
    expect(logs.map((e) => e.data.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(logs.map((e) => e.id)).toEqual(logs.map((e) => String(e.data.seq)));
    expect(events[events.length - 1]).toMatchObject({ event: 'end', data: { runId, status: 'succeeded' } });

    const resumed = await readSse(`/runs/${runId}/events`, { 'Last-Event-ID': '27' });
    expect(resumed.filter((e) => e.event === 'log').map((e) => e.data.seq)).toEqual([28, 29, 30]);
    const byQuery = await readSse(`/runs/${runId}/events?lastEventId=29`);
    expect(byQuery.filter((e) => e.event === 'log').map((e) => e.data.seq)).toEqual([30]);
  });

  it('streams the job with its runs and lines, and resumes after a line id', async () => {
    const events = await readSse(`/jobs/${jobId}/events`);
    expect(events[0]).toMatchObject({ event: 'job', data: { id: jobId, status: 'succeeded' } });
    expect(events[1]).toMatchObject({ event: 'run', data: { id: runId } });
    const logs = events.filter((e) => e.event === 'log');
    expect(logs).toHaveLength(30);
    expect(events[events.length - 1]).toMatchObject({ event: 'end', data: { jobId, status: 'succeeded' } });
    const resumed = await readSse(`/jobs/${jobId}/events`, { 'Last-Event-ID': logs[9].id! });
    expect(resumed.filter((e) => e.event === 'log').map((e) => e.data.seq)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 11),
    );
  });

  it('drops events for a run that already ended', async () => {
    await agent.emit({
      type: 'run.progress',
      runId,
      agentId: agent.agentId,
      at: new Date().toISOString(),
      stage: 'write',
      percent: 3,
      bytesDone: 1,
      bytesTotal: 2,
    });
    await agent.emit({
      type: 'run.finished',
      runId,
      agentId: agent.agentId,
      at: new Date().toISOString(),
      result: {
        status: 'failed',
        errorCode: 'TIMEOUT',
        retries: 0,
        bytesWritten: 0,
        bytesSkipped: 0,
        regions: [],
        timings: {},
      },
    });
    await agent.emit({
      type: 'run.log',
      runId,
      agentId: agent.agentId,
      lines: [{ seq: 31, ts: new Date().toISOString(), level: 'info', text: 'late' }],
    });
    await pollUntil(
      async () => {
        const r = await fetch(`${api.baseUrl}/runs/${runId}`, {
          headers: { authorization: `Bearer ${viewer}` },
        });
        return ((await r.json()) as { lastLogSeq: number }).lastLogSeq === 31;
      },
      { what: 'the late line to be stored' },
    );
    const run = (await (
      await fetch(`${api.baseUrl}/runs/${runId}`, { headers: { authorization: `Bearer ${viewer}` } })
    ).json()) as Record<string, unknown>;
    expect(run).toMatchObject({ status: 'succeeded', progress: 100, errorCode: null });
  });
});

describe('a live run', () => {
  it('delivers state, progress and lines as they happen, then end', async () => {
    holdNext = true;
    const jobId = await createJob();
    const run = await pollUntil(
      async () => {
        const r = await runOf(jobId);
        return r.status === 'running' ? r : undefined;
      },
      { what: 'the run to start' },
    );
    holdNext = false;
    // Both streams open first (a late one would replay from the database instead of seeing live events).
    const runStream = openSse(`/runs/${run.id}/events`);
    const jobStream = openSse(`/jobs/${jobId}/events`);
    await Promise.all([runStream.opened, jobStream.opened]);
    release();
    const events = await runStream.events;
    expect(events[0]).toMatchObject({ event: 'run', data: { status: 'running' } });
    expect(events.some((e) => e.event === 'progress' && e.data.percent === 40)).toBe(true);
    expect(events.filter((e) => e.event === 'log').map((e) => e.data.seq)).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    const states = events.filter((e) => e.event === 'run').map((e) => e.data.status);
    expect(states[states.length - 1]).toBe('succeeded');
    expect(events[events.length - 1].event).toBe('end');
    const jobEvents = await jobStream.events;
    expect(jobEvents.filter((e) => e.event === 'job').map((e) => e.data.status)).toContain('succeeded');
    expect(jobEvents.filter((e) => e.event === 'log')).toHaveLength(30);
  });
});

describe('the end of a stream', () => {
  it('waits for the last line the agent sent, stored after the run ended, instead of a fixed pause', async () => {
    holdNext = true;
    customLines = async (run) => {
      for (let seq = 1; seq <= 5; seq++) await run.log(`line ${seq}`);
      // Line 6 is still on its way (another replica storing it) when run.finished is handled.
      return { lastSeq: 6 };
    };
    const jobId = await createJob();
    const run = await pollUntil(
      async () => {
        const r = await runOf(jobId);
        return r.status === 'running' ? r : undefined;
      },
      { what: 'the run to start' },
    );
    holdNext = false;
    // Keep-alives seen on each stream after it showed the run succeeded: proof it stayed open.
    const afterEnd = { run: 0, job: 0 };
    const ended = { run: false, job: false };
    const watch = (which: 'run' | 'job'): SseWatcher => ({
      onEvent: (e) => {
        if (e.event === 'run' && e.data.status === 'succeeded') ended[which] = true;
      },
      onKeepAlive: () => {
        if (ended[which]) afterEnd[which]++;
      },
    });
    const runStream = openSse(`/runs/${run.id}/events`, watch('run'));
    const jobStream = openSse(`/jobs/${jobId}/events`, watch('job'));
    await Promise.all([runStream.opened, jobStream.opened]);
    release();
    // Three keep-alives (200 ms apart) after the run ended: longer than any fixed pause of 300 ms.
    await pollUntil(() => afterEnd.run >= 3 && afterEnd.job >= 3, {
      what: 'both streams to stay open past the end of the run',
      intervalMs: 20,
    });
    await agent.emit({
      type: 'run.log',
      runId: run.id,
      agentId: agent.agentId,
      lines: [{ seq: 6, ts: new Date().toISOString(), level: 'info', text: 'line 6' }],
    });
    for (const events of [await runStream.events, await jobStream.events]) {
      expect(events.filter((e) => e.event === 'log').map((e) => e.data.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(events[events.length - 1].event).toBe('end');
    }
  });
});

describe('lines out of order, repeated, and with a gap that never closes', () => {
  it('are each sent once on the job stream, live, replayed and resumed; the run stream never skips one', async () => {
    holdNext = true;
    customLines = async (run) => {
      await run.logBatch([1, 2, 5, 6]);
      await run.logBatch([3, 4]);
      await run.logBatch([6, 7]); // 6 again, as a redelivery would: stored once
      await run.logBatch([9, 10]); // 8 was reserved and never sent
      return { lastSeq: null }; // so the agent cannot name a last seq every line up to which was sent
    };
    const jobId = await createJob();
    const run = await pollUntil(
      async () => {
        const r = await runOf(jobId);
        return r.status === 'running' ? r : undefined;
      },
      { what: 'the run to start' },
    );
    holdNext = false;
    const jobStream = openSse(`/jobs/${jobId}/events`);
    const runStream = openSse(`/runs/${run.id}/events`);
    await Promise.all([jobStream.opened, runStream.opened]);
    const liveJob = jobStream.events;
    const liveRun = runStream.events;
    release();
    const sentSeqs = [1, 2, 3, 4, 5, 6, 7, 9, 10];
    const logsOf = (events: SseEvent[]) => events.filter((e) => e.event === 'log');
    const sorted = (events: SseEvent[]) =>
      logsOf(events)
        .map((e) => e.data.seq as number)
        .sort((a, b) => a - b);

    const live = await liveJob;
    expect(live[live.length - 1].event).toBe('end');
    expect(sorted(live)).toEqual(sentSeqs);
    const replayed = await readSse(`/jobs/${jobId}/events`);
    expect(sorted(replayed)).toEqual(sentSeqs);
    // Resuming after the fourth line stored gets exactly the lines stored after it.
    const ids = logsOf(replayed).map((e) => BigInt(e.id!));
    const resumed = await readSse(`/jobs/${jobId}/events`, { 'Last-Event-ID': String(ids[3]) });
    expect(logsOf(resumed).map((e) => e.id)).toEqual(
      logsOf(replayed)
        .slice(4)
        .map((e) => e.id),
    );

    // The run stream's id is the seq up to which every line was sent: it stops below the gap.
    const runEvents = await liveRun;
    expect(sorted(runEvents)).toEqual(sentSeqs);
    const runIds = logsOf(runEvents).map((e) => Number(e.id));
    expect(Math.max(...runIds)).toBe(7);
    const afterGap = await readSse(`/runs/${run.id}/events`, { 'Last-Event-ID': '7' });
    expect(logsOf(afterGap).map((e) => e.data.seq)).toEqual([9, 10]);
  });
});

describe('errors', () => {
  it('answers 404 for unknown runs and jobs, 401 without a token, 403 for agents', async () => {
    const unknown = crypto.randomUUID();
    for (const path of [
      `/runs/${unknown}`,
      `/runs/${unknown}/log`,
      `/runs/${unknown}/events`,
      `/jobs/${unknown}/events`,
    ]) {
      const response = await fetch(`${api.baseUrl}${path}`, {
        headers: { authorization: `Bearer ${viewer}` },
      });
      expect(response.status).toBe(404);
    }
    expect((await fetch(`${api.baseUrl}/runs/${unknown}`)).status).toBe(401);
    expect((await fetch(`${api.baseUrl}/runs/${unknown}/events`)).status).toBe(401);
    const agentToken = await seedToken(api.database.url, 'agent', 'other-agent');
    expect(
      (await fetch(`${api.baseUrl}/runs/${unknown}`, { headers: { authorization: `Bearer ${agentToken}` } }))
        .status,
    ).toBe(403);
    const bad = await fetch(`${api.baseUrl}/runs/${unknown}/log?format=xml`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(bad.status).toBe(400);
  });
});
