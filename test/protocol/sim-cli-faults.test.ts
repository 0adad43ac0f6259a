/**
 * Every fault flag of `flashfarm sim`, seen from a flash through our flasher
 * over RFC 2217: each flag either makes the flash fail with the code a real
 * board with that fault would cause, or leaves its mark on a flash that
 * succeeds. Fleet-file fault keys and their validation are covered at the end.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildFirmwareSet,
  connect,
  EspError,
  flash,
  type FlasherEvent,
  type FlashRegion,
  md5Hex,
  type Transport,
} from '#esp';
import { openTransport } from '#serial';
import { FAULT_OPTIONS } from '../../apps/cli/src/sim/index.js';
import { pollUntil } from '../support/poll.js';
import { simCliRuns } from './support/sim-cli.js';

const start = simCliRuns();
const transports: Transport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
});

/** Boots one simulated ESP32 with the given flags (no UART delays) and opens our transport to it. */
async function boardWith(flags: string[]) {
  const run = start(['--count', '1', '--base-port', '0', '--time-scale', '0', '--no-control', ...flags]);
  const { boards } = await run.ready;
  const slot = boards[0];
  const transport = await openTransport(slot.url, { baudRate: 115_200 });
  transports.push(transport);
  return { run, slot, transport };
}

function firmware(payloadBytes = 48 * 1024): FlashRegion[] {
  return buildFirmwareSet({ chip: 'esp32', projectName: 'faulty', version: '1.0.0', payloadBytes });
}

/** The EspError a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<EspError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EspError);
    return err as EspError;
  }
  throw new Error('expected the flash to fail');
}

const tested = new Set<string>();
/** it() for one flag; the last test checks every flag got one. */
function itFlag(flag: string, name: string, fn: () => Promise<void>): void {
  tested.add(flag);
  it(`--${flag}: ${name}`, fn, 30_000);
}

