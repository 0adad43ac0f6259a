/**
 * Fixture cycles on a running farm (api on PostgreSQL + Redis, agent, simulated
 * boards over RFC 2217). A station slot is a port, not a board: the port stays
 * while the unit under it changes. Five units swapped under one port (each
 * stopped, a 2 s gap, another with another MAC started on the same TCP port)
 * make five unit records, each flashed and verified; a unit held out of
 * download mode is a failed unit with its reason; the same board again is a
 * re-test, counted apart; a unit already on the port when the campaign starts
 * is taken. A job pinned to a board that was swapped away ends DEVICE_CHANGED
 * and writes nothing to the unit that is there now.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { CampaignView, DeviceView, JobView, Page, RunView, UnitRecord } from '#contracts';
import type { DemoBoard, DemoBoardSpec, DemoFarm } from '../../scripts/demo.js';
import { startTestDemoFarm, type TestDemoFarm } from '../support/demo-farm.js';
import { pollUntil } from '../support/poll.js';
import { holdFor } from '../support/stimulus.js';

let farm: DemoFarm;
let testFarm: TestDemoFarm | undefined;
let firmwareId: string;
let parts: Array<{ offset: number; size: number; md5: string }>;
/** The fixture slot (probe-triggered) and a plain port (no fixture). */
let slotUrl: string;
let slotPort: number;
let plainPort: number;
let manualPort: number;

/** The gap between taking one unit out of the fixture and putting the next one in. */
const SWAP_GAP_MS = 2_000;

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');

async function units(campaignId: string): Promise<UnitRecord[]> {
  return (await farm.client.request<Page<UnitRecord>>('GET', `/campaigns/${campaignId}/units?limit=100`))
    .items;
}

/** Takes a unit out of its port: the board stops and its port stops listening. */
async function takeOut(b: DemoBoard): Promise<void> {
  await b.server.close();
  b.board.dispose();
  farm.boards.splice(farm.boards.indexOf(b), 1);
}

/** What a job went through (its view, its devices' states, its runs' logs): the message of a test that waited in vain. */
async function jobStory(jobId: string): Promise<string> {
  const job = await farm.client.request<JobView>('GET', `/jobs/${jobId}`);
  const devices = (await farm.client.request<Page<DeviceView>>('GET', '/devices?limit=50')).items;
  const logs = await Promise.all(
    job.slots.flatMap((slot) =>
      slot.latest ? [farm.client.request<string>('GET', `/runs/${slot.latest.id}/log`, { text: true })] : [],
    ),
  );
  return [
    `job: ${JSON.stringify(job)}`,
    `devices: ${devices.map((d) => `${d.mac} ${d.state}`).join(', ')}`,
    ...logs,
  ].join('\n');
}

/** The regions of the campaign's firmware on a board match the firmware (read from the simulated flash). */
function holdsFirmware(b: DemoBoard): boolean {
  return parts.every((p) => md5(b.board.flash.read(p.offset, p.size)) === p.md5);
}

beforeAll(async () => {
  testFarm = await startTestDemoFarm('fixture-agent', {
    boards: [],
    emptyPorts: 3,
    timeScale: 0.05,
    agentEnv: (urls) => ({
      FLASHFARM_AGENT_FIXTURES: `${urls[0]}=probe,${urls[2]}=manual`,
      FLASHFARM_AGENT_FIXTURE_POLL_MS: '300',
      // The plain port stays empty from the start: its probe pause stops growing at 3 s (default 30 s).
      FLASHFARM_AGENT_PROBE_BACKOFF_MAX_MS: '3000',
    }),
  });
  farm = testFarm.farm;
  [slotPort, plainPort, manualPort] = farm.emptyPorts;
  slotUrl = `rfc2217://127.0.0.1:${slotPort}`;
  const fw = await farm.uploadFirmware('esp32', '8.0.0');
  firmwareId = fw.id;
  parts = (
    await farm.client.request<{ parts: Array<{ offset: number; size: number; md5: string }> }>(
      'GET',
      `/firmware/${firmwareId}`,
    )
  ).parts;
}, 60_000);

afterAll(async () => {
  await testFarm?.close();
});

