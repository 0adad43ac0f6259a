import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { buildPartitionTable, parsePartitionTable, type PartitionSpec } from './partition-table.js';
import { ImageError } from './problems.js';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url)));

const specs: PartitionSpec[] = [
  { label: 'nvs', type: 'data', subtype: 'nvs', offset: 0x9000, size: 0x6000 },
  { label: 'otadata', type: 'data', subtype: 'ota', offset: 0xf000, size: 0x2000 },
  { label: 'ota_0', type: 'app', subtype: 'ota_0', offset: 0x20000, size: 0x100000 },
  { label: 'ota_1', type: 'app', subtype: 'ota_1', offset: 0x120000, size: 0x100000, readonly: true },
];

function problems(data: Uint8Array, options = {}): string[] {
  try {
    parsePartitionTable(data, options);
  } catch (err) {
    if (err instanceof ImageError) return err.problems.map((p) => `${p.code}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('partition table', () => {
  it('reads the single-app table of the fixtures', () => {
    const table = parsePartitionTable(fixture('partitions_singleapp.bin'));
    expect(table.entries.map((e) => [e.label, e.typeName, e.subtypeName, e.offset, e.size])).toEqual([
      ['factory', 'app', 'factory', 0x10000, 0x100000],
      ['rfdata', 'data', 'phy', 0x110000, 0x40000],
      ['wifidata', 'data', 'nvs', 0x150000, 0x40000],
    ]);
    expect(table.md5).toBeUndefined();
  });

  it('round-trips a built table with its MD5 entry', () => {
    const bin = buildPartitionTable(specs);
    expect(bin.length).toBe(0xc00);
    const table = parsePartitionTable(bin, { tableOffset: 0x8000, flashSizeBytes: 4 << 20 });
    expect(table.md5?.valid).toBe(true);
    expect(table.length).toBe(5 * 32);
    expect(table.entries.map((e) => e.subtypeName)).toEqual(['nvs', 'ota', 'ota_0', 'ota_1']);
    expect(table.entries[3]).toMatchObject({ readonly: true, encrypted: false, flags: 2 });
  });

  it('reports a corrupt MD5, bad magic and overlaps with their details', () => {
    const bin = buildPartitionTable(specs);
    bin[4 * 32 + 20] ^= 1;
    expect(problems(bin)).toEqual([
      expect.stringMatching(/^BAD_PARTITION_TABLE: partition table MD5 entry does not match its entries/),
    ]);
    expect(problems(new Uint8Array(64).fill(0x12))).toEqual([
      'BAD_PARTITION_TABLE: partition table does not start with the partition magic AA 50 (found 0x12 0x12).',
    ]);
    const overlapping = buildPartitionTable([
      { label: 'factory', type: 'app', subtype: 'factory', offset: 0x10000, size: 0x100000 },
      { label: 'storage', type: 'data', subtype: 'spiffs', offset: 0x100000, size: 0x10000 },
    ]);
    expect(problems(overlapping)).toEqual([
      'BAD_PARTITION_TABLE: Partitions "factory" (0x10000..0x110000) and "storage" (from 0x100000) overlap.',
    ]);
  });

  it('checks alignment, size, duplicates, the table position and the flash size', () => {
    const bad = buildPartitionTable([
      { label: 'factory', type: 'app', subtype: 'factory', offset: 0x11000, size: 0x100000 },
      { label: 'nvs', type: 'data', subtype: 'nvs', offset: 0x8000, size: 0x1000 },
      { label: 'nvs', type: 'data', subtype: 'nvs', offset: 0x200000, size: 0x300000 },
      { label: 'empty', type: 'data', subtype: 'fat', offset: 0x180000, size: 0 },
    ]);
    const found = problems(bad, { tableOffset: 0x8000, flashSizeBytes: 4 << 20 });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /partition "factory" .* is not aligned to 0x10000 \(app partitions must start on a 64 KiB page\)/,
        ),
        expect.stringMatching(/partition "nvs" .* covers the partition table itself at 0x8000/),
        expect.stringMatching(/two partitions named "nvs"/),
        expect.stringMatching(/partition "empty" .* has size 0/),
        expect.stringMatching(
          /^EXCEEDS_FLASH_SIZE: partition "nvs" .* ends at 0x500000, beyond the 4 MB flash/,
        ),
      ]),
    );
  });

  it('refuses unknown subtypes and long labels when building', () => {
    expect(() =>
      buildPartitionTable([{ label: 'x', type: 'app', subtype: 'nvs', offset: 0x10000, size: 0x10000 }]),
    ).toThrow(/Unknown subtype "nvs" for partition type app/);
    expect(() =>
      buildPartitionTable([
        { label: 'a-very-long-label', type: 'data', subtype: 'nvs', offset: 0x9000, size: 0x1000 },
      ]),
    ).toThrow(/longer than 15 bytes/);
  });
});
