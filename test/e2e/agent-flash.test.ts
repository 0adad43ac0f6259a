/**
 * The agent as a real process, with real Redis, simulated boards over RFC 2217
 * and the api's agent-facing contract served by a stand-in: it registers,
 * probes and reports its boards by MAC, takes runs from its queue, flashes
 * them in parallel, streams logs with increasing seq, and passes the boot check.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bullmq';
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

const TIME_SCALE = 0.05;

let api: ContractApi;
let redisUrl: string;
let agent: SpawnedProcess;
let events: EventReader;
let queue: Queue;
let agentId: string;
const boards: FarmBoard[] = [];

beforeAll(async () => {
  api = await startContractApi();
  redisUrl = await createTestRedisUrl();
  events = new EventReader(redisUrl);
  boards.push(
    await startBoard({ chip: 'esp32', name: 'ci-a', timeScale: TIME_SCALE }),
    await startBoard({ chip: 'esp32', name: 'ci-b', timeScale: TIME_SCALE }),
    await startBoard({ chip: 'esp32c3', name: 'ci-c3', timeScale: TIME_SCALE }),
    await startBoard({ chip: 'esp8266', name: 'ci-8266', timeScale: TIME_SCALE }),
    await startBoard({ chip: 'esp32s3', name: 'ci-s3', timeScale: TIME_SCALE }),
  );
  agent = startAgent({
    api,
    redisUrl,
    name: 'e2e-agent',
    ports: boards.map((b) => b.url),
    dataDir: scratchDir('flashfarm-agent-e2e'),
  });
  agentId = await pollUntil(() => api.agents.get('e2e-agent')?.agentId, {
    what: 'the agent to register',
    timeoutMs: 20_000,
  });
  queue = runQueue(redisUrl, agentId);
});

afterAll(async () => {
  agent?.kill();
  await queue?.close();
  events?.close();
  for (const b of boards) {
    await b.server?.close();
    b.board.dispose();
  }
  await api?.close();
});

describe('agent with simulated boards', () => {
  it('probes every board and reports it by MAC with chip and flash facts', async () => {
    await pollUntil(() => api.devices.size === boards.length, {
      what: 'every device reported',
      timeoutMs: 20_000,
    });
    for (const b of boards) {
      const d = api.devices.get(b.board.mac);
      expect(d?.attachment?.portPath).toBe(b.url);
      expect(d?.identity).toMatchObject({
        mac: b.board.mac,
        chip: b.board.def.name,
        flashSizeBytes: b.board.info.flashSizeBytes,
      });
      expect(d?.identity.flashJedecId).toBe(b.board.jedecId);
      expect(d?.identity.crystalMhz).toBeGreaterThan(0);
    }
    const last = api.reports[api.reports.length - 1].body;
    expect(last.complete).toBe(true);
    // Probing wrote nothing: the boards still hold their blank flash.
    for (const b of boards) expect(b.board.flash.read(0x10000, 16).every((x) => x === 0xff)).toBe(true);
  }, 30_000);

  it('flashes two ESP32 boards at once, streams logs and passes the boot check', async () => {
    const fw = buildFirmware(api, 'esp32', 'ci-blink', '1.2.3');
    const targets = boards.slice(0, 2).map((b) => ({
      deviceId: api.devices.get(b.board.mac)!.deviceId,
      mac: b.board.mac,
      portPath: b.url,
    }));
    const runs = await Promise.all(
      targets.map((t) =>
        dispatchRun(queue, fw, t, { bootCheck: { pattern: 'App version: +1\\.2\\.3', timeoutMs: 5_000 } }),
      ),
    );
    const results = await Promise.all(
      runs.map((r) =>
        pollUntil(() => events.result(r.runId), { what: `run ${r.runId} to finish`, timeoutMs: 40_000 }),
      ),
    );
    for (const [i, result] of results.entries()) {
      expect(result).toMatchObject({ status: 'succeeded', identity: { mac: targets[i].mac, chip: 'esp32' } });
      expect(result.regions).toHaveLength(3);
      for (const region of result.regions) expect(region.verifiedMd5).toBeDefined();
      expect(result.bytesWritten).toBeGreaterThan(0);
      expect(result.learned?.bestBaud).toBe(result.baud);
      expect(boards[i].board.console).toMatch(/App version: +1\.2\.3/);
      expect(holdsFirmware(boards[i].board, fw)).toBe(true);
      const lines = await events.logLines(runs[i].runId);
      expect(lines.length).toBeGreaterThan(5);
      const seqs = lines.map((l) => l.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(lines.some((l) => /verified/.test(l.text))).toBe(true);
      expect(lines.some((l) => /printed \/App version/.test(l.text))).toBe(true);
      const kinds = (await events.forRun(runs[i].runId)).map((e) => e.type);
      expect(kinds[0]).toBe('run.started');
      expect(kinds).toContain('run.progress');
      expect(kinds[kinds.length - 1]).toBe('run.finished');
    }
    // The two runs overlapped: they ran in parallel, not one after the other.
    const windows = await Promise.all(
      runs.map(async (r) => {
        const ev = await events.forRun(r.runId);
        const s = ev.find((e) => e.type === 'run.started') as { at: string };
        const f = ev.find((e) => e.type === 'run.finished') as { at: string };
        return [Date.parse(s.at), Date.parse(f.at)];
      }),
    );
    expect(windows[0][0]).toBeLessThan(windows[1][1]);
    expect(windows[1][0]).toBeLessThan(windows[0][1]);
    // The firmware was downloaded once per part, then served from the cache.
    expect(api.downloads.filter((d) => fw.parts.some((p) => p.sha256 === d))).toHaveLength(3);
  }, 60_000);

  it('flashes and boot-checks the other chips (ESP8266 console at 74 880 baud, ESP32-C3, ESP32-S3)', async () => {
    const targets = boards.slice(2);
    const runs = await Promise.all(
      targets.map((b) => {
        const fw = buildFirmware(api, b.board.def.name, `app-${b.board.def.name}`, '7.0.0');
        return dispatchRun(
          queue,
          fw,
          { deviceId: api.devices.get(b.board.mac)!.deviceId, mac: b.board.mac, portPath: b.url },
          { bootCheck: { pattern: 'Calling app_main\\(\\)', timeoutMs: 5_000 } },
        ).then((payload) => ({ payload, fw, board: b }));
      }),
    );
    for (const { payload, fw, board } of runs) {
      const result = await pollUntil(() => events.result(payload.runId), {
        what: `the ${board.board.def.name} run`,
        timeoutMs: 40_000,
      });
      expect({ chip: board.board.def.name, status: result.status, error: result.errorMessage }).toEqual({
        chip: board.board.def.name,
        status: 'succeeded',
        error: undefined,
      });
      expect(holdsFirmware(board.board, fw)).toBe(true);
    }
  }, 60_000);

  it('does not flash again a run it already finished when its job is delivered again', async () => {
    const b = boards[0];
    const fw = buildFirmware(api, 'esp32', 'once', '1.0.0');
    const target = { deviceId: api.devices.get(b.board.mac)!.deviceId, mac: b.board.mac, portPath: b.url };
    const run = await dispatchRun(queue, fw, target);
    await pollUntil(() => events.result(run.runId), {
      what: 'the first delivery to finish',
      timeoutMs: 20_000,
    });
    await (await queue.getJob(run.runId))?.remove();
    // The new app is still printing its boot log after the hard reset: let it finish first.
    await pollUntil(() => /Calling app_main\(\)\r\n$/.test(b.board.console), {
      what: 'the app to finish booting',
    });
    const printed = b.board.console.length;
    await dispatchRun(queue, fw, target, {}, run.runId);
    const again = await pollUntil(
      async () => {
        const job = await queue.getJob(run.runId);
        return job?.finishedOn ? job : undefined;
      },
      { what: 'the second delivery to complete', timeoutMs: 20_000 },
    );
    expect(again.returnvalue).toEqual({ status: 'succeeded' });
    expect((await events.forRun(run.runId)).filter((e) => e.type === 'run.started')).toHaveLength(1);
    expect(b.board.console.length).toBe(printed); // not reset, not flashed
  }, 40_000);

  it('follows a board by MAC to the port it is on, and never flashes another board found on the dispatched port', async () => {
    const [a, b] = boards;
    const fw = buildFirmware(api, 'esp32', 'by-mac', '1.1.0');
    const stale = await dispatchRun(queue, fw, {
      deviceId: api.devices.get(a.board.mac)!.deviceId,
      mac: a.board.mac,
      portPath: 'rfc2217://127.0.0.1:1',
    });
    const followed = await pollUntil(() => events.result(stale.runId), {
      what: 'the run by MAC',
      timeoutMs: 20_000,
    });
    expect(followed.status).toBe('succeeded');
    expect(holdsFirmware(a.board, fw)).toBe(true);

    const before = b.board.flash.read(0, 0x20000);
    const wrong = await dispatchRun(queue, buildFirmware(api, 'esp32', 'not-for-b', '1.2.0'), {
      deviceId: 'some-other-device',
      mac: '24:0a:c4:00:00:01',
      portPath: b.url,
    });
    const refused = await pollUntil(() => events.result(wrong.runId), {
      what: 'the refused run',
      timeoutMs: 20_000,
    });
    // The flasher reads the MAC on the port before writing: another board there is DEVICE_CHANGED.
    expect(refused).toMatchObject({ status: 'failed', errorCode: 'DEVICE_CHANGED', requeue: true });
    expect(Buffer.from(b.board.flash.read(0, 0x20000)).equals(Buffer.from(before))).toBe(true);
  }, 40_000);

  it('refuses a wrong-chip image fast with CHIP_MISMATCH and leaves the flash unchanged', async () => {
    const c3 = boards[2];
    const before = c3.board.flash.read(0, 0x20000);
    const fw = buildFirmware(api, 'esp32', 'wrong-chip', '9.9.9');
    const run = await dispatchRun(queue, fw, {
      deviceId: api.devices.get(c3.board.mac)!.deviceId,
      mac: c3.board.mac,
      portPath: c3.url,
    });
    const result = await pollUntil(() => events.result(run.runId), {
      what: 'the wrong-chip run to end',
      timeoutMs: 20_000,
    });
    expect(result).toMatchObject({ status: 'failed', errorCode: 'CHIP_MISMATCH', retries: 0 });
    expect(result.requeue).toBeUndefined();
    expect(Buffer.from(c3.board.flash.read(0, 0x20000)).equals(Buffer.from(before))).toBe(true);
  }, 30_000);
});
