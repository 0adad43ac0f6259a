/**
 * The agent's run service against in-process simulated boards with faults
 * switched on: the real inventory (probing the boards), port registry,
 * firmware cache, learned settings, flasher and reporter, with the transport
 * factory handing out simulated boards instead of serial ports. It checks
 * each failure takes the path the failure policy gives it, and that the agent
 * never walks again a ladder the flasher already walked.
 */
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  DEFAULT_FLASH_OPTIONS,
  type AgentEvent,
  type FlashOptions,
  type FlashRunPayload,
  type RunResultPayload,
} from '#contracts';
import { createTransport, SimTransport, simPortName } from '#serial';
import { bootableAppImages, SimBoard, type SimBoardOptions } from '#sim';
import { loadAgentConfig } from '../../apps/agent/src/config/agent-config.js';
import { probeBoard } from '../../apps/agent/src/devices/board-prober.js';
import { DeviceInventory } from '../../apps/agent/src/devices/device-inventory.js';
import { FirmwareCache } from '../../apps/agent/src/firmware/firmware-cache.js';
import { PortRegistry } from '../../apps/agent/src/ports/port-registry.js';
import type { TransportFactory } from '../../apps/agent/src/ports/transport-factory.js';
import { FlashRunService } from '../../apps/agent/src/runs/flash-run.service.js';
import { BAUD_CLIMB_AFTER_CLEAN_RUNS, LearnedSettings } from '../../apps/agent/src/runs/learned-settings.js';
import { RunReporter, type RunEventSink } from '../../apps/agent/src/runs/run-reporter.js';
import { scratchDir } from '../support/scratch.js';

/** How long a vanished port may take to come back here (production default 10 s). */
const REOPEN_WAIT_MS = 400;

interface Part {
  offset: number;
  data: Uint8Array;
  sha256: string;
  md5: string;
  role: string;
}

let parts: Part[];

beforeAll(() => {
  const roles = ['bootloader', 'partition-table', 'app'];
  parts = bootableAppImages('esp32', { projectName: 'run-service', version: '3.1.4' }).map((r, i) => ({
    offset: r.offset,
    data: r.data,
    sha256: createHash('sha256').update(r.data).digest('hex'),
    md5: createHash('md5').update(r.data).digest('hex'),
    role: roles[i] ?? `part${i}`,
  }));
});

const boards: SimBoard[] = [];
afterEach(() => {
  for (const b of boards.splice(0)) b.dispose();
});

/** Collects a run's events in memory (the agent writes them to a Redis stream). */
class RecordedEvents implements RunEventSink {
  readonly events: AgentEvent[] = [];
  private seq = 0;
  publish(event: AgentEvent): Promise<string> {
    this.events.push(event);
    if (event.type === 'run.log') this.seq = event.lines.at(-1)?.seq ?? this.seq;
    return Promise.resolve(String(this.events.length));
  }
  publishFinished(event: Extract<AgentEvent, { type: 'run.finished' }>): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }
  lastSeq(): Promise<number> {
    return Promise.resolve(this.seq);
  }
}

