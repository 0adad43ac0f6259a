/**
 * Connecting to boards wired in different ways, and the checks that refuse an
 * image before any flash is touched.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import {
  buildFirmwareSet,
  chipInfo,
  eraseFlash,
  flash,
  hardReset,
  type LineSignals,
  md5Hex,
  runResetSequence,
  swapped,
} from '#esp';
import { SimTransport } from '#serial';
import { simBoards, failure } from './support/sim-board.js';

const setup = simBoards('connect');

/** A transport whose TX wire is cut after the reset: the chip reaches download mode but never hears SYNC. */
class DeadTxTransport extends SimTransport {
  override write(data: Uint8Array): Promise<void> {
    void data;
    return Promise.resolve();
  }
  override setSignals(signals: LineSignals): Promise<void> {
    return super.setSignals(signals);
  }
}

describe('connect', () => {
  it('finds the swapped-line strategy for a board wired RTS→IO0, DTR→EN, and reports it', async () => {
    const { board, transport } = await setup({ wiring: 'auto-reset-swapped' });
    const info = await chipInfo(transport, { connectAttempts: 8, after: 'no-reset' });
    expect(info.chip).toBe('esp32');
    expect(info.mac).toBe(board.mac);
    expect(info.resetStrategy).toMatch(/^swapped-/);
    // The stored strategy works first time on the next connect.
    const again = await chipInfo(transport, {
      resetStrategy: info.resetStrategy,
      connectAttempts: 1,
      after: 'no-reset',
    });
    expect(again.resetStrategy).toBe(info.resetStrategy);
    // And the matching swapped hard reset boots the board.
    await runResetSequence(transport, swapped(hardReset()).steps);
    await board.waitForConsole(/boot:0x13/, 2000);
  });

  it('reaches download mode through the USB-Serial/JTAG peripheral', async () => {
    const { board, transport } = await setup({ chip: 'esp32c3', wiring: 'usb-serial-jtag' });
    const info = await chipInfo(transport, { after: 'no-reset' });
    expect(info.chip).toBe('esp32c3');
    expect(info.mac).toBe(board.mac);
  });

  it('takes a custom D/R/W sequence', async () => {
    const { transport } = await setup();
    const info = await chipInfo(transport, {
      resetStrategy: 'D0|R1|W100|D1|R0|W50|D0',
      connectAttempts: 1,
      after: 'no-reset',
    });
    expect(info.resetStrategy).toBe('custom:D0|R1|W100|D1|R0|W50|D0');
  });

  it('download mode seen but SYNC unanswered: NO_SYNC naming the TX path', async () => {
    const { transport } = await setup({ name: 'dead-tx' }, (board) => new DeadTxTransport(board));
    const err = await failure(chipInfo(transport, { connectAttempts: 2, syncsPerAttempt: 2 }));
    expect(err.code).toBe('NO_SYNC');
    expect(err.message).toMatch(/TX path/);
    expect(err.detail).toMatchObject({ reason: 'tx-path-down' });
  });
});

