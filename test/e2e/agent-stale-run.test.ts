/**
 * A stale run redelivered after an agent crash is never flashed (real api,
 * PostgreSQL, Redis, the agent as a real process, a simulated board over
 * RFC 2217). The agent is SIGKILLed mid-write; the api declares it dead, fails
 * the run and queues a new attempt on the same (pinned) board. When the agent
 * comes back, BullMQ redelivers the old run once its lock expires: the agent
 * claims it, the api refuses, and the agent acknowledges it without opening
 * the port. The board is written once after the restart, by the new attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { pollUntil } from '../support/poll.js';
import type { JobView } from '#contracts';
import { startApiFarm, type ApiFarm } from './support/api-farm.js';
import { flashMd5, runQueue } from './support/farm.js';

/** Slow enough that the write stage is seen and interrupted, fast enough for CI. */
const TIME_SCALE = 0.5;
/** An app big enough that the SIGKILL lands in the write stage even on a loaded machine. */
const APP_PAYLOAD_BYTES = 256 * 1024;

interface RunLog {
  lastLogSeq: number;
  lines: Array<{ seq: number; ts: string; level: string; stage: string | null; text: string }>;
}

let farm: ApiFarm;

beforeAll(async () => {
  farm = await startApiFarm({
    boards: [{ chip: 'esp32', name: 'stale-esp32', timeScale: TIME_SCALE }],
    // An agent silent for 3½ heartbeats (~1 s) is offline and its runs get a new attempt at once.
    apiEnv: { FLASHFARM_AGENT_HEARTBEAT_MS: '300' },
  });
  await farm.waitForDevices(1);
}, 60_000);

afterAll(async () => {
  await farm?.stop();
});

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

