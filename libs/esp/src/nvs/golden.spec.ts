/**
 * The golden partition (test/fixtures/nvs_golden.bin) was made by ESP-IDF's
 * own nvs_partition_gen.py from test/fixtures/nvs_golden.csv (see the
 * fixtures README). Our generator must reproduce it byte for byte, our reader
 * must decode it, and a few fields are checked by hand against the format.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { nvsRecipeFromCsv } from './csv.js';
import { nvsCrc32, nvsEntryCrc, nvsPageHeaderCrc } from './format.js';
import { generateNvsPartition } from './generate.js';
import { readNvsPartition } from './read.js';
import { nvsRecipeOf, type NvsRecipe } from './recipe.js';

const fixture = (name: string) => readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url));
const golden = new Uint8Array(fixture('nvs_golden.bin'));
const csv = fixture('nvs_golden.csv').toString('utf8');
/** The file the CSV's `big` row names: byte i is (7i + 3) mod 256. */
const blob5000 = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7 + 3) & 0xff);
const SIZE = 0x6000;

const recipe: NvsRecipe = {
  device: {
    serial: { type: 'string', value: 'FF-2619-000042' },
    model: { type: 'string', value: 'Board, rev "B"' },
    empty: { type: 'string', value: '' },
    utf8: { type: 'string', value: 'Grüße ✓' },
    hw_rev: { type: 'u8', value: 255 },
    offset: { type: 'i8', value: -128 },
    port: { type: 'u16', value: 65535 },
    trim: { type: 'i16', value: -32768 },
    boot_count: { type: 'u32', value: 4294967295 },
    temp_off: { type: 'i32', value: -2147483648 },
    uid: { type: 'u64', value: 18446744073709551615n },
    epoch_ms: { type: 'i64', value: -9223372036854775808n },
    calib: { type: 'blob', value: new Uint8Array(Buffer.from('00112233445566778899aabbccddeeff', 'hex')) },
  },
  cloud: {
    cert: { type: 'blob', value: new TextEncoder().encode('Hello, NVS! This is a base64 blob') },
    token: { type: 'blob', value: new TextEncoder().encode('abc123') },
    big: { type: 'blob', value: blob5000 },
    late: { type: 'u32', value: 7 },
  },
};

const u32 = (bytes: Uint8Array, at: number) =>
  new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);

describe('the golden NVS partition made by ESP-IDF', () => {
  it('is what our generator makes from the same CSV, byte for byte', () => {
    const fromCsv = nvsRecipeFromCsv(csv, {
      readFile: (path) => (path === 'blob5000.bin' ? blob5000 : undefined),
    });
    const ours = generateNvsPartition(fromCsv, { sizeBytes: SIZE });
    expect(ours.length).toBe(golden.length);
    expect(Buffer.from(ours).equals(Buffer.from(golden))).toBe(true);
  });

  it('is what our generator makes from the equivalent recipe map', () => {
    expect(Buffer.from(generateNvsPartition(recipe, { sizeBytes: SIZE })).equals(Buffer.from(golden))).toBe(
      true,
    );
  });

  it('decodes to the recipe, with one full page, one active page and four erased ones', () => {
    const decoded = readNvsPartition(golden);
    expect(decoded.version).toBe(2);
    expect(decoded.pages.map((p) => p.state)).toEqual([
      'full',
      'active',
      'uninitialized',
      'uninitialized',
      'uninitialized',
      'uninitialized',
    ]);
    expect(decoded.pages.map((p) => p.seq)).toEqual([0, 1, undefined, undefined, undefined, undefined]);
    expect(decoded.namespaces.map((n) => n.name)).toEqual(['device', 'cloud']);
    expect(nvsRecipeOf(decoded.namespaces)).toEqual(recipe);
    // The 5000-byte blob starts on page 0 and continues on page 1.
    expect(decoded.entries.find((e) => e.key === 'big')?.page).toBe(0);
  });

  it('has the fields the format describes, checked by hand', () => {
    // Page 0 header: state FULL (0xFFFFFFFC), sequence 0, version byte 0xFE, CRC over bytes 4..27.
    expect(u32(golden, 0)).toBe(0xfffffffc);
    expect(u32(golden, 4)).toBe(0);
    expect(golden[8]).toBe(0xfe);
    expect(golden.subarray(9, 28).every((b) => b === 0xff)).toBe(true);
    expect(u32(golden, 28)).toBe(nvsPageHeaderCrc(golden.subarray(0, 32)));
    // Page 1 header: ACTIVE, sequence 1.
    expect(u32(golden, 0x1000)).toBe(0xfffffffe);
    expect(u32(golden, 0x1004)).toBe(1);
    // Page 0 is full: all 126 entries written (0b10 each, so 0xAA bytes; the last byte covers entries 124, 125 and two absent ones).
    expect(golden.subarray(32, 63).every((b) => b === 0xaa)).toBe(true);
    expect(golden[63]).toBe(0xfa);
    // Entry 0: the namespace "device" = index 1, a u8 in namespace 0, span 1, chunk 0xFF.
    const ns = golden.subarray(64, 96);
    expect([...ns.subarray(0, 4)]).toEqual([0x00, 0x01, 0x01, 0xff]);
    expect(Buffer.from(ns.subarray(8, 24)).toString('latin1')).toBe('device\0\0\0\0\0\0\0\0\0\0');
    expect(ns[24]).toBe(1);
    expect(u32(ns, 4)).toBe(nvsEntryCrc(ns));
    // Entry 1: string "serial" in namespace 1: type 0x21, span 2, size 15 (NUL included), data CRC, data in entry 2.
    const sz = golden.subarray(96, 128);
    expect([...sz.subarray(0, 4)]).toEqual([0x01, 0x21, 0x02, 0xff]);
    expect(sz[24] | (sz[25] << 8)).toBe(15);
    expect(Buffer.from(golden.subarray(128, 143)).toString('latin1')).toBe('FF-2619-000042\0');
    expect(u32(sz, 28)).toBe(nvsCrc32(golden.subarray(128, 143)));
    // "hw_rev" = 255: the u8 in data byte 0, the other 7 left erased.
    const u8 = golden.subarray(0x160, 0x180);
    expect([...u8.subarray(0, 4)]).toEqual([0x01, 0x01, 0x01, 0xff]);
    expect([...u8.subarray(24, 32)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    // "calib" (16 bytes): a blob data chunk 0 (type 0x42, span 2), then its index (type 0x48: size 16, 1 chunk from 0).
    const chunk = golden.subarray(0x260, 0x280);
    expect([...chunk.subarray(0, 4)]).toEqual([0x01, 0x42, 0x02, 0x00]);
    const index = golden.subarray(0x2a0, 0x2c0);
    expect([...index.subarray(0, 4)]).toEqual([0x01, 0x48, 0x01, 0xff]);
    expect(u32(index, 24)).toBe(16);
    expect([...index.subarray(28, 32)]).toEqual([1, 0, 0xff, 0xff]);
    // The last page (the one ESP-IDF keeps free) is erased flash.
    expect(golden.subarray(0x5000).every((b) => b === 0xff)).toBe(true);
  });
});