describe('refusing an image before touching flash', () => {
  it('an image built for another chip: CHIP_MISMATCH, flash untouched', async () => {
    const { board, transport } = await setup();
    const parts = buildFirmwareSet({ chip: 'esp32s3', projectName: 'wrong', version: '1.0.0' });
    const err = await failure(
      flash(
        transport,
        parts.map((p) => ({ ...p, offset: p.offset === 0 ? 0x1000 : p.offset })),
      ),
    );
    expect(err.code).toBe('CHIP_MISMATCH');
    expect(err.message).toMatch(/ESP32/);
    expect(board.flash.read(0x1000, 0x1000).every((b) => b === 0xff)).toBe(true);
  });

  it('an image needing a newer chip revision: CHIP_MISMATCH naming both revisions', async () => {
    const { transport } = await setup({ revision: 100 });
    const parts = buildFirmwareSet({ chip: 'esp32', projectName: 'newer', version: '1.0.0' });
    const app = parts[2].data.slice();
    new DataView(app.buffer).setUint16(15, 300, true); // min_rev_full = v3.0
    const err = await failure(flash(transport, [parts[0], parts[1], { ...parts[2], data: app }]));
    expect(err.code).toBe('CHIP_MISMATCH');
    expect(err.message).toMatch(/v3\.0 or newer/);
    expect(err.message).toMatch(/v1\.0/);
  });

  it('data past the end of the flash: IMAGE_TOO_BIG', async () => {
    const { board, transport } = await setup({ flashSizeBytes: 1024 * 1024 });
    const err = await failure(
      flash(transport, [{ offset: 0xf0000, data: new Uint8Array(0x20000).fill(1), name: 'big.bin' }]),
    );
    expect(err.code).toBe('IMAGE_TOO_BIG');
    expect(err.message).toMatch(/big\.bin/);
    expect(md5Hex(board.flash.read(0xf0000, 0x10000))).toBe(md5Hex(new Uint8Array(0x10000).fill(0xff)));
  });

  it('overlapping regions are refused before the port is used', async () => {
    const { transport } = await setup();
    const err = await failure(
      flash(transport, [
        { offset: 0x10000, data: new Uint8Array(0x2000) },
        { offset: 0x11000, data: new Uint8Array(0x1000) },
      ]),
    );
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/overlap/);
  });

  it('an ESP32-S2 app on an ESP8266: CHIP_MISMATCH naming both chips, not a segment complaint', async () => {
    const { board, transport } = await setup({ chip: 'esp8266' });
    const app = new Uint8Array(
      readFileSync(new URL('../fixtures/esp_idf_blink_esp32s2.bin', import.meta.url)),
    );
    const err = await failure(
      flash(transport, [{ offset: 0x0, data: app, name: 'blink.bin' }], { flashMode: 'dio' }),
    );
    expect(err.code).toBe('CHIP_MISMATCH');
    expect(err.message).toMatch(/'blink\.bin' at 0x0 is an ESP32-S2 image, but this board is an ESP8266/);
    expect(err.message).not.toMatch(/chip id|multiple of 4/);
    expect(board.flash.read(0, 0x1000).every((b) => b === 0xff)).toBe(true);
  });

  it('a wrong-chip image names both chips by name', async () => {
    const { transport } = await setup();
    const [, , app] = buildFirmwareSet({ chip: 'esp32c3', projectName: 'c3', version: '1.0.0' });
    const err = await failure(flash(transport, [app]));
    expect(err.message).toMatch(/is an ESP32-C3 image, but this board is an ESP32\./);
    expect(err.message).not.toMatch(/chip id/);
  });

  it('a flash setting the chip does not have is refused, not silently skipped', async () => {
    const { board, transport } = await setup();
    const [boot] = buildFirmwareSet({ chip: 'esp32', projectName: 'p', version: '1' });
    const err = await failure(flash(transport, [boot], { flashFreq: '60m' }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toBe(
      "Flash frequency '60m' is not supported by ESP32. Supported frequencies: 80m, 40m, 26m, 20m.",
    );
    expect(board.flash.read(0x1000, 0x1000).every((b) => b === 0xff)).toBe(true);
  });

  it('erasing past the end of flash: INVALID_ARGUMENT naming the flash size, nothing erased', async () => {
    const { board, transport } = await setup({ flashSizeBytes: 2 * 1024 * 1024 });
    board.flash.program(0x1ff000, new Uint8Array(0x1000).fill(0x5a));
    const err = await failure(eraseFlash(transport, { regions: [{ offset: 0x1ff000, size: 0x2000 }] }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/goes past 2MB by 0x1000 bytes/);
    expect(err.message).not.toMatch(/power supply/);
    expect(board.flash.read(0x1ff000, 1)[0]).toBe(0x5a);
  });
});
