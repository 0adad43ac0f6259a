import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { decodeIntelHex, encodeIntelHex, looksLikeIntelHex } from './intel-hex.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url), 'utf8');

// Expected records were produced by Python intelhex 2.3.0 (what esptool uses) from the same bytes.
describe('Intel HEX', () => {
  it('writes records as the intelhex package does: 16 bytes, split at gaps, no linear record below 64 KiB', () => {
    const text = encodeIntelHex([
      { address: 0x10, data: Uint8Array.from({ length: 20 }, (_, i) => i) },
      { address: 0x40, data: Uint8Array.of(0xaa, 0xbb) },
    ]);
    expect(text.split('\n')).toEqual([
      ':10001000000102030405060708090A0B0C0D0E0F68',
      ':040020001011121396',
      ':02004000AABB59',
      ':00000001FF',
      '',
    ]);
  });

  it('emits an extended linear address record per 64 KiB window and never lets a record cross one', () => {
    const data = Uint8Array.from({ length: 8 }, (_, i) => 0x30 + i);
    const lines = encodeIntelHex([{ address: 0x1fffc, data }])
      .trim()
      .split('\n');
    expect(lines).toEqual([
      ':020000040001F9',
      ':04FFFC00303132333B',
      ':020000040002F8',
      ':040000003435363726',
      ':00000001FF',
    ]);
    // Each record checksums to zero, as the format requires.
    for (const line of lines) {
      const bytes = line
        .slice(1)
        .match(/../g)!
        .map((h) => parseInt(h, 16));
      expect(bytes.reduce((s, b) => s + b, 0) % 256).toBe(0);
    }
  });

  it('reads back what it writes, one region per gap-free run', () => {
    const a = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    const b = Uint8Array.from({ length: 5 }, (_, i) => i);
    const regions = decodeIntelHex(
      encodeIntelHex([
        { address: 0xfff0, data: a },
        { address: 0x30000, data: b },
      ]),
    );
    expect(regions.map((r) => [r.address, r.data.length])).toEqual([
      [0xfff0, 300],
      [0x30000, 5],
    ]);
    expect(Array.from(regions[0].data)).toEqual(Array.from(a));
  });

  it("splits esptool's merged HEX output into its three parts", () => {
    const text = fixture('merge-bin/esp32-keep.esptool.hex');
    expect(looksLikeIntelHex(new TextEncoder().encode(text))).toBe(true);
    expect(decodeIntelHex(text).map((r) => [r.address, r.data.length])).toEqual([
      [0x1000, 7888],
      [0x8000, 96],
      [0x10000, 79008],
    ]);
  });

  it('names the line of a malformed record', () => {
    expect(() => decodeIntelHex(':00000001FF\n', 'x.hex')).not.toThrow();
    expect(() => decodeIntelHex(':0400000030313233D3\n', 'x.hex')).toThrow(
      /x\.hex line 1: bad record checksum/,
    );
    expect(() => decodeIntelHex('hello\n', 'x.hex')).toThrow(/x\.hex line 1 is not an Intel HEX record/);
    expect(() => decodeIntelHex(':0500000030313233D2\n', 'x.hex')).toThrow(/length does not match/);
  });
});
