import { describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import {
  FLASH_RUN_JOB,
  DEFAULT_FLASH_OPTIONS,
  type AgentEvent,
  type ClaimRunRequest,
  type FlashRunPayload,
  type RunResultPayload,
} from '#contracts';
import { ApiRequestError } from '../api/agent-api.client.js';
import type { AgentEventsPublisher } from '../events/agent-events.publisher.js';
import { createRunProcessors, dispatchJob, type RunningRun } from './flash-run.processor.js';
import type { FlashRunService } from './flash-run.service.js';
import { claimRun, type RunClaim } from './run-claim.js';

const payload: FlashRunPayload = {
  runId: '0190b4c3-0000-7000-8000-000000000001',
  jobId: '0190b4c3-0000-7000-8000-000000000002',
  attempt: 1,
  deviceId: '0190b4c3-0000-7000-8000-000000000003',
  mac: 'aa:bb:cc:dd:ee:ff',
  chip: 'esp32',
  portPath: '/dev/ttyUSB0',
  firmware: { id: 'fw', sha256: 'a'.repeat(64), chip: 'esp32', parts: [] },
  options: DEFAULT_FLASH_OPTIONS,
  device: {},
};

const succeeded: RunResultPayload = {
  status: 'succeeded',
  retries: 0,
  bytesWritten: 1,
  bytesSkipped: 0,
  regions: [],
  timings: {},
};

/** An api client whose claim answers with `answer` (a value, or an error to throw). */
function client(answer: Error | 'ok') {
  const calls: Array<{ agentId: string; runId: string; body: ClaimRunRequest }> = [];
  return {
    calls,
    claimRun: (agentId: string, runId: string, body: ClaimRunRequest) => {
      calls.push({ agentId, runId, body });
      return answer === 'ok'
        ? Promise.resolve({ runId, attempt: body.attempt, status: 'running' as const })
        : Promise.reject(answer);
    },
  };
}

describe('run claim', () => {
  it('sends the payload attempt and goes ahead when the api grants the claim', async () => {
    const api = client('ok');
    expect(await claimRun(api, 'agent-1', payload)).toEqual({ kind: 'claimed' });
    expect(api.calls).toEqual([{ agentId: 'agent-1', runId: payload.runId, body: { attempt: 1 } }]);
  });

  it("stops only on RUN_NOT_CLAIMABLE, with the api's reason", async () => {
    const refusal = new ApiRequestError(
      'POST /agents/a/runs/r/claim: 409 run r is already failed',
      409,
      'RUN_NOT_CLAIMABLE',
      {
        detail: 'run r is already failed (INFRASTRUCTURE); attempt 2 (dispatched) owns its slot',
      },
    );
    expect(await claimRun(client(refusal), 'agent-1', payload)).toEqual({
      kind: 'refused',
      reason: 'run r is already failed (INFRASTRUCTURE); attempt 2 (dispatched) owns its slot',
    });
  });

  it('goes ahead unchecked when the api cannot answer: down, failing, or older than the claim route', async () => {
    for (const error of [
      new ApiRequestError('POST …: fetch failed', 0),
      new ApiRequestError('POST …: 503 down', 503, 'SERVICE_UNAVAILABLE'),
      new ApiRequestError('POST …: 404 Cannot POST', 404, 'NOT_FOUND'),
      new Error('unexpected'),
    ])
      expect(await claimRun(client(error), 'agent-1', payload)).toMatchObject({ kind: 'unchecked' });
  });
});

/** A processor with fakes around it: what it published, executed and logged. */
function processorWith(claim: RunClaim) {
  const events: AgentEvent[] = [];
  const executed: string[] = [];
  const logs: Array<{ level: string; text: string }> = [];
  const publisher = {
    publish: (e: AgentEvent) => {
      events.push(e);
      return Promise.resolve(String(events.length));
    },
    publishFinished: (e: AgentEvent) => {
      events.push(e);
      return Promise.resolve();
    },
    lastSeq: () => Promise.resolve(0),
    finishedStatus: () => Promise.resolve(undefined),
  } as unknown as AgentEventsPublisher;
  const service = {
    execute: (p: FlashRunPayload) => {
      executed.push(p.runId);
      return Promise.resolve(succeeded);
    },
  } as unknown as FlashRunService;
  const processors = createRunProcessors({
    agentId: 'agent-1',
    service,
    publisher,
    running: new Map<string, RunningRun>(),
    isCancelled: () => false,
    claim: () => Promise.resolve(claim),
    log: (level, text) => logs.push({ level, text }),
  });
  const run = () => dispatchJob(processors, { name: FLASH_RUN_JOB, data: payload } as Job);
  return { run, events, executed, logs };
}

describe('flash-run processor and the claim', () => {
  it('acknowledges a refused run without flashing it or reporting anything, and logs why at info', async () => {
    const p = processorWith({ kind: 'refused', reason: 'run is already failed' });
    expect(await p.run()).toEqual({ status: 'refused' });
    expect(p.executed).toEqual([]);
    expect(p.events).toEqual([]);
    expect(p.logs).toEqual([
      {
        level: 'info',
        text: `run ${payload.runId} (attempt 1) not flashed: the api refused the claim: run is already failed`,
      },
    ]);
  });

  it('flashes a claimed run, and an unchecked one with a warning', async () => {
    const claimed = processorWith({ kind: 'claimed' });
    expect(await claimed.run()).toEqual({ status: 'succeeded' });
    expect(claimed.executed).toEqual([payload.runId]);
    expect(claimed.events.map((e) => e.type)).toEqual(['run.finished']);
    expect(claimed.logs).toEqual([]);

    const unchecked = processorWith({ kind: 'unchecked', reason: 'fetch failed' });
    expect(await unchecked.run()).toEqual({ status: 'succeeded' });
    expect(unchecked.executed).toEqual([payload.runId]);
    expect(unchecked.logs).toEqual([
      { level: 'warn', text: `run ${payload.runId}: could not claim it (fetch failed); flashing it anyway` },
    ]);
  });
});
