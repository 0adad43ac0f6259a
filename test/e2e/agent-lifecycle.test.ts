/**
 * The agent's control and shutdown paths as a real process (real Redis,
 * simulated boards over RFC 2217, the api contract served by a stand-in):
 * cancel through the control channel and through the heartbeat answer, the
 * console streamed without resetting the board and paused while a run holds
 * the port, and SIGTERM: a run finishes within the grace period, or is
 * aborted and handed back when the grace is over; the process exits 0; a
 * run the api refuses to hand out (its claim) is dropped without touching the board.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { agentControlChannel, type AgentControlMessage } from '#contracts';
import { bootableAppImages } from '#sim';
import { createTestRedisUrl } from '../support/redis.js';
import { pollUntil } from '../support/poll.js';
import type { SpawnedProcess } from '../support/processes.js';
import { startContractApi, type ContractApi } from './support/contract-api.js';
import {
  buildFirmware,
  dispatchRun,
  EventReader,
  holdsFirmware,
  runQueue,
  startAgent,
  startBoard,
  type FarmBoard,
} from './support/farm.js';
import { scratchDir } from '../support/scratch.js';

/** Real-time-ish boards, so a flash lasts long enough to be interrupted. */
const TIME_SCALE = 0.5;

let api: ContractApi;
let redisUrl: string;
let events: EventReader;
let publisher: Redis;
const boards: FarmBoard[] = [];
const agents: SpawnedProcess[] = [];
const queues: Queue[] = [];

function tempDir(): string {
  return scratchDir('flashfarm-agent-life');
}

async function agentWith(name: string, board: FarmBoard, env: Record<string, string> = {}) {
  const agent = startAgent({ api, redisUrl, name, ports: [board.url], dataDir: tempDir(), env });
  agents.push(agent);
  const agentId = await pollUntil(() => api.agents.get(name)?.agentId, {
    what: `${name} to register`,
    timeoutMs: 20_000,
  });
  const device = await pollUntil(() => api.devices.get(board.board.mac), {
    what: `${name}'s board`,
    timeoutMs: 20_000,
  });
  const queue = runQueue(redisUrl, agentId);
  queues.push(queue);
  return {
    agent,
    agentId,
    queue,
    target: { deviceId: device.deviceId, mac: board.board.mac, portPath: board.url },
  };
}

async function control(agentId: string, message: AgentControlMessage): Promise<void> {
  await publisher.publish(agentControlChannel(agentId, publisher), JSON.stringify(message));
}

/** Resolves once the run reported write progress. */
function writing(runId: string): Promise<unknown> {
  return pollUntil(
    async () =>
      (await events.forRun(runId)).find(
        (e) => e.type === 'run.progress' && e.stage === 'write' && e.bytesDone > 0,
      ),
    { what: `run ${runId} to be writing`, timeoutMs: 30_000, intervalMs: 20 },
  );
}

beforeAll(async () => {
  redisUrl = await createTestRedisUrl();
  events = new EventReader(redisUrl);
  publisher = new Redis(redisUrl);
  api = await startContractApi({ heartbeatMs: 200 });
  // The cancel board runs in real time so a flash outlasts a heartbeat; the console board boots an app and then idles.
  boards.push(await startBoard({ chip: 'esp32', name: 'life-cancel', timeScale: 1 }));
  boards.push(
    await startBoard({
      chip: 'esp32',
      name: 'life-console',
      timeScale: TIME_SCALE,
      initialFlash: bootableAppImages('esp32', { projectName: 'idle', version: '0.0.1' }),
    }),
  );
  boards.push(await startBoard({ chip: 'esp32', name: 'life-term-finish', timeScale: TIME_SCALE }));
  boards.push(await startBoard({ chip: 'esp32', name: 'life-no-sync', timeScale: 0.05 }));
  boards.push(await startBoard({ chip: 'esp32', name: 'life-term-abort', timeScale: 1 }));
  boards.push(await startBoard({ chip: 'esp32', name: 'life-claim', timeScale: 0.05 }));
});

afterAll(async () => {
  for (const a of agents) a.kill();
  for (const q of queues) await q.close();
  events?.close();
  publisher?.disconnect();
  for (const b of boards) {
    await b.server?.close();
    b.board.dispose();
  }
  await api?.close();
});