describe('fixture cycles', () => {
  it('five units swapped under one port: five records, five MACs, each flashed and verified; a unit out of download mode fails with its reason; the same unit again is a re-test', async () => {
    // A unit already under the fixture when the campaign starts is taken.
    const specs: DemoBoardSpec[] = [0, 1, 2, 3, 4].map((i) => ({ chip: 'esp32', name: `fixture-unit-${i}` }));
    let current = await farm.addBoard(specs[0], slotPort);
    await pollUntil(
      async () =>
        (await farm.client.request<Page<DeviceView>>('GET', '/devices?limit=50')).items.some(
          (d) => d.mac === current.board.mac && d.state === 'idle',
        ),
      { timeoutMs: 20_000, what: 'the first unit to be identified on the fixture' },
    );
    const campaign = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: {
        json: {
          name: 'fixture-line',
          firmwareId,
          mode: 'station',
          unitData: { serialPattern: 'FF-{yyww}-{seq:06}' },
        },
      },
    });
    const unitDone = (mac: string) =>
      pollUntil(
        async () =>
          (await units(campaign.id)).find(
            (u) => u.mac === mac && u.result !== 'pending' && u.result !== 'flashing',
          ),
        { timeoutMs: 40_000, what: `the unit ${mac} to end` },
      );

    const macs: string[] = [];
    for (let i = 0; i < specs.length; i++) {
      if (i > 0) {
        await takeOut(current);
        await holdFor(SWAP_GAP_MS);
        current = await farm.addBoard(specs[i], slotPort);
      }
      const unit = await unitDone(current.board.mac);
      expect({ i, result: unit.result, error: unit.errorMessage }).toEqual({
        i,
        result: 'succeeded',
        error: null,
      });
      // Flashed and verified: the record's verified MD5s match, and so does the unit's flash.
      expect(unit.regions.map((r) => r.verifiedMd5)).toEqual(parts.map((p) => p.md5));
      expect(holdsFirmware(current)).toBe(true);
      expect(unit.slot).toBe(slotUrl);
      expect(unit.retest).toBe(false);
      macs.push(current.board.mac);
    }

    // A unit whose IO0 the fixture does not reach: it boots its app, never the loader.
    await takeOut(current);
    await holdFor(SWAP_GAP_MS);
    current = await farm.addBoard(
      { chip: 'esp32', name: 'fixture-unit-stuck', faults: { io0NotWired: true } },
      slotPort,
    );
    const failed = await pollUntil(
      async () => (await units(campaign.id)).find((u) => u.result === 'failed'),
      { timeoutMs: 40_000, what: 'the unit held out of download mode to be recorded as failed' },
    );
    expect(failed).toMatchObject({ mac: null, slot: slotUrl, errorCode: 'WRONG_BOOT_MODE', retest: false });
    expect(failed.errorMessage).toMatch(/\S/);
    expect(failed.jobId).toBeNull();

    // The first unit again: a re-test, recorded and counted apart.
    await takeOut(current);
    await holdFor(SWAP_GAP_MS);
    current = await farm.addBoard({ ...specs[0], name: 'fixture-unit-0-again', mac: macs[0] }, slotPort);
    const retest = await pollUntil(
      async () =>
        (await units(campaign.id)).find((u) => u.mac === macs[0] && u.retest && u.result === 'succeeded'),
      { timeoutMs: 40_000, what: 'the re-test of the first unit to pass' },
    );
    expect(retest.slot).toBe(slotUrl);

    const all = await units(campaign.id);
    const firstTests = all.filter((u) => !u.retest && u.result === 'succeeded');
    expect(firstTests).toHaveLength(5);
    expect(new Set(firstTests.map((u) => u.mac))).toEqual(new Set(macs));
    expect(new Set(macs).size).toBe(5);
    // Each flashed unit got its own serial from the campaign's pattern; the failed cycle had none to start.
    const serials = all.flatMap((u) => (u.serial ? [u.serial] : []));
    expect(serials).toHaveLength(6);
    expect(new Set(serials).size).toBe(6);
    for (const serial of serials) expect(serial).toMatch(/^FF-\d{4}-\d{6}$/);
    expect(failed.serial).toBeNull();
    expect(all).toHaveLength(7);
    const view = await farm.client.request<CampaignView>('GET', `/campaigns/${campaign.id}`);
    expect(view.counters).toMatchObject({
      total: 7,
      succeeded: 5,
      failed: 1,
      retests: 1,
      pending: 0,
      inProgress: 0,
      yieldPercent: 83.3,
    });
    expect(view.counters.unitsPerHourRecent).toBeGreaterThan(0);
    await farm.client.request('POST', `/campaigns/${campaign.id}/stop`);
    await takeOut(current);
  }, 300_000);

  it('a job pinned to a board that was swapped away ends DEVICE_CHANGED and flashes nothing', async () => {
    // A plain port (no fixture polling): the farm still believes the first board is there.
    const first = await farm.addBoard({ chip: 'esp32', name: 'pinned-first' }, plainPort);
    await pollUntil(
      async () =>
        (await farm.client.request<Page<DeviceView>>('GET', '/devices?limit=50')).items.some(
          (d) => d.mac === first.board.mac && d.state === 'idle',
        ),
      // The port has been empty since the farm started, so the agent probes it only every 3 s by now
      // (FLASHFARM_AGENT_PROBE_BACKOFF_MAX_MS above): the board may wait that long to be seen.
      { timeoutMs: 40_000, what: 'the first board to be identified' },
    );
    await takeOut(first);
    const second = await farm.addBoard({ chip: 'esp32', name: 'pinned-second' }, plainPort);
    const before = parts.map((p) => md5(second.board.flash.read(p.offset, p.size)));

    const job = await farm.client.request<JobView>('POST', '/jobs', {
      body: { json: { firmwareId, target: { device: first.board.mac } } },
    });
    const ended = await pollUntil(
      async () => {
        const j = await farm.client.request<JobView>('GET', `/jobs/${job.id}`);
        return j.status === 'failed' || j.status === 'succeeded' || j.status === 'cancelled' ? j : undefined;
      },
      { timeoutMs: 40_000, what: 'the pinned job to end' },
    ).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${await jobStory(job.id)}`);
    });
    expect(ended.status).toBe('failed');
    const runId = ended.slots[0].latest?.id;
    expect(runId).toBeDefined();
    const run = await farm.client.request<RunView>('GET', `/runs/${runId}`);
    expect(run).toMatchObject({ status: 'failed', errorCode: 'DEVICE_CHANGED', bytesWritten: 0 });
    // The run is filed under the unit that was really there, and nothing reached it.
    expect(run.device?.mac).toBe(second.board.mac);
    expect(parts.map((p) => md5(second.board.flash.read(p.offset, p.size)))).toEqual(before);
  }, 120_000);

  it('a manual slot starts a cycle on "next unit" only: a unit, the same unit again as a re-test, a unit out of download mode as a failure', async () => {
    const manualUrl = `rfc2217://127.0.0.1:${manualPort}`;
    const campaign = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: { json: { name: 'manual-line', firmwareId, mode: 'station' } },
    });
    const onSlot = async () => (await units(campaign.id)).filter((u) => u.slot === manualUrl);
    const next = () =>
      farm.client.request('POST', `/stations/${campaign.id}/next`, { body: { json: { slot: manualUrl } } });
    let unit = await farm.addBoard({ chip: 'esp32', name: 'manual-unit' }, manualPort);
    await next();
    await pollUntil(
      async () => (await onSlot()).some((u) => u.mac === unit.board.mac && u.result === 'succeeded'),
      { timeoutMs: 40_000, what: 'the unit put in on "next" to pass' },
    );
    // The same unit again (the operator pressed "next" without changing it): a re-test.
    await next();
    await pollUntil(
      async () =>
        (await onSlot()).some((u) => u.mac === unit.board.mac && u.retest && u.result === 'succeeded'),
      { timeoutMs: 40_000, what: 'the re-test to pass' },
    );
    await takeOut(unit);
    unit = await farm.addBoard(
      { chip: 'esp32', name: 'manual-unit-stuck', faults: { io0NotWired: true } },
      manualPort,
    );
    await next();
    const failed = await pollUntil(async () => (await onSlot()).find((u) => u.result === 'failed'), {
      timeoutMs: 40_000,
      what: 'the unit out of download mode to fail',
    });
    expect(failed).toMatchObject({ mac: null, errorCode: 'WRONG_BOOT_MODE' });
    expect(await onSlot()).toHaveLength(3);
    // A station that is not running refuses the button with a reason.
    await farm.client.request('POST', `/campaigns/${campaign.id}/stop`);
    await expect(next()).rejects.toThrow(/CAMPAIGN_STATE|running station/);
    await takeOut(unit);
  }, 150_000);
});
