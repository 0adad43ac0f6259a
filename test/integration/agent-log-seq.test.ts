/**
 * A run's log seqs belong to the agent's reporter (real Redis, SIGKILLed and started again empty):
 * - Redis losing its data mid-run does not make numbers start over (they used to come from an
 *   INCRBY counter in Redis: the lines after the restart reused stored seqs and the api, which
 *   stores a line once per (run, seq), dropped them);
 * - a second execution of a run numbers its lines after the first's, from Redis's mark or, when
 *   Redis lost it, from what the api stored (the claim's lastLogSeq), and opens with REFLASH_MARK.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { AGENT_EVENTS_STREAM, type AgentEvent, type RunResultPayload } from '#contracts';
import { AgentEventsPublisher } from '../../apps/agent/src/events/agent-events.publisher.js';
import { REFLASH_MARK, RunReporter } from '../../apps/agent/src/runs/run-reporter.js';
import { startKillableRedis, type KillableRedis } from '../support/killable-redis.js';

let redis: KillableRedis;
let client: Redis;
let publisher: AgentEventsPublisher;

const result: RunResultPayload = {
  status: 'succeeded',
  retries: 0,
  bytesWritten: 1,
  bytesSkipped: 0,
  regions: [],
  timings: {},
};

beforeAll(async () => {
  redis = await startKillableRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on('error', () => {});
  publisher = new AgentEventsPublisher(client);
}, 30_000);

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

/** The run's events in the stream, in order. */
async function eventsOf(runId: string): Promise<AgentEvent[]> {
  const entries = await client.xrange(AGENT_EVENTS_STREAM, '-', '+');
  return entries
    .map(([, fields]) => JSON.parse(fields[1]) as AgentEvent)
    .filter((e) => 'runId' in e && e.runId === runId);
}

function linesOf(events: AgentEvent[]): Array<{ seq: number; text: string }> {
  return events.flatMap((e) =>
    e.type === 'run.log' ? e.lines.map((l) => ({ seq: l.seq, text: l.text })) : [],
  );
}

describe('run log seqs', () => {
  it('keep increasing when Redis restarts empty in the middle of a run', async () => {
    const runId = 'run-redis-restart';
    const reporter = new RunReporter(publisher, runId, 'agent-1');
    await reporter.begin(0);
    for (const text of ['a', 'b', 'c']) reporter.log('info', 'write', text);
    await reporter.drain();
    expect(linesOf(await eventsOf(runId)).map((l) => l.seq)).toEqual([1, 2, 3]);

    await redis.restartEmpty();
    for (const text of ['d', 'e', 'f']) reporter.log('info', 'verify', text);
    await reporter.finished(result);

    const after = await eventsOf(runId);
    expect(linesOf(after)).toEqual([
      { seq: 4, text: 'd' },
      { seq: 5, text: 'e' },
      { seq: 6, text: 'f' },
    ]);
    const finished = after.find((e) => e.type === 'run.finished');
    expect(finished?.type === 'run.finished' && finished.lastSeq).toBe(6);
  }, 30_000);

  it("numbers a second execution's lines after the first's and marks where it starts", async () => {
    const runId = 'run-reflash';
    const first = new RunReporter(publisher, runId, 'agent-1');
    await first.begin(0);
    for (const text of ['one', 'two']) first.log('info', 'write', text);
    await first.drain();

    // Redis still holds the mark: the second execution continues after it.
    const second = new RunReporter(publisher, runId, 'agent-1');
    await second.begin(0);
    second.log('info', 'write', 'three');
    await second.drain();
    expect(linesOf(await eventsOf(runId))).toEqual([
      { seq: 1, text: 'one' },
      { seq: 2, text: 'two' },
      { seq: 3, text: REFLASH_MARK },
      { seq: 4, text: 'three' },
    ]);

    // Redis lost everything: the api's stored seq (from the claim) is the floor.
    await redis.restartEmpty();
    const third = new RunReporter(publisher, runId, 'agent-1');
    await third.begin(4);
    third.log('info', 'write', 'four');
    await third.finished(result);
    expect(linesOf(await eventsOf(runId))).toEqual([
      { seq: 5, text: REFLASH_MARK },
      { seq: 6, text: 'four' },
    ]);
  }, 30_000);

  it('does not mark the first execution of a run', async () => {
    const runId = 'run-first';
    const reporter = new RunReporter(publisher, runId, 'agent-1');
    await reporter.begin(0);
    reporter.log('info', 'connect', 'hello');
    await reporter.finished(result);
    expect(linesOf(await eventsOf(runId))).toEqual([{ seq: 1, text: 'hello' }]);
  });
});
