/**
 * Re-flashing, the ROM-only paths, reading, erasing, header patching and a
 * stub left running, against in-process simulated boards.
 */
import { describe, expect, it } from '@jest/globals';
import {
  buildFirmwareSet,
  eraseFlash,
  flash,
  type FlasherEvent,
  type FlashRegion,
  md5Hex,
  parseImage,
  readFlash,
} from '#esp';
import { type SimBoard } from '#sim';
import { simBoards } from './support/sim-board.js';

const setup = simBoards('ops');

let cachedFirmware: FlashRegion[] | undefined;
/** One synthetic ESP32 build shared by the tests (building it is the slow part); tests copy before changing it. */
function firmware(): FlashRegion[] {
  cachedFirmware ??= buildFirmwareSet({
    chip: 'esp32',
    projectName: 'ops',
    version: '2.0.0',
    payloadBytes: 256 * 1024,
  });
  return cachedFirmware;
}

function holds(board: SimBoard, regions: FlashRegion[]): boolean {
  return regions.every((r) => md5Hex(board.flash.read(r.offset, r.data.length)) === md5Hex(r.data));
}

describe('re-flashing', () => {
  it('skips every region of an unchanged three-region image', async () => {
    const { board, transport } = await setup();
    const parts = firmware();
    await flash(transport, parts);
    const again = await flash(transport, parts, { skipUnchanged: true });
    expect(again.regions.map((r) => r.status)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(again.bytesWritten).toBe(0);
    expect(again.wireBytes).toBe(0);
    expect(again.bytesSkipped).toBe(parts.reduce((n, p) => n + p.data.length, 0));
    expect(holds(board, parts)).toBe(true);
  });

  it('rewrites only the changed 4 KiB chunk of the app, then verifies the whole region', async () => {
    const { board, transport } = await setup();
    const parts = firmware();
    await flash(transport, parts);
    const app = parts[2];
    const changed = app.data.slice();
    for (let i = 0x8000; i < 0x9000; i++) changed[i] = changed[i] ^ 0x5a;
    const next = [parts[0], parts[1], { ...app, data: changed }];
    const result = await flash(transport, next, { skipUnchanged: true });
    expect(result.regions.map((r) => r.status)).toEqual(['skipped', 'skipped', 'partial']);
    expect(result.bytesWritten).toBe(4096);
    expect(result.regions[2].verified).toBe(true);
    expect(holds(board, next)).toBe(true);
  });

  it('a change straddling a sector boundary rewrites exactly the two sectors', async () => {
    const { board, transport } = await setup();
    const parts = firmware();
    await flash(transport, parts);
    const app = parts[2];
    const changed = app.data.slice();
    for (let i = 0x1ffc; i < 0x2004; i++) changed[i] = changed[i] ^ 0xff;
    const next = [parts[0], parts[1], { ...app, data: changed }];
    const result = await flash(transport, next, { skipUnchanged: true });
    expect(result.bytesWritten).toBe(8192);
    expect(holds(board, next)).toBe(true);
  });
});

describe('events', () => {
  it('reports write progress per region up to 100 % with baud and an ETA, and timestamped log lines', async () => {
    const { transport } = await setup();
    const parts = firmware();
    const events: FlasherEvent[] = [];
    await flash(transport, parts, { baud: 460_800, onEvent: (e) => void events.push(e) });
    const progress = events.filter((e) => e.type === 'progress' && e.stage === 'write');
    for (let region = 0; region < parts.length; region++) {
      const mine = progress.filter((e) => e.type === 'progress' && e.region === region);
      expect(mine.length).toBeGreaterThan(0);
      const done = mine.map((e) => (e.type === 'progress' ? e.bytesDone : -1));
      expect([...done].sort((a, b) => a - b)).toEqual(done);
      expect(mine[mine.length - 1]).toMatchObject({
        percent: 100,
        bytesDone: parts[region].data.length,
        baud: 460_800,
      });
    }
    expect(progress.some((e) => e.type === 'progress' && e.etaMs !== undefined)).toBe(true);
    const logs = events.filter((e) => e.type === 'log');
    expect(logs.every((e) => e.type === 'log' && e.atMs >= 0 && e.stage.length > 0)).toBe(true);
  });
});

describe('uncompressed writes', () => {
  it('writes plain FLASH_DATA through the stub with the last block padded, and verifies', async () => {
    const { board, transport } = await setup();
    const region = {
      offset: 0x20000,
      data: new Uint8Array(0x4000 * 2 + 0x123 * 4).map((_, i) => (i * 11) & 0xff),
      name: 'raw',
    };
    // The region ends inside sector 0x28000; the padded last block would reach 0x2c000.
    board.flash.program(0x29000, Uint8Array.of(0x42));
    const result = await flash(transport, [region], { compress: false });
    expect(result.wireBytes).toBe(3 * 0x4000);
    expect(holds(board, [region])).toBe(true);
    // The stub writes (and erases) only up to the declared size: the next sector survives the padding.
    expect(board.flash.read(0x29000, 1)[0]).toBe(0x42);
  });
});

describe('ROM loader only (noStub)', () => {
  it('ESP32 ROM: compressed write, ASCII MD5 verify, no stub', async () => {
    const { board, transport } = await setup();
    const parts = firmware();
    const result = await flash(transport, parts, { noStub: true });
    expect(result.usedStub).toBe(false);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    expect(holds(board, parts)).toBe(true);
  });

  it('ESP8266 ROM: the erase-size workaround keeps neighbouring data intact', async () => {
    const { board, transport } = await setup({ chip: 'esp8266' });
    const neighbour = (n: number): Uint8Array => new Uint8Array(0x1000).map((_, i) => (i * 13 + n) & 0xff);
    // Data after each region, inside the same 64 KiB block and across the next boundary.
    board.flash.program(0x14000, neighbour(1));
    board.flash.program(0x43000, neighbour(2));
    const regions = [
      { offset: 0x10000, data: new Uint8Array(0x4000).map((_, i) => (i * 7 + 1) & 0xff), name: 'app' },
      { offset: 0x3e000, data: new Uint8Array(0x5000).map((_, i) => (i * 5 + 3) & 0xff), name: 'data' },
    ];
    const logs: string[] = [];
    const result = await flash(transport, regions, {
      noStub: true,
      onEvent: (e) => void (e.type === 'log' && logs.push(e.text)),
    });
    expect(result.usedStub).toBe(false);
    expect(holds(board, regions)).toBe(true);
    expect(md5Hex(board.flash.read(0x14000, 0x1000))).toBe(md5Hex(neighbour(1)));
    expect(md5Hex(board.flash.read(0x43000, 0x1000))).toBe(md5Hex(neighbour(2)));
    // The ESP8266 ROM can neither hash nor read flash: the result says it is unverified.
    expect(result.regions.map((r) => r.verified)).toEqual([false, false]);
    expect(logs.some((l) => /not verified/.test(l))).toBe(true);
  });
});

describe('read, erase, header patching, a running stub', () => {
  it('reads flash back through the stub stream (MD5 trailer checked) and through ROM READ_FLASH_SLOW', async () => {
    const { board, transport } = await setup();
    const data = new Uint8Array(0x6100).map((_, i) => (i * 31 + 7) & 0xff);
    board.flash.program(0x20000, data);
    expect(md5Hex(await readFlash(transport, 0x20000, data.length))).toBe(md5Hex(data));
    expect(md5Hex(await readFlash(transport, 0x20000, 300, { noStub: true }))).toBe(
      md5Hex(data.subarray(0, 300)),
    );
  });

  it('erases a region and leaves its neighbours alone; erase-all clears everything', async () => {
    const { board, transport } = await setup();
    board.flash.program(0x10000, new Uint8Array(0x3000).fill(0x11));
    await eraseFlash(transport, { regions: [{ offset: 0x11000, size: 0x1000 }] });
    expect(board.flash.read(0x10000, 1)[0]).toBe(0x11);
    expect(board.flash.read(0x11000, 0x1000).every((b) => b === 0xff)).toBe(true);
    expect(board.flash.read(0x12000, 1)[0]).toBe(0x11);
    await eraseFlash(transport);
    expect(board.flash.read(0x10000, 0x3000).every((b) => b === 0xff)).toBe(true);
  });

  it('patches the bootloader header (mode, freq, size) and keeps its SHA-256 valid', async () => {
    const { board, transport } = await setup();
    const parts = firmware();
    const result = await flash(transport, parts, {
      flashMode: 'dout',
      flashFreq: '26m',
      flashSize: 'detect',
    });
    const boot = board.flash.read(0x1000, parts[0].data.length);
    const image = parseImage(boot, { chip: 'esp32', name: 'bootloader' });
    expect(image.flashMode).toBe('dout');
    expect(image.flashSize).toBe('4MB');
    expect(boot[3] & 0x0f).toBe(0x1); // 26m
    // The MD5 in the result is that of the patched bytes actually written.
    expect(result.regions[0].md5).toBe(md5Hex(boot));
  });

  it('reuses a stub left running by the previous session', async () => {
    const { board, transport } = await setup();
    const parts = firmware();
    await flash(transport, parts, { after: 'no-reset-stub' });
    const logs: string[] = [];
    const result = await flash(transport, parts, {
      resetStrategy: 'no-reset',
      skipUnchanged: true,
      onEvent: (e: FlasherEvent) => void (e.type === 'log' && logs.push(e.text)),
    });
    expect(logs.some((l) => /already running/.test(l))).toBe(true);
    expect(logs.some((l) => /uploading the flasher stub/.test(l))).toBe(false);
    expect(result.usedStub).toBe(true);
    expect(result.resetStrategy).toBe('no-reset');
    expect(holds(board, parts)).toBe(true);
  });
});
