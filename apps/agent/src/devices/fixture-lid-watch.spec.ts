import { afterEach, describe, expect, it } from '@jest/globals';
import { SimTransport } from '#serial';
import { SimBoard } from '#sim';
import { pollUntil } from '../../../../test/support/poll.js';
import { loadAgentConfig } from '../config/agent-config.js';
import { PortRegistry } from '../ports/port-registry.js';
import { DeviceInventory } from './device-inventory.js';
import { FixtureLidWatch } from './fixture-lid-watch.js';

const SLOT = 'rfc2217://127.0.0.1:1';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A lid slot on CD whose port is a simulated board (in process); probes are counted, not run. */
async function lidSlot(closedAtStart = false) {
  const board = new SimBoard({ chip: 'esp32', name: 'lid-unit', timeScale: 0 });
  cleanups.push(() => board.dispose());
  board.setModemInputs({ cd: closedAtStart });
  const config = loadAgentConfig({
    FLASHFARM_DATA_DIR: '/tmp/ff-lid',
    FLASHFARM_AGENT_PORTS: SLOT,
    FLASHFARM_AGENT_DISCOVERY: 'false',
    FLASHFARM_AGENT_FIXTURES: `${SLOT}=lid:cd`,
  });
  const registry = new PortRegistry();
  let probes = 0;
  const log: string[] = [];
  const inventory = new DeviceInventory(config, registry, (_level, text) => log.push(text), {
    probe: () => {
      probes++;
      return Promise.resolve({ identity: { mac: board.mac, chip: 'esp32' }, resetStrategy: 'classic' });
    },
  });
  await inventory.setReporter(() => Promise.resolve({ devices: [] }));
  const watch = new FixtureLidWatch(
    config.fixtureLids,
    inventory,
    registry,
    () => new SimTransport(board),
    (_level, text) => log.push(text),
  );
  watch.start();
  cleanups.push(() => watch.close());
  const entry = () => inventory.entry(SLOT)!;
  return { board, registry, inventory, entry, log, probes: () => probes };
}

describe('fixture lid watch', () => {
  it('starts a cycle when the lid closes, ends the stay when it opens, and is not fooled by a run taking the port or a bounce', async () => {
    const s = await lidSlot();
    await pollUntil(() => s.entry().lid?.state === 'open' && s.entry().lid?.watching, {
      what: 'the watch to see the open lid',
    });
    expect(s.log).toContain(`${SLOT}: lid open, waiting for it to close before taking a unit`);
    expect(s.registry.holder(SLOT)).toBe('lid-watch');
    expect(s.probes()).toBe(0);

    s.board.setModemInputs({ cd: true });
    await pollUntil(() => s.entry().state === 'present' && s.entry().lid?.watching, {
      what: 'the unit under the closed lid to be identified and the watch to come back',
    });
    expect(s.probes()).toBe(1);

    // A run takes the port (the watch gives way), then gives it back: the lid is still closed and
    // the unit the same, so no new cycle.
    const run = await s.registry.acquire(SLOT, 'run');
    expect(s.entry().lid?.watching).toBe(false);
    run.release();
    await pollUntil(() => s.entry().lid?.watching, { what: 'the watch to come back after the run' });
    // A bounce shorter than the debounce: neither an opening nor a new closing.
    s.board.setModemInputs({ cd: false });
    s.board.setModemInputs({ cd: true });
    expect(s.probes()).toBe(1);
    expect(s.entry().state).toBe('present');

    s.board.setModemInputs({ cd: false });
    await pollUntil(() => s.entry().state === 'absent', { what: 'the opened lid to end the stay' });
    expect(s.probes()).toBe(1);
    s.board.setModemInputs({ cd: true });
    await pollUntil(() => s.probes() === 2 && s.entry().state === 'present', {
      what: 'the second closing to start a cycle',
    });
  });

  it('takes a unit already under a closed lid when it starts', async () => {
    const s = await lidSlot(true);
    // The first level seen is a change: a closed lid at start is a unit to take.
    await pollUntil(() => s.probes() === 1 && s.entry().state === 'present', {
      what: 'the unit under the closed lid to be taken',
    });
    expect(s.log.some((line) => line.includes('lid open'))).toBe(false);
  });
});