/** One agent with one simulated board on `sim://<name>`, probed the way the agent probes. */
async function agentWithBoard(options: Partial<SimBoardOptions> & { name: string }) {
  const board = new SimBoard({ chip: 'esp32', timeScale: 0, ...options });
  boards.push(board);
  const portPath = simPortName(board.name);
  // The unit behind the port: a fixture swaps it, the port keeps its name.
  let unit = board;
  const transportFor: TransportFactory = (url) =>
    createTransport(url, { resolveSim: (u) => (u === portPath ? new SimTransport(unit) : undefined) });
  /** Takes the unit out and puts another (another MAC, blank flash) under the same port. */
  const swap = (mac: string): SimBoard => {
    unit = new SimBoard({ chip: 'esp32', timeScale: 0, name: board.name, mac });
    boards.push(unit);
    return unit;
  };
  const dataDir = scratchDir('flashfarm-run-service');
  const loaded = loadAgentConfig({
    FLASHFARM_DATA_DIR: dataDir,
    FLASHFARM_AGENT_DISCOVERY: 'false',
    FLASHFARM_AGENT_REOPEN_WAIT_MS: String(REOPEN_WAIT_MS),
  });
  const config = { ...loaded, ports: { ...loaded.ports, static: [portPath] } };
  const registry = new PortRegistry();
  const inventory = new DeviceInventory(config, registry, () => undefined, {
    probe: (p, resetStrategy) => probeBoard(p, { resetStrategy, transportFor }),
    listPorts: () => Promise.resolve({ ports: [] }),
  });
  await inventory.tick();
  const entry = inventory.entry(portPath);
  expect(entry?.state).toBe('present');
  const bytes = new Map(parts.map((p) => [p.sha256, p.data]));
  const cache = new FirmwareCache(path.join(dataDir, 'cache'), (downloadPath) => {
    const data = bytes.get(path.basename(downloadPath));
    return data ? Promise.resolve(data) : Promise.reject(new Error(`no part at ${downloadPath}`));
  });
  const learned = LearnedSettings.inDataDir(dataDir);
  const service = new FlashRunService({ config, inventory, registry, cache, learned, transportFor });

  /** Runs one flash to its result; `onLine` sees every log line as it is logged. */
  async function run(
    flashOptions: Partial<FlashOptions> = {},
    onLine: (text: string) => void = () => undefined,
  ): Promise<{ result: RunResultPayload; lines: string[] }> {
    const payload: FlashRunPayload = {
      runId: randomUUID(),
      jobId: randomUUID(),
      attempt: 1,
      deviceId: randomUUID(),
      mac: board.mac,
      chip: 'esp32',
      portPath,
      firmware: {
        id: randomUUID(),
        sha256: createHash('sha256')
          .update(parts.map((p) => `${p.offset}:${p.sha256}`).join(','))
          .digest('hex'),
        chip: 'esp32',
        parts: parts.map((p) => ({
          offset: p.offset,
          size: p.data.length,
          sha256: p.sha256,
          md5: p.md5,
          role: p.role,
          downloadPath: `/firmware/x/parts/${p.sha256}`,
        })),
      },
      options: { ...DEFAULT_FLASH_OPTIONS, ...flashOptions },
      device: {},
    };
    const sink = new RecordedEvents();
    const reporter = new RunReporter(sink, payload.runId, 'agent-under-test');
    const lines: string[] = [];
    reporter.onLine = (l) => {
      lines.push(l.text);
      onLine(l.text);
    };
    const result = await service.execute(payload, reporter, new AbortController().signal);
    await reporter.finished(result);
    expect(sink.events.at(-1)).toMatchObject({ type: 'run.finished', result: { status: result.status } });
    return { result, lines };
  }

  return { board, portPath, inventory, learned, registry, run, swap };
}

function holdsFirmware(board: SimBoard): boolean {
  return parts.every(
    (p) => createHash('md5').update(board.flash.read(p.offset, p.data.length)).digest('hex') === p.md5,
  );
}

/** The sessions the agent started (one "flashing at" line each). */
function sessions(lines: string[]): number {
  return lines.filter((l) => /^flashing at \d+ baud/.test(l)).length;
}

