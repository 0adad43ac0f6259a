/**
 * Redis pub/sub ignores database numbers, so the api's fan-out is scoped by
 * channel name: replicas on one Redis database hear each other, a farm on
 * another database of the same server hears nothing.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { LiveEvents, type LiveMessage } from '../../apps/api/src/events/live-events.js';
import { createTestRedisUrl } from '../support/redis.js';
import { pollUntil } from '../support/poll.js';

describe('live fan-out across Redis databases', () => {
  const clients: Redis[] = [];
  const lives: LiveEvents[] = [];

  afterAll(() => {
    for (const live of lives) live.onApplicationShutdown();
    for (const client of clients) client.disconnect();
  });

  async function replica(url: string): Promise<{ live: LiveEvents; heard: LiveMessage[] }> {
    const client = new Redis(url);
    clients.push(client);
    const live = new LiveEvents(client);
    lives.push(live);
    await live.onModuleInit();
    const heard: LiveMessage[] = [];
    live.subscribe((m) => heard.push(m));
    return { live, heard };
  }

  it('reaches the replicas of its own database only', async () => {
    const farmA = await createTestRedisUrl();
    const farmB = await createTestRedisUrl();
    const a1 = await replica(farmA);
    const a2 = await replica(farmA);
    const b1 = await replica(farmB);

    await a1.live.publish({ kind: 'schedule' });
    await b1.live.publish({
      kind: 'job',
      jobId: 'j-b',
      job: { id: 'j-b', status: 'queued', startedAt: null, finishedAt: null },
    });
    await pollUntil(() => a1.heard.length === 1 && a2.heard.length === 1 && b1.heard.length === 1, {
      what: 'each replica to hear its own farm',
    });
    // The other farm's message would have arrived by now: both went through the same server in order.
    await a1.live.publish({ kind: 'schedule' });
    await pollUntil(() => a2.heard.length === 2, { what: 'the second message on farm A' });

    expect(a1.heard.map((m) => m.kind)).toEqual(['schedule', 'schedule']);
    expect(a2.heard.map((m) => m.kind)).toEqual(['schedule', 'schedule']);
    expect(b1.heard).toEqual([
      { kind: 'job', jobId: 'j-b', job: { id: 'j-b', status: 'queued', startedAt: null, finishedAt: null } },
    ]);
  });
});
