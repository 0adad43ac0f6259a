import { describe, expect, it } from '@jest/globals';
import type { ReportDevicesRequest } from '#contracts';
import { loadAgentConfig } from '../config/agent-config.js';
import { PortRegistry } from '../ports/port-registry.js';
import type { ProbeResult } from './board-prober.js';
import { DeviceInventory } from './device-inventory.js';

const SLOT = 'rfc2217://127.0.0.1:1';

/** A probe outcome: a unit's identity, or a flasher error code. */
type Step = string | { code: string };

function unit(mac: string): ProbeResult {
  return { identity: { mac, chip: 'esp32' }, resetStrategy: 'classic' };
}

/** An inventory whose one fixture slot answers the given probes in turn; each tick probes once. */
async function slotWith(trigger: 'probe' | 'manual' | 'lid:cd', steps: Step[]) {
  const config = loadAgentConfig({
    FLASHFARM_DATA_DIR: '/tmp/ff-fixture',
    FLASHFARM_AGENT_PORTS: SLOT,
    FLASHFARM_AGENT_DISCOVERY: 'false',
    FLASHFARM_AGENT_FIXTURES: `${SLOT}=${trigger}`,
  });
  const reports: ReportDevicesRequest[] = [];
  let probes = 0;
  const inventory = new DeviceInventory(config, new PortRegistry(), () => undefined, {
    probe: () => {
      const step = steps[probes++];
      if (step === undefined)
        return Promise.reject(Object.assign(new Error('no answer'), { code: 'NO_SYNC' }));
      if (typeof step === 'string') return Promise.resolve(unit(step));
      return Promise.reject(Object.assign(new Error(`probe failed: ${step.code}`), { code: step.code }));
    },
  });
  await inventory.setReporter((report) => {
    reports.push(report);
    return Promise.resolve({ devices: [] });
  });
  /** One discovery round with the slot's poll due now (the poll interval is the agent's real-time pace). */
  const tick = async () => {
    inventory.entry(SLOT)!.nextProbeAt = 0;
    await inventory.tick();
  };
  return { inventory, reports, tick, probes: () => probes };
}

describe('fixture slots', () => {
  it('a polled slot notices a swapped unit, reports a unit out of download mode once, and an empty gap as nothing', async () => {
    const s = await slotWith('probe', [
      'aa:00:00:00:00:01',
      'aa:00:00:00:00:01', // the same unit still there: nothing to report
      'aa:00:00:00:00:02', // swapped
      { code: 'WRONG_BOOT_MODE' }, // a unit that boots its app
      { code: 'WRONG_BOOT_MODE' }, // the same stuck unit, polled again: not a second failure
      { code: 'NO_SYNC' }, // empty slot
      { code: 'WRONG_BOOT_MODE' }, // another stuck unit after the gap
    ]);
    for (let i = 0; i < 7; i++) await s.tick();
    expect(s.probes()).toBe(7);
    const presentMacs = s.reports.flatMap((r) => r.present.map((p) => p.identity.mac));
    expect(new Set(presentMacs)).toEqual(new Set(['aa:00:00:00:00:01', 'aa:00:00:00:00:02']));
    expect(s.reports.some((r) => r.gone.includes(SLOT))).toBe(true);
    const failures = s.reports.flatMap((r) => r.cycleFailures ?? []);
    expect(failures.map((f) => [f.portPath, f.code])).toEqual([
      [SLOT, 'WRONG_BOOT_MODE'],
      [SLOT, 'WRONG_BOOT_MODE'],
    ]);
  });

  it('a manual slot is probed once at start, then only on next(): the same unit again is a new stay, silence a failure', async () => {
    const s = await slotWith('manual', ['aa:00:00:00:00:03', 'aa:00:00:00:00:03']);
    await s.tick();
    await s.tick(); // no trigger: not probed again
    expect(s.probes()).toBe(1);
    expect(await s.inventory.next(SLOT)).toBe('identified');
    // The stay was closed (reported gone) before the same unit was reported again: a re-test.
    const goneAt = s.reports.findIndex((r) => r.gone.includes(SLOT));
    expect(goneAt).toBeGreaterThan(0);
    expect(s.reports.slice(goneAt + 1).some((r) => r.present[0]?.identity.mac === 'aa:00:00:00:00:03')).toBe(
      true,
    );
    expect(await s.inventory.next(SLOT)).toBe('failed');
    expect(s.reports.flatMap((r) => r.cycleFailures ?? []).map((f) => f.code)).toEqual(['NO_SYNC']);
    expect(await s.inventory.next('rfc2217://127.0.0.1:2')).toBe('unknown-port');
  });

  it("a lid slot is never probed on its own; a closing lid starts a cycle, an opening one ends the unit's stay", async () => {
    const s = await slotWith('lid:cd', ['aa:00:00:00:00:04', 'aa:00:00:00:00:05']);
    await s.tick();
    await s.tick();
    expect(s.probes()).toBe(0);
    await s.inventory.lidOpened(SLOT);
    expect(s.inventory.entry(SLOT)).toMatchObject({ state: 'absent', lid: { state: 'open' } });
    expect(s.probes()).toBe(0);
    expect(await s.inventory.lidClosed(SLOT)).toBe('identified');
    expect(s.inventory.entry(SLOT)).toMatchObject({
      state: 'present',
      identity: { mac: 'aa:00:00:00:00:04' },
      lid: { state: 'closed' },
    });
    // Opening the lid takes the unit out: its stay ends, and the slot is not probed meanwhile.
    await s.inventory.lidOpened(SLOT);
    expect(s.inventory.entry(SLOT)?.state).toBe('absent');
    expect(s.reports.at(-1)?.gone).toEqual([SLOT]);
    await s.tick();
    expect(s.probes()).toBe(1);
    expect(await s.inventory.lidClosed(SLOT)).toBe('identified');
    expect(s.inventory.entry(SLOT)?.identity?.mac).toBe('aa:00:00:00:00:05');
    // A lid closed on a unit that does not answer is a failed cycle (the lid says a unit is there).
    await s.inventory.lidOpened(SLOT);
    expect(await s.inventory.lidClosed(SLOT)).toBe('failed');
    expect(s.reports.flatMap((r) => r.cycleFailures ?? []).map((f) => f.code)).toEqual(['NO_SYNC']);
  });
});