describe('the agent run service on simulated boards', () => {
  it('flashes, verifies every region, learns the baud and strategy, and leaves the port free', async () => {
    const farm = await agentWithBoard({ name: 'rs-clean' });
    const { result, lines } = await farm.run();
    expect(result).toMatchObject({ status: 'succeeded', retries: 0 });
    expect(result.regions.map((r) => r.verifiedMd5)).toEqual(parts.map((p) => p.md5));
    expect(result.identity?.mac).toBe(farm.board.mac);
    expect(holdsFirmware(farm.board)).toBe(true);
    expect(farm.learned.bestBaud(farm.portPath)).toBe(result.baud);
    expect(sessions(lines)).toBe(1);
    expect(farm.registry.holder(farm.portPath)).toBeUndefined();
    expect(farm.board.isPortOpen).toBe(false);
  });

  it('line noise: the flasher steps down its baud ladder and the agent starts no second session', async () => {
    const farm = await agentWithBoard({ name: 'rs-noise' });
    farm.board.setFaults({ bitErrors: { aboveBaud: 460_800, bitErrorRate: 2e-4 } });
    const { result, lines } = await farm.run();
    expect(result.status).toBe('succeeded');
    expect(result.baud).toBeLessThanOrEqual(460_800);
    expect(lines.some((l) => /falling back to/.test(l))).toBe(true);
    expect(sessions(lines)).toBe(1);
    expect(holdsFirmware(farm.board)).toBe(true);
  });

  it('a burst of noise: the learned baud comes down, then climbs back after clean runs once the line is quiet', async () => {
    const farm = await agentWithBoard({ name: 'rs-climb' });
    farm.board.setFaults({ bitErrors: { aboveBaud: 460_800, bitErrorRate: 2e-4 } });
    const noisy = await farm.run();
    expect(noisy.result.status).toBe('succeeded');
    const low = noisy.result.baud!;
    expect(low).toBeLessThanOrEqual(460_800);
    expect(farm.learned.bestBaud(farm.portPath)).toBe(low);
    farm.board.setFaults({ bitErrors: undefined });
    // Clean runs at the learned baud: each starts there, and none tries higher yet.
    for (let i = 0; i < BAUD_CLIMB_AFTER_CLEAN_RUNS; i++) {
      const { result, lines } = await farm.run();
      expect(result).toMatchObject({ status: 'succeeded', baud: low });
      expect(lines.some((l) => l.startsWith(`flashing at ${low} baud`))).toBe(true);
    }
    // The next run tries the next rung up (the job's default 921 600 at most), and it holds.
    const climb = await farm.run();
    expect(climb.result.status).toBe('succeeded');
    expect(climb.result.baud).toBeGreaterThan(low);
    expect(
      climb.lines.some((l) =>
        l.startsWith(`trying ${climb.result.baud} baud again after clean runs at ${low}`),
      ),
    ).toBe(true);
    expect(farm.learned.bestBaud(farm.portPath)).toBe(climb.result.baud);
    expect(holdsFirmware(farm.board)).toBe(true);
  });

  it('a line that drops every byte for a while mid-write: recovered inside the session, no second session', async () => {
    const farm = await agentWithBoard({ name: 'rs-drop' });
    let dropping = false;
    const { result, lines } = await farm.run({}, (text) => {
      if (!dropping && /^writing app/.test(text)) {
        dropping = true;
        farm.board.setFaults({ dropRate: 1 });
      } else if (dropping && /re-sending|restarting|link lost/.test(text))
        farm.board.setFaults({ dropRate: 0 });
    });
    expect(dropping).toBe(true);
    expect(result.status).toBe('succeeded');
    expect(result.retries).toBeGreaterThan(0);
    expect(sessions(lines)).toBe(1);
    expect(holdsFirmware(farm.board)).toBe(true);
  });

  it('a board that stops entering download mode gets one session with every reset strategy, not one per retry', async () => {
    const farm = await agentWithBoard({ name: 'rs-strap' });
    farm.board.setFaults({ io0NotWired: true });
    const { result, lines } = await farm.run();
    expect(result).toMatchObject({ status: 'failed', errorCode: 'WRONG_BOOT_MODE', retries: 1 });
    expect(result.requeue).toBeUndefined();
    expect(sessions(lines)).toBe(2);
    expect(lines.filter((l) => /retrying with every reset strategy/.test(l))).toHaveLength(1);
  });

  it('unplugged mid-write and back within the reopen wait: the flasher reconnects and resumes', async () => {
    const farm = await agentWithBoard({ name: 'rs-blip' });
    let unplugged = false;
    const { result, lines } = await farm.run({}, (text) => {
      if (!unplugged && /^writing app/.test(text)) {
        unplugged = true;
        farm.board.unplug();
      } else if (unplugged && /link lost/.test(text)) farm.board.plug();
    });
    expect(unplugged).toBe(true);
    expect(result.status).toBe('succeeded');
    expect(sessions(lines)).toBe(1);
    expect(holdsFirmware(farm.board)).toBe(true);
  });

  it('unplugged for good: DEVICE_GONE, the port marked gone and the run handed back without a retry here', async () => {
    const farm = await agentWithBoard({ name: 'rs-gone' });
    const { result, lines } = await farm.run({}, (text) => {
      if (/^writing app/.test(text)) farm.board.unplug();
    });
    expect(result).toMatchObject({ status: 'failed', errorCode: 'DEVICE_GONE', requeue: true, retries: 0 });
    expect(sessions(lines)).toBe(1);
    expect(farm.inventory.entry(farm.portPath)?.state).toBe('absent');
  });

  it('a unit swapped in under the port: DEVICE_CHANGED before anything is written, the port identified again', async () => {
    const farm = await agentWithBoard({ name: 'rs-swap' });
    const other = farm.swap('24:0a:c4:5a:5a:01');
    const { result, lines } = await farm.run();
    expect(result).toMatchObject({
      status: 'failed',
      errorCode: 'DEVICE_CHANGED',
      requeue: true,
      bytesWritten: 0,
      observed: { mac: other.mac, chip: 'esp32' },
    });
    expect(result.errorMessage).toContain(other.mac);
    expect(sessions(lines)).toBe(1);
    // Nothing reached the unit under the port: its flash is still erased where the firmware goes.
    expect(parts.every((p) => other.flash.read(p.offset, p.data.length).every((b) => b === 0xff))).toBe(true);
    // The port now names the unit actually there, and is free again.
    expect(farm.inventory.entry(farm.portPath)).toMatchObject({
      state: 'present',
      identity: { mac: other.mac },
    });
    expect(farm.registry.holder(farm.portPath)).toBeUndefined();
  });

  it('a flash write failure is retried once on the same board, then fails as FLASH_ERROR', async () => {
    const farm = await agentWithBoard({ name: 'rs-flash-dead' });
    farm.board.setFaults({ flashWriteFailAt: parts[parts.length - 1].offset + 0x1000 });
    const { result, lines } = await farm.run();
    expect(result).toMatchObject({ status: 'failed', errorCode: 'FLASH_ERROR', retries: 1 });
    expect(result.requeue).toBeUndefined();
    expect(sessions(lines)).toBe(2);
    expect(lines.filter((l) => /FLASH_ERROR: retrying once/.test(l))).toHaveLength(1);
  });

  it('a flash write failure that does not repeat succeeds on the second session', async () => {
    const farm = await agentWithBoard({ name: 'rs-flash-once' });
    farm.board.setFaults({ flashWriteFailAt: parts[parts.length - 1].offset + 0x1000 });
    const { result, lines } = await farm.run({}, (text) => {
      if (/FLASH_ERROR: retrying once/.test(text)) farm.board.setFaults({ flashWriteFailAt: null });
    });
    expect(result).toMatchObject({ status: 'succeeded', retries: 1 });
    expect(sessions(lines)).toBe(2);
    expect(holdsFirmware(farm.board)).toBe(true);
  });

  it('a boot loop fails the boot check with what the app printed, and is not retried', async () => {
    const farm = await agentWithBoard({ name: 'rs-boot-loop', timeScale: 0.05 });
    farm.board.setFaults({ bootLoop: true });
    const { result, lines } = await farm.run({
      bootCheck: { pattern: 'Calling app_main\\(\\)[\\s\\S]*ready', timeoutMs: 1_500 },
    });
    expect(result).toMatchObject({ status: 'failed', errorCode: 'BOOT_CHECK_FAILED', retries: 0 });
    expect(result.errorMessage).toMatch(/Guru Meditation|Rebooting/);
    // The flash itself was verified before the check.
    expect(result.regions.map((r) => r.verifiedMd5)).toEqual(parts.map((p) => p.md5));
    expect(sessions(lines)).toBe(1);
    expect(farm.board.isPortOpen).toBe(false);
  });
});
