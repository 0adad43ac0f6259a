import { describe, expect, it } from '@jest/globals';
import { EspError } from '../errors.js';
import { classifyBanner } from './connect.js';
import { baudLadderFrom } from './run.js';
import { imageHeaderFacts, mergeRanges, padTo4, splitRange, validateRegions } from './regions.js';
import { esp8266RomEraseSize } from './session.js';

describe('region planning', () => {
  it('pads to 4 bytes with 0xFF', () => {
    expect(Array.from(padTo4(Uint8Array.from([1, 2, 3, 4, 5])))).toEqual([1, 2, 3, 4, 5, 0xff, 0xff, 0xff]);
    const aligned = Uint8Array.from([1, 2, 3, 4]);
    expect(padTo4(aligned)).toBe(aligned);
  });

  it('sorts regions and refuses overlaps, odd offsets and empty data', () => {
    const a = { offset: 0x8000, data: new Uint8Array(16) };
    const b = { offset: 0x1000, data: new Uint8Array(16) };
    expect(validateRegions([a, b]).map((r) => r.offset)).toEqual([0x1000, 0x8000]);
    expect(() =>
      validateRegions([
        { offset: 0x1000, data: new Uint8Array(0x2000) },
        { offset: 0x2000, data: new Uint8Array(4) },
      ]),
    ).toThrow(/overlap/);
    expect(() => validateRegions([{ offset: 0x1001, data: new Uint8Array(4) }])).toThrow(EspError);
    expect(() => validateRegions([{ offset: 0, data: new Uint8Array(0) }])).toThrow(/empty/);
  });

  it('splits a range into granules aligned to the region start and merges touching ranges', () => {
    expect(splitRange(0, 0x2800, 0x1000)).toEqual([
      [0, 0x1000],
      [0x1000, 0x2000],
      [0x2000, 0x2800],
    ]);
    expect(
      mergeRanges([
        [0x2000, 0x3000],
        [0, 0x1000],
        [0x1000, 0x2000],
        [0x5000, 0x6000],
      ]),
    ).toEqual([
      [0, 0x3000],
      [0x5000, 0x6000],
    ]);
  });

  it('reads chip id and minimum revision from an ESP32-family header', () => {
    const h = new Uint8Array(24);
    h[0] = 0xe9;
    new DataView(h.buffer).setUint16(12, 9, true);
    new DataView(h.buffer).setUint16(15, 101, true);
    expect(imageHeaderFacts(h)).toEqual({ chipId: 9, minRevFull: 101 });
    expect(imageHeaderFacts(new Uint8Array(24))).toBeUndefined();
  });
});

describe('ESP8266 ROM erase size (reference §2.5)', () => {
  // The ROM erases n + min(n, head) sectors for a request of n: check the request undoes that.
  const romErases = (offset: number, requested: number): number => {
    const n = Math.ceil(requested / 0x1000);
    const head = 16 - ((offset / 0x1000) % 16);
    return (n + Math.min(n, head)) * 0x1000;
  };

  it.each([
    [0x10000, 0x4000],
    [0x3e000, 0x5000],
    [0x0, 0x40000],
    [0x7000, 0x12000],
  ])('at 0x%s for 0x%s bytes the ROM erases exactly the range', (offset, size) => {
    expect(romErases(offset, esp8266RomEraseSize(offset, size))).toBe(size);
  });
});

describe('connect helpers', () => {
  it('classifies boot banners with the boot:0x.. rule', () => {
    expect(classifyBanner('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)')).toEqual({
      bootMode: 0x13,
      download: false,
    });
    expect(
      classifyBanner(
        'rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\nwaiting for download\n',
      ),
    ).toEqual({
      bootMode: 0x3,
      download: true,
    });
    expect(classifyBanner('garbage')).toBeUndefined();
  });

  it('builds the baud ladder from the requested baud downwards', () => {
    expect(baudLadderFrom(921_600)).toEqual([921_600, 460_800, 230_400, 115_200]);
    expect(baudLadderFrom(2_000_000)).toEqual([2_000_000, 921_600, 460_800, 230_400, 115_200]);
    expect(baudLadderFrom(500_000)).toEqual([500_000, 460_800, 230_400, 115_200]);
  });
});
