/**
 * Faults end to end (real api, agent process, simulated boards over RFC 2217):
 * a board unplugged mid-flash hands a selector run to another board and fails
 * a pinned run with DEVICE_GONE; the agent killed with SIGKILL mid-flash and
 * restarted leaves no run behind, and every board holds verified contents.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { pollUntil } from '../support/poll.js';
import type { JobView } from '#contracts';
import { startApiFarm, type ApiFarm } from './support/api-farm.js';
import { flashMd5 } from './support/farm.js';

/** Slow enough that a flash lasts long enough to be interrupted, fast enough for CI. */
const TIME_SCALE = 0.5;
/** An app big enough that its write stage is seen (and interrupted) even on a loaded machine. */
const APP_PAYLOAD_BYTES = 256 * 1024;

let farm: ApiFarm;

beforeAll(async () => {
  farm = await startApiFarm({
    boards: [
      { chip: 'esp32', name: 'faults-esp32-1', timeScale: TIME_SCALE },
      { chip: 'esp32', name: 'faults-esp32-2', timeScale: TIME_SCALE },
      { chip: 'esp32', name: 'faults-esp32-3', timeScale: TIME_SCALE },
      { chip: 'esp32s3', name: 'faults-s3-1', timeScale: TIME_SCALE },
      { chip: 'esp32s3', name: 'faults-s3-2', timeScale: TIME_SCALE },
      { chip: 'esp32c3', name: 'faults-c3', timeScale: TIME_SCALE },
    ],
    apiEnv: { FLASHFARM_AGENT_HEARTBEAT_MS: '300', FLASHFARM_PINNED_REQUEUE_WAIT_MS: '2000' },
  });
  await farm.waitForDevices(6);
}, 60_000);

afterAll(async () => {
  await farm?.stop();
});

/** Waits until some run of the job is writing flash; returns that slot. */
function writing(jobId: string): Promise<JobView['slots'][number]> {
  return pollUntil(
    async () => {
      const job = await farm.request<JobView>('GET', `/jobs/${jobId}`);
      return job.slots.find(
        (s) => s.latest.status === 'running' && s.latest.stage === 'write' && s.latest.progress > 0,
      );
    },
    { what: 'a run of the job to be writing flash', timeoutMs: 30_000, intervalMs: 30 },
  );
}

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

describe('faults', () => {
  it('a board unplugged mid-flash: the selector run finishes on another board, a pinned run fails with DEVICE_GONE', async () => {
    const s3fw = await farm.uploadFirmware('esp32s3', '4.0.0', APP_PAYLOAD_BYTES);
    const c3fw = await farm.uploadFirmware('esp32c3', '4.0.0', APP_PAYLOAD_BYTES);
    const c3 = farm.boards.find((b) => b.board.name === 'faults-c3')!;
    const selectorJob = await farm.request<JobView>('POST', '/jobs', {
      firmwareId: s3fw.id,
      target: { selector: { chip: 'esp32s3' }, count: 1 },
    });
    const pinnedJob = await farm.request<JobView>('POST', '/jobs', {
      firmwareId: c3fw.id,
      target: { device: c3.board.mac },
    });
    const [selectorSlot] = await Promise.all([
      writing(selectorJob.id),
      writing(pinnedJob.id).then(() => c3.board.unplug()),
    ]);
    const victim = farm.boards.find((b) => b.url === selectorSlot.latest.portPath)!;
    victim.board.unplug();

    const selectorDone = await farm.waitForJob(selectorJob.id, 60_000);
    expect(selectorDone.status).toBe('succeeded');
    const slot = selectorDone.slots[0];
    expect(slot.attempts).toBeGreaterThanOrEqual(2);
    expect(slot.latest.portPath).not.toBe(victim.url);
    const other = farm.boards.find((b) => b.url === slot.latest.portPath)!;
    expect(s3fw.parts.every((p) => flashMd5(other.board, p.offset, p.data.length) === md5(p.data))).toBe(
      true,
    );
    const runs = await farm.request<{ items: Array<{ errorCode: string | null; attempt: number }> }>(
      'GET',
      `/devices/${victim.board.mac}/runs`,
    );
    expect(runs.items.some((r) => r.errorCode === 'DEVICE_GONE')).toBe(true);

    const pinnedDone = await farm.waitForJob(pinnedJob.id, 60_000);
    expect(pinnedDone.status).toBe('failed');
    expect(pinnedDone.slots[0].latest.errorCode).toBe('DEVICE_GONE');
    victim.board.plug();
    c3.board.plug();
  }, 120_000);

  it('the agent killed with SIGKILL mid-flash and restarted: every run ends, and the boards hold verified contents', async () => {
    const fw = await farm.uploadFirmware('esp32', '5.0.0', APP_PAYLOAD_BYTES);
    const job = await farm.request<JobView>('POST', '/jobs', {
      firmwareId: fw.id,
      target: { all: { chip: 'esp32' } },
    });
    const interrupted = await writing(job.id);
    farm.agent.child.kill('SIGKILL');
    await farm.agent.waitForExit(10_000);
    farm.startAgent();
    const done = await farm.waitForJob(job.id, 90_000);
    expect(done.slots.map((s) => s.latest.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // Recovered either by BullMQ redelivering the same run to the restarted agent or by the api
    // re-queuing a new attempt; either way the interrupted slot ends verified.
    const slot = done.slots.find((s) => s.slot === interrupted.slot)!;
    expect(slot.latest.status).toBe('succeeded');
    expect(slot.latest.errorCode).toBeNull();
    for (const b of farm.boards.filter((x) => x.board.def.name === 'esp32'))
      expect(fw.parts.every((p) => flashMd5(b.board, p.offset, p.data.length) === md5(p.data))).toBe(true);
  }, 120_000);
});
