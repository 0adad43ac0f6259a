/**
 * The farm end to end: the real api on PostgreSQL and Redis, the agent as a
 * child process, eight mixed simulated boards over RFC 2217. A CI job on two
 * ESP32 boards by selector, a production job on every ESP32 (others
 * untouched, a noisy link settles at a lower baud and is remembered), and a
 * board that moves to another port keeping its device record.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { pollUntil } from '../support/poll.js';
import type { DeviceDetailView, JobView } from '#contracts';
import { startApiFarm, type ApiFarm } from './support/api-farm.js';
import { flashMd5, serveBoard } from './support/farm.js';
import { freePort } from '#runtime';

const TIME_SCALE = 0.05;
const BOOT_PATTERN = 'Calling app_main\\(\\)';

let farm: ApiFarm;
let movePort: number;

beforeAll(async () => {
  movePort = await freePort();
  farm = await startApiFarm({
    boards: [
      { chip: 'esp32', name: 'flows-esp32-1', timeScale: TIME_SCALE },
      { chip: 'esp32', name: 'flows-esp32-2', timeScale: TIME_SCALE },
      { chip: 'esp32', name: 'flows-esp32-3', timeScale: TIME_SCALE },
      {
        chip: 'esp32',
        name: 'flows-esp32-noisy',
        timeScale: TIME_SCALE,
        faults: { bitErrors: { aboveBaud: 460_800, bitErrorRate: 2e-4 } },
      },
      { chip: 'esp32c3', name: 'flows-c3-1', timeScale: TIME_SCALE },
      { chip: 'esp32c3', name: 'flows-c3-2', timeScale: TIME_SCALE },
      { chip: 'esp32s3', name: 'flows-s3', timeScale: TIME_SCALE },
      { chip: 'esp8266', name: 'flows-8266', timeScale: TIME_SCALE },
    ],
    extraPorts: [`rfc2217://127.0.0.1:${movePort}`],
  });
  await farm.waitForDevices(8);
}, 60_000);

afterAll(async () => {
  await farm?.stop();
});

function device(mac: string): Promise<DeviceDetailView> {
  return farm.request<DeviceDetailView>('GET', `/devices/${mac}`);
}

describe('farm flows', () => {
  it('CI: two ESP32 boards by selector are flashed, verified and boot the new app; logs are stored', async () => {
    const fw = await farm.uploadFirmware('esp32', '2.0.1');
    const job = await farm.request<JobView>('POST', '/jobs', {
      firmwareId: fw.id,
      target: { selector: { chip: 'esp32' }, count: 2 },
      options: { bootCheck: { pattern: BOOT_PATTERN, timeoutMs: 5_000 } },
    });
    const done = await farm.waitForJob(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.slots).toHaveLength(2);
    const macs = new Set<string>();
    for (const slot of done.slots) {
      expect(slot.latest.status).toBe('succeeded');
      const d = await device(slot.latest.deviceId!);
      macs.add(d.mac);
      expect(d).toMatchObject({ chip: 'esp32', flashSizeBytes: 4 * 1024 * 1024 });
      const board = farm.boards.find((b) => b.board.mac === d.mac)!;
      expect(board.board.console).toMatch(/Calling app_main\(\)/);
      const log = await fetch(`${farm.api.baseUrl}/runs/${slot.latest.id}/log`, {
        headers: { authorization: `Bearer ${farm.api.config.adminToken}` },
      });
      const text = await log.text();
      expect(text).toMatch(/verified/);
      expect(text).toMatch(/printed \/Calling app_main/);
    }
    expect(macs.size).toBe(2);
  }, 90_000);

  it('production: every ESP32 is flashed, other chips are not touched, a noisy link settles at 460 800 baud and is remembered', async () => {
    const others = farm.boards.filter((b) => b.board.def.name !== 'esp32');
    const before = others.map((b) => flashMd5(b.board, 0, b.board.info.flashSizeBytes));
    const fw = await farm.uploadFirmware('esp32', '3.0.0');
    const job = await farm.request<JobView>('POST', '/jobs', {
      firmwareId: fw.id,
      target: { all: { chip: 'esp32' } },
      options: { bootCheck: { pattern: BOOT_PATTERN, timeoutMs: 5_000 } },
    });
    const done = await farm.waitForJob(job.id, 90_000);
    expect(done.slots.map((s) => s.latest.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    expect(done.status).toBe('succeeded');
    expect(others.map((b) => flashMd5(b.board, 0, b.board.info.flashSizeBytes))).toEqual(before);

    const noisy = farm.boards.find((b) => b.board.name === 'flows-esp32-noisy')!;
    const noisyRun = done.slots.find(
      (s) => s.latest.device?.mac === noisy.board.mac || s.latest.portPath === noisy.url,
    )!;
    expect(noisyRun.latest.baud).toBe(460_800);
    const clean = done.slots.filter((s) => s !== noisyRun);
    for (const s of clean) expect(s.latest.baud).toBe(921_600);
    await pollUntil(async () => (await device(noisy.board.mac)).bestBaud === 460_800, {
      what: 'the learned baud on the device record',
    });
    const learned = JSON.parse(fs.readFileSync(path.join(farm.dataDir, 'learned.json'), 'utf8')) as {
      ports: Record<string, { bestBaud: number }>;
    };
    expect(learned.ports[noisy.url].bestBaud).toBe(460_800);
  }, 120_000);

  it('a board moved to another port keeps its device record', async () => {
    const c3 = farm.boards.find((b) => b.board.name === 'flows-c3-2')!;
    const before = await device(c3.board.mac);
    expect(before.attachment?.portPath).toBe(c3.url);
    await c3.server?.close();
    const moved = await serveBoard(c3, movePort);
    farm.boards.push({ ...moved, server: moved.server });
    c3.server = undefined;
    const after = await pollUntil(
      async () => {
        const d = await device(c3.board.mac);
        return d.attachment?.portPath === moved.url && d.state !== 'offline' ? d : undefined;
      },
      { what: 'the device to show its new port', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(after.id).toBe(before.id);
    const attachments = await farm.request<{ items: Array<{ portPath: string }> }>(
      'GET',
      `/devices/${before.id}/attachments`,
    );
    expect(attachments.items.map((a) => a.portPath).sort()).toEqual([c3.url, moved.url].sort());
  }, 60_000);
});
