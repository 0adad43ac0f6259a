/**
 * The "lid closed" cycle trigger on a running farm (api on PostgreSQL + Redis, agent, `flashfarm
 * sim` with a fleet file and its control endpoint). One rfc2217 port is a station slot whose
 * fixture wires its lid switch to CD: closing the lid takes the unit under it (identified,
 * flashed, verified, recorded); opening it ends the unit's stay; while it stays open a new unit
 * under it is left alone, shown by the agent's own state for the slot (lid open, watched) and the
 * unit's untouched flash; closing the lid again records the new unit.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import type { CampaignView, Page, UnitRecord } from '#contracts';
import { AgentRuntime } from '../../apps/agent/src/lifecycle/agent-runtime.js';
import { type ControlServer, type RunningSimBoard, runSimCli } from '../../apps/cli/src/sim/index.js';
import type { DemoFarm } from '../../scripts/demo.js';
import { startTestDemoFarm, type TestDemoFarm } from '../support/demo-farm.js';
import { pollUntil } from '../support/poll.js';

let farm: DemoFarm;
let testFarm: TestDemoFarm | undefined;
let slotUrl: string;
let firmwareId: string;
let parts: Array<{ offset: number; size: number; md5: string }>;
const simStop = new AbortController();
let simExit: Promise<number> | undefined;
let control: ControlServer;
let slots: RunningSimBoard[];

interface SimSlotListing {
  mac: string;
  unit: number;
  clientConnected: boolean;
  lid: { line: string; closed: boolean } | null;
  flashCounters: { writeSessions: number; verifiedBoots: number };
}

/** One call to the sim's control endpoint. */
async function sim<T = SimSlotListing>(method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${control.url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${control.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (res.status !== 200) throw new Error(`${method} ${route} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function units(campaignId: string): Promise<UnitRecord[]> {
  return (await farm.client.request<Page<UnitRecord>>('GET', `/campaigns/${campaignId}/units?limit=100`))
    .items;
}

/** The agent's entry for the lid slot (its state, the unit it holds there, its lid as it sees it). */
function agentSlot() {
  return farm.agent.context.get(AgentRuntime).inventory.entry(slotUrl)!;
}

/** The firmware's regions on the unit now in the slot match the firmware (read back from the simulated flash). */
async function holdsFirmware(): Promise<boolean> {
  for (const p of parts) {
    const h = await sim<{ md5: string }>(
      'GET',
      `/boards/lid-slot/flash-hash?offset=${p.offset}&length=${p.size}`,
    );
    if (h.md5 !== p.md5) return false;
  }
  return true;
}

beforeAll(async () => {
  testFarm = await startTestDemoFarm('lid-agent', {
    boards: [],
    emptyPorts: 1,
    timeScale: 0.05,
    agentEnv: (urls) => ({ FLASHFARM_AGENT_FIXTURES: `${urls[0]}=lid:cd` }),
  });
  farm = testFarm.farm;
  slotUrl = `rfc2217://127.0.0.1:${farm.emptyPorts[0]}`;
  const fw = await farm.uploadFirmware('esp32', '8.1.0');
  firmwareId = fw.id;
  parts = (
    await farm.client.request<{ parts: Array<{ offset: number; size: number; md5: string }> }>(
      'GET',
      `/firmware/${firmwareId}`,
    )
  ).parts;
  // The fixture: one slot on the port the agent watches, its lid on CD, open at start.
  const fleet = path.join(testFarm.work, 'lid-fleet.json');
  fs.writeFileSync(
    fleet,
    JSON.stringify({
      boards: [
        { chip: 'esp32', name: 'lid-slot', port: farm.emptyPorts[0], lid: { line: 'cd', closed: false } },
      ],
    }),
  );
  let ready: (value: { slots: RunningSimBoard[]; control: ControlServer | null }) => void = () => undefined;
  const started = new Promise<{ slots: RunningSimBoard[]; control: ControlServer | null }>(
    (r) => (ready = r),
  );
  let errText = '';
  simExit = runSimCli(['--fleet', fleet, '--time-scale', '0.05'], {
    stdout: () => undefined,
    stderr: (t) => void (errText += t),
    signal: simStop.signal,
    onReady: (s, c) => ready({ slots: s, control: c }),
  });
  const up = await Promise.race([
    started,
    simExit.then((code) => Promise.reject(new Error(`flashfarm sim exited (${code}): ${errText}`))),
  ]);
  if (!up.control) throw new Error('no control endpoint');
  control = up.control;
  slots = up.slots;
}, 90_000);

afterAll(async () => {
  simStop.abort();
  await simExit;
  await testFarm?.close();
});

describe('fixture lid trigger', () => {
  it('closing the lid takes the unit; opening it ends the stay; a unit under an open lid is left alone until it closes', async () => {
    expect(slots.map((s) => s.url)).toEqual([slotUrl]);
    const campaign = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: { json: { name: 'lid-line', firmwareId, mode: 'station' } },
    });
    const first = await sim('GET', '/boards/lid-slot');
    expect(first.lid).toEqual({ line: 'cd', closed: false });

    // The lid is open: the agent watches the port (it holds the connection) and waits.
    await pollUntil(
      async () =>
        agentSlot().lid?.state === 'open' &&
        agentSlot().lid?.watching === true &&
        (await sim('GET', '/boards/lid-slot')).clientConnected,
      { timeoutMs: 30_000, what: 'the agent to watch the open lid' },
    );
    expect(agentSlot().state).not.toBe('present');
    expect(await units(campaign.id)).toEqual([]);
    expect((await sim('GET', '/boards/lid-slot')).flashCounters.writeSessions).toBe(0);

    // Close the lid: the unit under it is identified, flashed, verified and recorded.
    await sim('POST', '/boards/lid-slot/lid', { closed: true });
    const firstUnit = await pollUntil(
      async () =>
        (await units(campaign.id)).find(
          (u) => u.mac === first.mac && u.result !== 'pending' && u.result !== 'flashing',
        ),
      { timeoutMs: 60_000, what: 'the first unit to end after the lid closed' },
    );
    expect(firstUnit).toMatchObject({
      result: 'succeeded',
      slot: slotUrl,
      retest: false,
      errorMessage: null,
    });
    expect(firstUnit.regions.map((r) => r.verifiedMd5)).toEqual(parts.map((p) => p.md5));
    expect(await holdsFirmware()).toBe(true);

    // Open the lid: the unit is being taken out. Its stay ends; the agent goes back to watching.
    await sim('POST', '/boards/lid-slot/lid', { closed: false });
    await pollUntil(
      () =>
        agentSlot().lid?.state === 'open' &&
        agentSlot().lid?.watching === true &&
        agentSlot().state !== 'present',
      { timeoutMs: 30_000, what: 'the agent to see the lid open and the unit gone' },
    );

    // Another unit goes in while the lid stays open: the agent reconnects to the slot and waits.
    const second = await sim('POST', '/boards/lid-slot/swap', {});
    expect(second.unit).toBe(2);
    expect(second.mac).not.toBe(first.mac);
    expect(second.lid).toEqual({ line: 'cd', closed: false });
    await pollUntil(
      async () =>
        (await sim('GET', '/boards/lid-slot')).clientConnected &&
        agentSlot().lid?.state === 'open' &&
        agentSlot().lid?.watching === true,
      { timeoutMs: 30_000, what: 'the agent to watch the new unit’s open lid' },
    );
    // Facts of "nothing happens while the lid is open": the agent holds no unit there, the new
    // unit's flash was never opened for writing, and the campaign has no record of it.
    expect(agentSlot().state).not.toBe('present');
    expect((await sim('GET', '/boards/lid-slot')).flashCounters.writeSessions).toBe(0);
    expect((await units(campaign.id)).map((u) => u.mac)).toEqual([first.mac]);

    // Close the lid: the second unit is taken.
    await sim('POST', '/boards/lid-slot/lid', { closed: true });
    const secondUnit = await pollUntil(
      async () =>
        (await units(campaign.id)).find(
          (u) => u.mac === second.mac && u.result !== 'pending' && u.result !== 'flashing',
        ),
      { timeoutMs: 60_000, what: 'the second unit to end after the lid closed' },
    );
    expect(secondUnit).toMatchObject({ result: 'succeeded', slot: slotUrl, retest: false });
    expect(await holdsFirmware()).toBe(true);
    const all = await units(campaign.id);
    expect(all.map((u) => u.mac).sort()).toEqual([first.mac, second.mac].sort());
    expect((await sim('GET', '/boards/lid-slot')).flashCounters.writeSessions).toBeGreaterThan(0);
    await farm.client.request('POST', `/campaigns/${campaign.id}/stop`);
  }, 240_000);
});