describe('agent control and shutdown', () => {
  it('cancels a run through the control channel and through the heartbeat answer: board reset, port closed', async () => {
    const board = boards[0];
    const { agentId, queue, target } = await agentWith('life-cancel', board);
    const fw = buildFirmware(api, 'esp32', 'cancel-me', '1.0.0', { dataBytes: 256 * 1024 });

    const viaChannel = await dispatchRun(queue, fw, target);
    await writing(viaChannel.runId);
    await control(agentId, { type: 'cancel-run', runId: viaChannel.runId, reason: 'cancelled by a user' });
    const r1 = await pollUntil(() => events.result(viaChannel.runId), { what: 'the cancelled run to end' });
    expect(r1).toMatchObject({ status: 'cancelled', errorCode: 'CANCELLED' });
    expect(r1.requeue).toBeUndefined();
    await pollUntil(() => !board.board.isPortOpen, { what: 'the port to be closed' });
    await pollUntil(() => board.board.mode === 'flash-boot', { what: 'the board to leave the bootloader' });

    const viaHeartbeat = await dispatchRun(queue, fw, target);
    await writing(viaHeartbeat.runId);
    api.cancelRunIds.add(viaHeartbeat.runId);
    const r2 = await pollUntil(() => events.result(viaHeartbeat.runId), {
      what: 'the run cancelled by heartbeat to end',
    });
    expect(r2).toMatchObject({ status: 'cancelled', errorCode: 'CANCELLED' });
  }, 60_000);

  it('claims every run before opening the port, and drops a refused one unflashed', async () => {
    const board = boards[5];
    const { agent, agentId, queue, target } = await agentWith('life-claim', board);
    const fw = buildFirmware(api, 'esp32', 'claimed', '1.0.0');
    // Pages programmed into the board's flash: a refused run must write none.
    let programmed = 0;
    const program = board.board.flash.program.bind(board.board.flash);
    board.board.flash.program = (offset: number, data: Uint8Array): void => {
      programmed++;
      program(offset, data);
    };

    const refusedId = randomUUID();
    api.refuseRunIds.set(refusedId, 'run already failed (INFRASTRUCTURE); attempt 2 (running) owns its slot');
    await dispatchRun(queue, fw, target, {}, refusedId);
    const refused = await pollUntil(
      async () => {
        const entry = await queue.getJob(refusedId);
        // Read again once completed: the first read may predate the return value it now has.
        return (await entry?.getState()) === 'completed' ? queue.getJob(refusedId) : undefined;
      },
      { what: 'the refused run to be acknowledged', timeoutMs: 20_000 },
    );
    expect(refused.returnvalue).toEqual({ status: 'refused' });
    expect(await events.forRun(refusedId)).toEqual([]); // nothing reported: the newer attempt owns the slot
    expect(programmed).toBe(0);
    await pollUntil(() => /not flashed: the api refused the claim/.test(agent.output()), {
      what: 'the agent to log the refusal',
    });

    const accepted = await dispatchRun(queue, fw, target);
    const result = await pollUntil(() => events.result(accepted.runId), {
      what: 'the claimed run to finish',
      timeoutMs: 30_000,
    });
    expect(result.status).toBe('succeeded');
    expect(programmed).toBeGreaterThan(0);
    expect(api.claims.filter((c) => c.agentId === agentId).map((c) => [c.runId, c.attempt])).toEqual([
      [refusedId, 1],
      [accepted.runId, 1],
    ]);
  }, 60_000);

  it('streams the console without resetting the board, pauses it for a run and resumes after', async () => {
    const board = boards[1];
    const { agentId, queue, target } = await agentWith('life-console', board);
    await pollUntil(() => !board.board.isPortOpen, { what: 'the probe to release the port' });
    await pollUntil(() => /Calling app_main\(\)\r\n$/.test(board.board.console), {
      what: 'the app to finish booting after the probe',
    });
    const printed = board.board.console.length;
    await control(agentId, { type: 'console', deviceId: target.deviceId, enabled: true });
    await pollUntil(() => board.board.isPortOpen, { what: 'the console to open the port' });
    // Opening the console did not reset the board: it printed nothing new.
    expect(board.board.console.length).toBe(printed);
    board.board.pressButton('en', true);
    board.board.pressButton('en', false);
    const consoleText = async () =>
      (await events.all())
        .filter((e) => e.type === 'console.data' && e.deviceId === target.deviceId)
        .map((e) => (e as { text: string }).text)
        .join('');
    await pollUntil(async () => /rst:0x1 \(POWERON/.test(await consoleText()), {
      what: 'the boot banner on the console stream',
      timeoutMs: 15_000,
    });

    const fw = buildFirmware(api, 'esp32', 'console-run', '1.0.1');
    const run = await dispatchRun(queue, fw, target, {
      bootCheck: { pattern: 'App version: +1\\.0\\.1', timeoutMs: 10_000 },
    });
    const result = await pollUntil(() => events.result(run.runId), {
      what: 'the run beside the console',
      timeoutMs: 40_000,
    });
    expect(result.status).toBe('succeeded');
    expect(holdsFirmware(board.board, fw)).toBe(true);
    await pollUntil(() => board.board.isPortOpen, { what: 'the console to take the port back' });
    await control(agentId, { type: 'console', deviceId: target.deviceId, enabled: false });
    await pollUntil(() => !board.board.isPortOpen, { what: 'the console to let go of the port' });
  }, 60_000);

  it('retries a board that stops entering the bootloader a bounded number of times with every reset strategy, then fails', async () => {
    const board = boards[4];
    const { queue, target } = await agentWith('life-no-sync', board, { FLASHFARM_AGENT_RUN_RETRIES: '1' });
    // The strap pin loses its wiring after the probe: DTR can no longer pull IO0 low.
    board.board.setFaults({ io0NotWired: true });
    const fw = buildFirmware(api, 'esp32', 'never', '1.0.0');
    const run = await dispatchRun(queue, fw, target);
    const result = await pollUntil(() => events.result(run.runId), {
      what: 'the run to give up',
      timeoutMs: 60_000,
    });
    expect(result.status).toBe('failed');
    expect(['WRONG_BOOT_MODE', 'NO_SYNC']).toContain(result.errorCode);
    expect(result.retries).toBe(1);
    expect(result.requeue).toBeUndefined();
    const lines = await events.logLines(run.runId);
    expect(
      lines.filter((l) => /retrying with every reset strategy \(attempt 2 of 2\)/.test(l.text)),
    ).toHaveLength(1);
    expect(holdsFirmware(board.board, fw)).toBe(false);
  }, 90_000);

  it('SIGTERM: a run in flight finishes within the grace period, then the agent exits 0', async () => {
    const board = boards[2];
    const { agent, queue, target } = await agentWith('life-term-finish', board, {
      FLASHFARM_AGENT_SHUTDOWN_GRACE_MS: '30000',
    });
    const fw = buildFirmware(api, 'esp32', 'finish-me', '1.0.0', { dataBytes: 128 * 1024 });
    const run = await dispatchRun(queue, fw, target);
    await writing(run.runId);
    agent.child.kill('SIGTERM');
    // SIGTERM came while the run was still writing: it had not finished then.
    expect(await events.result(run.runId)).toBeUndefined();
    expect(await agent.waitForExit(40_000)).toBe(0);
    expect(await events.result(run.runId)).toMatchObject({ status: 'succeeded' });
    expect(holdsFirmware(board.board, fw)).toBe(true);
  }, 60_000);

  it('SIGTERM: past the grace period the run is aborted, the board reset, the port closed and the run handed back', async () => {
    const board = boards[3];
    const { agent, queue, target } = await agentWith('life-term-abort', board, {
      FLASHFARM_AGENT_SHUTDOWN_GRACE_MS: '0',
    });
    const fw = buildFirmware(api, 'esp32', 'hand-back', '1.0.0', { dataBytes: 256 * 1024 });
    const run = await dispatchRun(queue, fw, target);
    await writing(run.runId);
    agent.child.kill('SIGTERM');
    expect(await agent.waitForExit(20_000)).toBe(0);
    const result = await events.result(run.runId);
    expect(result).toMatchObject({ status: 'failed', errorCode: 'CANCELLED', requeue: true });
    expect(board.board.isPortOpen).toBe(false);
    expect(board.board.mode).toBe('flash-boot');
    const last = api.heartbeats.filter((h) => h.agentId === api.agents.get('life-term-abort')?.agentId).pop();
    expect(last?.body).toEqual({ status: 'draining', runningRunIds: [] });
  }, 60_000);
});