describe('flashfarm sim fault flags, through a flash', () => {
  itFlag(
    'noise-above-baud',
    'a bridge that garbles 921 600 baud: the flasher falls back to 460 800',
    async () => {
      const { slot, transport } = await boardWith(['--noise-above-baud', '460800']);
      const parts = firmware();
      const result = await flash(transport, parts, { baud: 921_600 });
      expect(result.baudFallbacks).toEqual([921_600]);
      expect(result.baud).toBe(460_800);
      expect(result.regions.every((r) => r.verified)).toBe(true);
      for (const p of parts)
        expect(md5Hex(slot.board.flash.read(p.offset, p.data.length))).toBe(md5Hex(p.data));
    },
  );

  itFlag(
    'bit-error-rate',
    'noise at every baud: blocks are re-sent and the flash still verifies',
    async () => {
      const { transport } = await boardWith(['--bit-error-rate', '1e-5']);
      const resent: string[] = [];
      const result = await flash(transport, firmware(), {
        baud: 460_800,
        onEvent: (e: FlasherEvent) =>
          void (e.type === 'log' && /^re-sending block|^restarting/.test(e.text) && resent.push(e.text)),
      });
      expect(result.retries).toBeGreaterThan(0);
      expect(resent.length).toBe(result.retries);
      expect(result.regions.every((r) => r.verified)).toBe(true);
    },
  );

  itFlag('drop-rate', 'every byte lost: nothing answers, NO_SYNC', async () => {
    const { transport } = await boardWith(['--drop-rate', '1']);
    const err = await failure(flash(transport, firmware(), { connectAttempts: 2, syncsPerAttempt: 2 }));
    expect(err.code).toBe('NO_SYNC');
    expect(err.message).toMatch(/Nothing answers/);
  });

  itFlag('io0-unwired', 'resets never reach download mode: WRONG_BOOT_MODE', async () => {
    const { slot, transport } = await boardWith(['--io0-unwired']);
    const err = await failure(flash(transport, firmware(), { connectAttempts: 2 }));
    expect(err.code).toBe('WRONG_BOOT_MODE');
    expect(err.message).toMatch(/IO0/);
    expect(slot.board.console).not.toMatch(/waiting for download/);
  });

  itFlag(
    'latency-ms',
    'every command waits a round trip of 2 × 40 ms, and the flash still succeeds',
    async () => {
      const { transport } = await boardWith(['--latency-ms', '40']);
      const started = Date.now();
      const result = await flash(transport, firmware(16 * 1024));
      expect(result.regions.every((r) => r.verified)).toBe(true);
      // Sync, chip detection, stub upload, attach, three regions and their MD5s: far more than 20 round trips.
      expect(Date.now() - started).toBeGreaterThanOrEqual(20 * 2 * 40);
    },
  );

  itFlag(
    'flash-write-fail-at',
    'the write over 0x10000 fails: FLASH_ERROR, earlier regions verified',
    async () => {
      const { slot, transport } = await boardWith(['--flash-write-fail-at', '0x10000']);
      const parts = firmware();
      const err = await failure(flash(transport, parts));
      expect(err.code).toBe('FLASH_ERROR');
      const below = parts.filter((p) => p.offset + p.data.length <= 0x10000);
      expect(below.length).toBeGreaterThan(0);
      for (const p of below)
        expect(md5Hex(slot.board.flash.read(p.offset, p.data.length))).toBe(md5Hex(p.data));
    },
  );

  itFlag('boot-loop', 'the flashed app panics and reboots, over and over', async () => {
    const { transport } = await boardWith(['--boot-loop']);
    const result = await flash(transport, firmware());
    expect(result.regions.every((r) => r.verified)).toBe(true);
    // After the hard reset the app boots, panics and reboots: read the console through the port.
    if (!transport.isOpen) await transport.open(115_200);
    // The app's console runs at 115 200 baud, whatever the flash ran at.
    await transport.setBaudRate(115_200);
    let text = '';
    await pollUntil(
      async () => {
        text += Buffer.from(await transport.read(200).catch(() => new Uint8Array(0))).toString('latin1');
        return (text.match(/Rebooting\.\.\./g) ?? []).length >= 2;
      },
      { timeoutMs: 15_000, what: 'two panics in the console' },
    );
    expect(text).toMatch(/Guru Meditation Error/);
    expect(text).toMatch(/Project name: +faulty/);
  });

  itFlag('missed-syncs', 'the ROM ignores the first 3 SYNCs after each reset', async () => {
    const { transport } = await boardWith(['--missed-syncs', '3']);
    // Three SYNCs per reset are not enough, however often it is reset...
    const err = await failure(connect(transport, { attempts: 2, syncsPerAttempt: 3 }));
    expect(err.code).toBe('NO_SYNC');
    // ...the fourth is answered, and the flasher's defaults get there.
    const synced = await connect(transport, { attempts: 1, syncsPerAttempt: 4 });
    expect(synced.stubRunning).toBe(false);
    const result = await flash(transport, firmware());
    expect(result.regions.every((r) => r.verified)).toBe(true);
  });

  itFlag(
    'rx-dead',
    'the host cannot reach the chip: download banner, no sync, NO_SYNC (TX path down)',
    async () => {
      const { transport } = await boardWith(['--rx-dead']);
      const err = await failure(flash(transport, firmware(), { connectAttempts: 2 }));
      expect(err.code).toBe('NO_SYNC');
      expect(err.detail).toMatchObject({ reason: 'tx-path-down' });
    },
  );

  itFlag('flash-dead', 'the flash ID reads 0xFFFFFF: the flasher warns and assumes a size', async () => {
    const { transport } = await boardWith(['--flash-dead']);
    const warnings: string[] = [];
    const result = await flash(transport, firmware(), {
      onEvent: (e: FlasherEvent) => void (e.type === 'log' && e.level === 'warn' && warnings.push(e.text)),
    });
    expect(result.chip.flashId).toBe(0xffffff);
    expect(warnings.some((w) => /flash ID 0xffffff gives no size/.test(w))).toBe(true);
  });

  it('has a test above for every fault flag', () => {
    expect([...tested].sort()).toEqual(FAULT_OPTIONS.map((o) => o.flag).sort());
  });
});

