import { afterEach, describe, expect, it } from '@jest/globals';
import type { ReportDevicesRequest } from '#contracts';
import type { SerialPortInfo } from '#serial';
import { SimBoard, startRfc2217Server, type Rfc2217Server } from '#sim';
import { loadAgentConfig } from '../config/agent-config.js';
import { PortRegistry } from '../ports/port-registry.js';
import { probeBoard } from './board-prober.js';
import { DeviceInventory } from './device-inventory.js';

const boards: SimBoard[] = [];
const servers: Rfc2217Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const b of boards.splice(0)) b.dispose();
});

async function served(board: SimBoard): Promise<string> {
  const server = await startRfc2217Server(board);
  servers.push(server);
  return server.url;
}

function cp2102(path: string, serial: string): SerialPortInfo {
  return { path, vendorId: '10c4', productId: 'ea60', serialNumber: serial, location: '1-1.2' };
}

describe('device inventory (hot-plug, probing, reports)', () => {
  it('probes new ports, reports boards by MAC with their USB attachment, and reports vanished and moved ones', async () => {
    const a = new SimBoard({ chip: 'esp32', name: 'inv-a', timeScale: 0 });
    const b = new SimBoard({ chip: 'esp32c3', name: 'inv-b', timeScale: 0 });
    boards.push(a, b);
    const urlA = await served(a);
    const urlB = await served(b);
    let listing: SerialPortInfo[] = [cp2102(urlA, 'A1')];
    const config = loadAgentConfig({ FLASHFARM_DATA_DIR: '/tmp/ff-inv', FLASHFARM_AGENT_DENY: '**/denied*' });
    const reports: ReportDevicesRequest[] = [];
    const inventory = new DeviceInventory(config, new PortRegistry(), () => undefined, {
      listPorts: () => Promise.resolve({ ports: listing }),
    });
    await inventory.setReporter((report) => {
      reports.push(report);
      return Promise.resolve({
        devices: report.present.map((p) => ({
          deviceId: `dev-${p.identity.mac}`,
          mac: p.identity.mac,
          state: 'idle' as const,
          resetSequence: null,
          bestBaud: null,
        })),
      });
    });

    // Before the first round the agent cannot know its boards: nothing it holds may be called gone.
    expect(reports[0]).toEqual({ present: [], gone: [], complete: false });
    await inventory.tick();
    let last = reports[reports.length - 1];
    expect(last.complete).toBe(true);
    expect(last.present).toHaveLength(1);
    expect(last.present[0].identity).toMatchObject({
      mac: a.mac,
      chip: 'esp32',
      flashSizeBytes: 4 * 1024 * 1024,
    });
    expect(last.present[0].attachment).toEqual({
      portPath: urlA,
      usbVid: 0x10c4,
      usbPid: 0xea60,
      usbSerial: 'A1',
      location: '1-1.2',
      bridge: 'cp210x',
    });
    expect(inventory.findDevice({ deviceId: `dev-${a.mac}` })?.path).toBe(urlA);

    listing = [...listing, cp2102(urlB, 'B1'), cp2102('/dev/denied0', 'X')];
    await inventory.tick();
    last = reports[reports.length - 1];
    expect(last.present.map((p) => p.identity.mac).sort()).toEqual([a.mac, b.mac].sort());
    expect(inventory.entry('/dev/denied0')).toBeUndefined();

    listing = listing.filter((p) => p.path !== urlA);
    await inventory.tick();
    last = reports[reports.length - 1];
    expect(last.gone).toEqual([urlA]);
    expect(last.present.map((p) => p.identity.mac)).toEqual([b.mac]);

    // Board b moves to another port: the old port is reported gone, the board present on the new one.
    const urlB2 = await served(b);
    listing = [cp2102(urlB2, 'B2')];
    await servers[1].close();
    await inventory.tick();
    last = reports[reports.length - 1];
    expect(last.gone).toEqual([urlB]);
    expect(last.present).toHaveLength(1);
    expect(last.present[0]).toMatchObject({ identity: { mac: b.mac }, attachment: { portPath: urlB2 } });
  }, 20_000);

  it('gives a static port that is also a listed USB port its USB identity and bridge', async () => {
    const a = new SimBoard({ chip: 'esp32', name: 'inv-d', timeScale: 0 });
    boards.push(a);
    const url = await served(a);
    const config = loadAgentConfig({ FLASHFARM_DATA_DIR: '/tmp/ff-inv', FLASHFARM_AGENT_PORTS: url });
    const inventory = new DeviceInventory(config, new PortRegistry(), () => undefined, {
      listPorts: () =>
        Promise.resolve({ ports: [{ path: url, vendorId: '1a86', productId: '55d4', serialNumber: 'S1' }] }),
    });
    await inventory.tick();
    expect(inventory.entry(url)).toMatchObject({
      origin: 'static',
      state: 'present',
      bridge: { name: 'ch9102' },
      attachment: { portPath: url, usbVid: 0x1a86, usbPid: 0x55d4, usbSerial: 'S1', bridge: 'ch9102' },
    });
  }, 20_000);

  it('backs off a port where nothing answers and marks a board gone when a run says so', async () => {
    const a = new SimBoard({ chip: 'esp32', name: 'inv-c', timeScale: 0 });
    boards.push(a);
    const url = await served(a);
    const config = loadAgentConfig({
      FLASHFARM_DATA_DIR: '/tmp/ff-inv',
      FLASHFARM_AGENT_DISCOVERY: 'false',
      FLASHFARM_AGENT_PORTS: `${url},/dev/flashfarm-no-such-port`,
    });
    const inventory = new DeviceInventory(config, new PortRegistry(), () => undefined);
    const before = Date.now();
    await inventory.tick();
    expect(inventory.entry(url)?.state).toBe('present');
    const missing = inventory.entry('/dev/flashfarm-no-such-port')!;
    expect(missing.state).toBe('absent');
    // Backed off by at least the first step (1 s) from when it failed, however long the other probe took.
    expect(missing.probeFailures).toBe(1);
    expect(missing.nextProbeAt).toBeGreaterThanOrEqual(before + 1_000);
    inventory.markGone(url, 'DEVICE_GONE');
    expect(inventory.entry(url)?.state).toBe('absent');
    expect(inventory.present()).toEqual([]);
  }, 20_000);

  it('keeps two boards with one MAC present on both ports (no hopping, no reset loop) and reports both', async () => {
    const mac = '24:0a:c4:00:00:99';
    const a = new SimBoard({ chip: 'esp32', name: 'clone-a', timeScale: 0, mac });
    const b = new SimBoard({ chip: 'esp32', name: 'clone-b', timeScale: 0, mac });
    boards.push(a, b);
    const urlA = await served(a);
    const urlB = await served(b);
    const config = loadAgentConfig({
      FLASHFARM_DATA_DIR: '/tmp/ff-inv',
      FLASHFARM_AGENT_DISCOVERY: 'false',
      FLASHFARM_AGENT_PORTS: `${urlA},${urlB}`,
    });
    const probes: string[] = [];
    const logs: string[] = [];
    const inventory = new DeviceInventory(config, new PortRegistry(), (_level, text) => logs.push(text), {
      probe: (path, resetStrategy) => {
        probes.push(path);
        return probeBoard(path, { resetStrategy });
      },
    });
    const reports: ReportDevicesRequest[] = [];
    // The api's answer to a report with a MAC on two ports: applied, 409 DEVICE_CONFLICT.
    await inventory.setReporter((report) => {
      reports.push(report);
      const macs = report.present.map((p) => p.identity.mac);
      if (new Set(macs).size < macs.length)
        return Promise.reject(
          Object.assign(new Error('409'), { code: 'DEVICE_CONFLICT', detail: `${mac} answers on two ports` }),
        );
      return Promise.resolve({ devices: [] });
    });
    for (let i = 0; i < 5; i++) await inventory.tick();
    expect(
      inventory
        .present()
        .map((e) => e.path)
        .sort(),
    ).toEqual([urlA, urlB].sort());
    // Each port probed once, plus one check that the first still answers: then nothing more.
    expect(probes).toHaveLength(3);
    const withBoth = reports.filter((r) => r.present.length === 2);
    expect(withBoth).toHaveLength(1);
    expect(withBoth[0].present.map((p) => p.identity.mac)).toEqual([mac, mac]);
    expect(reports.flatMap((r) => r.gone)).toEqual([]);
    expect(logs.filter((l) => l.includes('moved from'))).toEqual([]);
    expect(logs.filter((l) => l.includes('answers on two ports'))).toHaveLength(1);
  }, 20_000);
});