describe('a stale run redelivered after an agent crash', () => {
  it('is acknowledged without flashing while the newer attempt on the same board completes', async () => {
    const board = farm.boards[0];
    // Every page programmed into the board's flash, so flash sessions can be counted.
    const programmed: Array<{ offset: number; length: number }> = [];
    const program = board.board.flash.program.bind(board.board.flash);
    board.board.flash.program = (offset: number, data: Uint8Array): void => {
      programmed.push({ offset, length: data.length });
      program(offset, data);
    };

    const fw = await farm.uploadFirmware('esp32', '7.0.0', APP_PAYLOAD_BYTES);
    const firstOffset = Math.min(...fw.parts.map((p) => p.offset));
    const job = await farm.request<JobView>('POST', '/jobs', {
      firmwareId: fw.id,
      target: { device: board.board.mac },
    });
    const first = await pollUntil(
      async () => {
        const view = await farm.request<JobView>('GET', `/jobs/${job.id}`);
        const latest = view.slots[0]?.latest;
        return latest?.status === 'running' && latest.stage === 'write' && latest.progress > 0
          ? latest
          : undefined;
      },
      { what: 'the first attempt to be writing flash', timeoutMs: 30_000, intervalMs: 30 },
    );
    expect(first.attempt).toBe(1);

    farm.agent.child.kill('SIGKILL');
    await farm.agent.waitForExit(10_000);
    // The api declares the agent dead: the first attempt fails and the slot gets attempt 2.
    const requeued = await pollUntil(
      async () => {
        const view = await farm.request<JobView>('GET', `/jobs/${job.id}`);
        return view.slots[0].latest.attempt === 2 ? view : undefined;
      },
      { what: 'the api to re-queue the slot as attempt 2', timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(requeued.slots[0].latest.status).toBe('queued');
    const stale = await farm.request<{ status: string; errorCode: string | null }>(
      'GET',
      `/runs/${first.id}`,
    );
    expect(stale).toMatchObject({ status: 'failed', errorCode: 'INFRASTRUCTURE' });
    const staleLogBefore = await farm.request<RunLog>('GET', `/runs/${first.id}/log?format=json`);
    expect(staleLogBefore.lines.filter((l) => l.text.startsWith(`run ${first.id} (attempt 1)`))).toHaveLength(
      1,
    );
    programmed.length = 0;

    const agent = farm.startAgent();
    // BullMQ hands the interrupted run to the new process once its lock expired; the api refuses it.
    await agent.waitForOutput(new RegExp(`run ${first.id}.*not flashed`), 30_000);
    const done = await farm.waitForJob(job.id, 60_000);
    expect(done.status).toBe('succeeded');
    expect(done.slots[0].latest).toMatchObject({ attempt: 2, status: 'succeeded', errorCode: null });
    expect(fw.parts.every((p) => flashMd5(board.board, p.offset, p.data.length) === md5(p.data))).toBe(true);

    // The stale run never started again: no new log line, still failed as the api left it.
    const staleLogAfter = await farm.request<RunLog>('GET', `/runs/${first.id}/log?format=json`);
    expect(staleLogAfter.lines.map((l) => l.seq)).toEqual(staleLogBefore.lines.map((l) => l.seq));
    expect(await farm.request('GET', `/runs/${first.id}`)).toMatchObject({
      status: 'failed',
      errorCode: 'INFRASTRUCTURE',
    });
    // One flash session after the restart (attempt 2's): its first region was written once.
    expect(programmed.filter((p) => p.offset === firstOffset)).toHaveLength(1);
    const total = fw.parts.reduce((n, p) => n + p.data.length, 0);
    expect(programmed.reduce((n, p) => n + p.length, 0)).toBeLessThan(2 * total);
    // Attempt 2 was claimed, not flashed unchecked.
    expect(agent.output()).not.toMatch(/could not claim/);
    // The stale entry was acknowledged on the agent's queue (completed, not failed or left active).
    const agents = await farm.request<Array<{ id: string; name: string }>>('GET', '/agents');
    const queue = runQueue(farm.api.redisUrl, agents.find((a) => a.name === 'e2e-agent')!.id);
    try {
      const entry = await queue.getJob(first.id);
      expect(await entry?.getState()).toBe('completed');
      expect(entry?.returnvalue).toEqual({ status: 'refused' });
    } finally {
      await queue.close();
    }
  }, 120_000);

  it('the claim route: agent role, validated input, refusals typed RUN_NOT_CLAIMABLE, documented in OpenAPI', async () => {
    const board = farm.boards[0];
    const fw = await farm.uploadFirmware('esp32', '7.0.1');
    const job = await farm.request<JobView>('POST', '/jobs', {
      firmwareId: fw.id,
      target: { device: board.board.mac },
    });
    const run = (await farm.waitForJob(job.id, 60_000)).slots[0].latest;
    expect(run.status).toBe('succeeded');
    const agents = await farm.request<Array<{ id: string; name: string }>>('GET', '/agents');
    const agentId = agents.find((a) => a.name === 'e2e-agent')!.id;
    const claim = async (path: string, body: unknown, token = farm.agentToken) => {
      const response = await fetch(`${farm.api.baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { code: string; message: string } };
    };
    const path = `/agents/${agentId}/runs/${run.id}/claim`;

    // Role agent (admin may call every route); a CI or viewer token may not.
    for (const role of ['ci', 'viewer']) {
      const { secret } = await farm.request<{ secret: string }>('POST', '/tokens', {
        name: `claim-${role}`,
        role,
      });
      expect(await claim(path, { attempt: 1 }, secret)).toMatchObject({
        status: 403,
        body: { code: 'FORBIDDEN' },
      });
    }
    expect((await claim(path, { attempt: 1 }, 'ff_not-a-real-token-at-all-0000000000000000')).status).toBe(
      401,
    );
    expect((await claim(path, { attempt: 0 })).body.code).toBe('VALIDATION_FAILED');
    expect((await claim(path, {})).body.code).toBe('VALIDATION_FAILED');
    expect((await claim(path, { attempt: 1, extra: true })).body.code).toBe('VALIDATION_FAILED');
    expect((await claim(`/agents/${agentId}/runs/not-a-run/claim`, { attempt: 1 })).status).toBe(400);
    expect(
      await claim(`/agents/0190b4c3-0000-7000-8000-000000000000/runs/${run.id}/claim`, { attempt: 1 }),
    ).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    const ended = await claim(path, { attempt: 1 });
    expect(ended).toMatchObject({ status: 409, body: { code: 'RUN_NOT_CLAIMABLE' } });
    expect(ended.body.message).toMatch(/is already succeeded/);
    expect((await claim(path, { attempt: 2 })).body.message).toMatch(/is attempt 1, not attempt 2/);

    const doc = await farm.request<{
      paths: Record<string, Record<string, { 'x-roles'?: string[]; responses: Record<string, unknown> }>>;
    }>('GET', '/api/openapi.json');
    const op = doc.paths['/agents/{id}/runs/{runId}/claim']?.post;
    expect(op?.['x-roles']).toEqual(['admin', 'agent']);
    expect(Object.keys(op?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '404', '409']));
  }, 90_000);
});