describe('flashfarm sim fault settings', () => {
  it('takes faults from the fleet file (top level and per board), flags winning over both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flashfarm-fleet-faults-'));
    try {
      const file = join(dir, 'fleet.yaml');
      await writeFile(
        file,
        [
          'basePort: 0',
          'faults: { latencyMs: 5, dropRate: 0.001 }',
          'boards:',
          '  - chip: esp32',
          '    name: noisy',
          '    faults: { noiseAboveBaud: 460800, flashWriteFailAt: "0x20000", bootLoop: true }',
          '  - chip: esp32c3',
          '    name: out',
          '    plugged: false',
          '',
        ].join('\n'),
      );
      const run = start(['--fleet', file, '--time-scale', '0', '--drop-rate', '0', '--no-control']);
      const { boards } = await run.ready;
      const [noisy, out] = boards;
      expect(noisy.faults).toMatchObject({
        latencyMs: 5,
        dropRate: 0,
        noiseAboveBaud: 460_800,
        bitErrorRate: 1e-4,
        flashWriteFailAt: 0x20000,
        bootLoop: true,
      });
      expect(noisy.board.currentFaults).toMatchObject({
        bitErrors: { aboveBaud: 460_800, bitErrorRate: 1e-4 },
        flashWriteFailAt: 0x20000,
        latencyMs: 5,
        dropRate: 0,
      });
      expect(out.plugged).toBe(false);
      expect(out.faults.bootLoop).toBe(false);
      expect(run.stdout()).toMatch(
        /noisy .*noise-above-baud=460800 .*flash-write-fail-at=0x20000 .*boot-loop/,
      );
      expect(run.stdout()).toMatch(/out .*unplugged/);
      // An unplugged board's port does not listen.
      await expect(openTransport(out.url, { baudRate: 115_200 })).rejects.toMatchObject({
        code: 'PORT_NOT_FOUND',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['--drop-rate', '1.5'], /--drop-rate must be a probability from 0 to 1 \(got "1.5"\)/],
    [['--bit-error-rate', 'often'], /--bit-error-rate must be a probability/],
    [['--latency-ms=-3'], /--latency-ms must be milliseconds from 0 to 60000/],
    [['--missed-syncs', '2.5'], /--missed-syncs must be a whole number/],
    [['--noise-above-baud', 'fast'], /--noise-above-baud must be a baud rate/],
    [['--flash-write-fail-at', 'end'], /--flash-write-fail-at must be a flash address like 0x10000/],
    [['--flash-write-fail-at', '0x400000'], /flashWriteFailAt 0x400000 lies outside the board's 4 MiB flash/],
    [['--boot-loop=yes'], /boot-loop/],
    [['--control-token', 'short'], /--control-token must be at least 16 characters/],
    [['--no-control', '--control-port', '0'], /--no-control cannot be combined/],
  ])('refuses %j with exit code 2 and says what is accepted', async (flags, message) => {
    const run = start(['--count', '1', '--base-port', '0', ...flags]);
    await expect(run.exit).resolves.toBe(2);
    expect(run.stderr()).toMatch(message);
    expect(run.stdout()).toBe('');
  });

  it('refuses unknown or malformed fault keys in a fleet file, naming the place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flashfarm-fleet-faults-'));
    try {
      const cases: Array<[unknown, RegExp]> = [
        [
          { boards: [{ chip: 'esp32', faults: { dropRat: 0.1 } }] },
          /boards\[0\] faults: unknown fault "dropRat"; known faults: noiseAboveBaud/,
        ],
        [
          { boards: [{ chip: 'esp32', faults: { bootLoop: 'yes' } }] },
          /boards\[0\] faults\.bootLoop must be true or false/,
        ],
        [
          { faults: { latencyMs: 1e9 }, boards: [{ chip: 'esp32' }] },
          /faults\.latencyMs must be milliseconds/,
        ],
        [
          { boards: [{ chip: 'esp32', rxDead: true }] },
          /boards\[0\]: unknown key\(s\) rxDead.*faults go under "faults"/,
        ],
        [{ boards: [{ chip: 'esp32', plugged: 'no' }] }, /plugged must be true or false/],
      ];
      for (const [content, message] of cases) {
        const file = join(dir, 'fleet.json');
        await writeFile(file, JSON.stringify(content));
        const run = start(['--fleet', file]);
        await expect(run.exit).resolves.toBe(2);
        expect(run.stderr()).toMatch(message);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
