import { describe, expect, it } from '@jest/globals';
import type { AgentEvent } from '#contracts';
import { RunReporter, type RunEventSink } from './run-reporter.js';

/** Keeps what the reporter writes, in order, with the last seq written like the Redis mark. */
function recorder(): RunEventSink & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  let seq = 0;
  return {
    events,
    publish: (e) => {
      events.push(e);
      if (e.type === 'run.log') seq = e.lines.at(-1)?.seq ?? seq;
      return Promise.resolve(String(events.length));
    },
    publishFinished: (e) => {
      events.push(e);
      return Promise.resolve();
    },
    lastSeq: () => Promise.resolve(seq),
  };
}

const result = {
  status: 'succeeded' as const,
  retries: 0,
  bytesWritten: 1,
  bytesSkipped: 0,
  regions: [],
  timings: {},
};

describe('run reporter', () => {
  it('throttles progress but always sends stage changes and 100 %', async () => {
    const sink = recorder();
    const r = new RunReporter(sink, 'run-1', 'agent-1');
    for (let i = 0; i <= 1000; i++)
      r.progress({ stage: 'write', percent: Math.floor(i / 10), bytesDone: i, bytesTotal: 1000 });
    r.progress({ stage: 'verify', percent: 0, bytesDone: 0, bytesTotal: 1000 });
    await r.finished(result);
    const progress = sink.events.filter((e) => e.type === 'run.progress');
    expect(progress.map((e) => [e.stage, e.percent])).toEqual([
      ['write', 0],
      ['write', 100],
      ['verify', 0],
    ]);
  });

  it('sends every log line with increasing seq, batched, before the result', async () => {
    const sink = recorder();
    const r = new RunReporter(sink, 'run-2', 'agent-1');
    r.started('/dev/ttyUSB0');
    for (let i = 0; i < 450; i++) r.log('info', 'write', `line ${i}`);
    await r.finished(result);
    const kinds = sink.events.map((e) => e.type);
    expect(kinds[0]).toBe('run.started');
    expect(kinds[kinds.length - 1]).toBe('run.finished');
    const lines = sink.events.flatMap((e) => (e.type === 'run.log' ? e.lines : []));
    expect(lines.map((l) => l.text)).toEqual(Array.from({ length: 450 }, (_, i) => `line ${i}`));
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: 450 }, (_, i) => i + 1));
    // Batched: far fewer events than lines.
    expect(kinds.filter((k) => k === 'run.log').length).toBeLessThanOrEqual(3);
    // The result names the last line, so the api's streams can wait for exactly that one.
    expect(sink.events[sink.events.length - 1]).toMatchObject({ type: 'run.finished', lastSeq: 450 });
  });

  it('sends lastSeq 0 for a run without lines, and none once a batch of lines was lost', async () => {
    const quiet = recorder();
    await new RunReporter(quiet, 'run-4', 'agent-1').finished(result);
    expect(quiet.events).toEqual([expect.objectContaining({ type: 'run.finished', lastSeq: 0 })]);

    const lossy = recorder();
    const publish = lossy.publish;
    let refused = false;
    lossy.publish = (e) => {
      if (e.type === 'run.log' && !refused) {
        refused = true;
        return Promise.reject(new Error('redis down'));
      }
      return publish(e);
    };
    const r = new RunReporter(lossy, 'run-5', 'agent-1');
    r.log('info', 'write', 'lost');
    r.progress({ stage: 'verify', percent: 0, bytesDone: 0, bytesTotal: 1 });
    r.log('info', 'verify', 'kept');
    await expect(r.finished(result)).rejects.toThrow(/could not be written/);
    const finished = lossy.events.find((e) => e.type === 'run.finished');
    expect(finished).toBeDefined();
    expect(finished).not.toHaveProperty('lastSeq');
  });

  it('says so when events could not be written', async () => {
    const sink = recorder();
    sink.publishFinished = () => Promise.reject(new Error('redis down'));
    const r = new RunReporter(sink, 'run-3', 'agent-1');
    await expect(r.finished(result)).rejects.toThrow(/could not be written/);
  });
});
