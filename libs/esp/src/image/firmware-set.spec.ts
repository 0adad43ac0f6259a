import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { splitMergedImage, validateFirmwareSet, type FirmwareSetResult } from './firmware-set.js';
import { buildPartitionTable } from './partition-table.js';
import { buildAppImage, buildBootloaderImage, buildFirmwareSet, type FirmwarePart } from './writer.js';
import { md5Hex, sha256Hex } from './digest.js';
import { ImageError } from './problems.js';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url)));

function codes(result: FirmwareSetResult): string[] {
  return result.ok ? [] : result.problems.map((p) => p.code);
}
function messages(result: FirmwareSetResult): string[] {
  return result.ok ? [] : result.problems.map((p) => p.message);
}

function merge(parts: FirmwarePart[]): Uint8Array {
  const end = Math.max(...parts.map((p) => p.offset + p.data.length));
  const out = new Uint8Array(end).fill(0xff);
  for (const p of parts) out.set(p.data, p.offset);
  return out;
}

describe('validateFirmwareSet: what will boot', () => {
  const esp32 = () => [
    { name: 'bootloader.bin', offset: 0x1000, data: fixture('bootloader_esp32.bin') },
    { name: 'partitions.bin', offset: 0x8000, data: fixture('partitions_singleapp.bin') },
    { name: 'app.bin', offset: 0x10000, data: fixture('elf2image/esp32-idf-app.esptool.bin') },
  ];
  /** A table built with its MD5 entry (factory app at 0x10000), one label byte changed after. */
  const md5Mismatch = () => {
    const table = buildPartitionTable([
      { label: 'factory', type: 'app', subtype: 'factory', offset: 0x10000, size: 0x100000 },
    ]);
    table[12] ^= 0x01;
    return table;
  };
  const withTable = (table: Uint8Array) =>
    esp32().map((p) => (p.offset === 0x8000 ? { ...p, data: table } : p));
  const corrupt = (index: number, change: (data: Uint8Array) => void) => {
    const set = esp32();
    change(set[index].data);
    return set;
  };

  it('accepts the real ESP32 bootloader, single-app table and app', () => {
    const result = validateFirmwareSet(esp32());
    expect(result.ok && result.summary.parts.map((p) => p.role)).toEqual([
      'bootloader',
      'partition-table',
      'app',
    ]);
  });

  it.each([
    ['a bootloader whose magic byte is wrong', corrupt(0, (d) => (d[0] = 0xe8)), 'BOOTLOADER_INVALID'],
    ['all-0xFF bytes where the partition table goes', corrupt(1, (d) => d.fill(0xff)), 'BAD_PARTITION_TABLE'],
    [
      'random bytes where the partition table goes',
      corrupt(1, (d) => d.set(Uint8Array.from({ length: d.length }, (_, i) => (i * 131 + 7) & 0xff))),
      'BAD_PARTITION_TABLE',
    ],
    // Entry 2 (phy_init at 0xf000) moved to 0xa000, inside nvs (0x9000..0xf000).
    ['a partition table whose entries overlap', corrupt(1, (d) => (d[32 + 5] = 0xa0)), 'BAD_PARTITION_TABLE'],
    ['a partition table whose MD5 entry does not match', withTable(md5Mismatch()), 'BAD_PARTITION_TABLE'],
    ['an app whose checksum does not match', corrupt(2, (d) => (d[100] ^= 0xff)), 'BAD_CHECKSUM'],
    [
      'an app whose appended SHA-256 does not match',
      corrupt(2, (d) => (d[d.length - 1] ^= 0xff)),
      'BAD_SHA256',
    ],
  ])('refuses %s, and stores it only when asked to', (_what, set, code) => {
    expect(codes(validateFirmwareSet(set))).toContain(code);
    const forced = validateFirmwareSet(set, { allowUnbootable: true });
    expect(forced.ok).toBe(true);
    expect(forced.warnings.map((w) => w.message).join(' ')).toContain(`${code}:`);
  });

  it('refuses a partition table without an app partition', () => {
    const table = buildPartitionTable([
      { label: 'nvs', type: 'data', subtype: 'nvs', offset: 0x9000, size: 0x6000 },
    ]);
    const set = [esp32()[0], { name: 'partitions.bin', offset: 0x8000, data: table }];
    expect(messages(validateFirmwareSet(set)).join(' ')).toMatch(/lists no app partition/);
  });

  it('refuses a bootloader alone, ESP8266 included', () => {
    expect(codes(validateFirmwareSet([esp32()[0]]))).toEqual(['MISSING_APP']);
    expect(
      codes(
        validateFirmwareSet([{ name: 'b.bin', offset: 0, data: fixture('bootloader_esp8266.bin') }], {
          chip: 'esp8266',
        }),
      ),
    ).toEqual(['MISSING_APP']);
  });
});

describe('validateFirmwareSet', () => {
  it('summarises a synthetic three-part set', () => {
    const parts = buildFirmwareSet({
      chip: 'esp32c3',
      projectName: 'blinky',
      version: '1.2.3',
      idfVersion: 'v5.3.1',
    });
    const result = validateFirmwareSet(parts, { chip: 'esp32c3' });
    if (!result.ok) throw new Error(messages(result).join('\n'));
    expect(result.summary).toMatchObject({
      chip: 'esp32c3',
      chipDisplayName: 'ESP32-C3',
      flash: { mode: 'dio', size: '2MB', freq: '40m' },
      app: { projectName: 'blinky', version: '1.2.3', idfVersion: 'v5.3.1' },
    });
    expect(result.summary.parts.map((p) => [p.name, p.offset, p.role, p.partition])).toEqual([
      ['bootloader.bin', 0x0, 'bootloader', undefined],
      ['partition-table.bin', 0x8000, 'partition-table', undefined],
      ['blinky.bin', 0x10000, 'app', 'factory'],
    ]);
    expect(result.summary.parts[2].sha256).toBe(sha256Hex(parts[2].data));
    expect(result.summary.parts[2].md5).toBe(md5Hex(parts[2].data));
    expect(result.warnings).toEqual([]);
  });

  it('accepts the real ESP32 bootloader + single-app table with an app, and an app-only upload', () => {
    const real = validateFirmwareSet([
      { name: 'bootloader.bin', offset: 0x1000, data: fixture('bootloader_esp32.bin') },
      { name: 'partitions.bin', offset: 0x8000, data: fixture('partitions_singleapp.bin') },
      {
        name: 'p.bin',
        offset: 0x10000,
        data: buildAppImage({ chip: 'esp32', projectName: 'p', version: '1' }),
      },
    ]);
    expect(real.ok && real.summary.chip).toBe('esp32');
    const appOnly = validateFirmwareSet(
      [{ name: 'blink.bin', offset: 0x10000, data: fixture('esp_idf_blink_esp32s2.bin') }],
      { chip: 'esp32s2' },
    );
    expect(appOnly.ok && appOnly.summary.app).toMatchObject({
      projectName: 'blink',
      version: 'qa-test-v5.0-20220830-4-g4532e6',
    });
  });

  it('refuses a bootloader without an app, saying what is missing and where it goes', () => {
    const real = validateFirmwareSet([
      { name: 'bootloader.bin', offset: 0x1000, data: fixture('bootloader_esp32.bin') },
      { name: 'partitions.bin', offset: 0x8000, data: fixture('partitions_singleapp.bin') },
    ]);
    expect(codes(real)).toEqual(['MISSING_APP']);
    expect(messages(real)[0]).toBe(
      'The firmware has no application image, only bootloader.bin at 0x1000, partitions.bin at 0x8000: ' +
        'a board flashed with it has nothing to boot. Add the app binary from the same build ' +
        '(build/<project>.bin) at 0x10000 (partition "factory"), or upload the whole build ' +
        '(flasher_args.json) or a merged image.',
    );
    const [boot, table] = buildFirmwareSet({ chip: 'esp32c3', projectName: 'p', version: '1' });
    const alone = validateFirmwareSet([boot], { chip: 'esp32c3' });
    expect(codes(alone)).toEqual(['MISSING_APP']);
    expect(messages(alone)[0]).toMatch(/at 0x10000 \(the default app partition\)/);
    const custom = buildPartitionTable([
      { label: 'ota_0', type: 'app', subtype: 'ota_0', offset: 0x20000, size: 0x100000 },
    ]);
    expect(
      messages(
        validateFirmwareSet([
          boot,
          { ...table, data: custom },
          { name: 'fs.bin', offset: 0x9000, data: new Uint8Array(16).fill(1) },
        ]),
      ),
    ).toEqual([expect.stringMatching(/fs\.bin at 0x9000: .* at 0x20000 \(partition "ota_0"\)/)]);
  });

  it('accepts an ESP8266 v1 image at 0x0 with raw code beside it (NONOS layout), but not a table without an app', () => {
    const iram = { name: 'eagle.flash.bin', offset: 0x0, data: buildBootloaderImage({ chip: 'esp8266' }) };
    const irom = { name: 'eagle.irom0text.bin', offset: 0x10000, data: new Uint8Array(0x1000).fill(0x5a) };
    const nonos = validateFirmwareSet([iram, irom], { chip: 'esp8266' });
    expect(nonos.ok && nonos.summary.chip).toBe('esp8266');
    const [, table] = buildFirmwareSet({ chip: 'esp8266', projectName: 'p', version: '1' });
    expect(codes(validateFirmwareSet([iram, table], { chip: 'esp8266' }))).toEqual(['MISSING_APP']);
  });

  it('reports mixed chips in words a person understands', () => {
    const result = validateFirmwareSet([
      { name: 'bootloader.bin', offset: 0x1000, data: fixture('bootloader_esp32.bin') },
      {
        name: 'app.bin',
        offset: 0x10000,
        data: buildAppImage({ chip: 'esp32s3', projectName: 'p', version: '1' }),
      },
    ]);
    expect(codes(result)).toEqual(['MIXED_CHIPS']);
    expect(messages(result)[0]).toBe(
      'Part app.bin at 0x10000 is an ESP32-S3 image but bootloader.bin is for ESP32.',
    );
  });

  it('refuses a set for another chip than requested', () => {
    const result = validateFirmwareSet(buildFirmwareSet({ chip: 'esp32', projectName: 'p', version: '1' }), {
      chip: 'esp32c6',
    });
    expect(codes(result)).toContain('CHIP_MISMATCH');
    expect(messages(result).join()).toMatch(
      /The firmware is for ESP32 \(bootloader.bin at 0x1000\), but ESP32-C6 was requested/,
    );
    expect(
      codes(
        validateFirmwareSet(buildFirmwareSet({ chip: 'esp32', projectName: 'p', version: '1' }), {
          chip: 'esp99',
        }),
      ),
    ).toContain('CHIP_UNKNOWN');
  });

  it('reports overlaps, unaligned offsets and empty parts', () => {
    const [boot, table, app] = buildFirmwareSet({ chip: 'esp32s3', projectName: 'p', version: '1' });
    expect(codes(validateFirmwareSet([boot, table, { ...app, offset: 0x7000 }]))).toContain('OVERLAP');
    expect(codes(validateFirmwareSet([boot, { ...table, offset: 0x8100 }, app]))).toContain(
      'UNALIGNED_OFFSET',
    );
    expect(
      codes(
        validateFirmwareSet([
          boot,
          table,
          app,
          { name: 'blank.bin', offset: 0x300000, data: new Uint8Array(0) },
        ]),
      ),
    ).toContain('EMPTY_PART');
  });

  it('reports a bootloader at the wrong offset and an app where the bootloader belongs', () => {
    const [boot, table, app] = buildFirmwareSet({ chip: 'esp32', projectName: 'p', version: '1' });
    const moved = validateFirmwareSet([{ ...boot, offset: 0x0 }, table, app]);
    expect(codes(moved)).toEqual(['BOOTLOADER_OFFSET']);
    expect(messages(moved)[0]).toBe('bootloader.bin is a bootloader at 0x0, but ESP32 boots from 0x1000.');
    expect(codes(validateFirmwareSet([{ ...app, name: 'app.bin', offset: 0x1000 }, table]))).toContain(
      'BOOTLOADER_OFFSET',
    );
  });

  it('reports an app too big for its partition and an app outside any app partition', () => {
    const [boot, , app] = buildFirmwareSet({
      chip: 'esp32c3',
      projectName: 'p',
      version: '1',
      payloadBytes: 80 * 1024,
    });
    const small = buildPartitionTable([
      { label: 'factory', type: 'app', subtype: 'factory', offset: 0x10000, size: 0x10000 },
    ]);
    const tooBig = validateFirmwareSet([boot, { name: 'pt.bin', offset: 0x8000, data: small }, app]);
    expect(codes(tooBig)).toEqual(['APP_TOO_BIG_FOR_PARTITION']);
    expect(messages(tooBig)[0]).toMatch(
      /^p.bin at 0x10000 is 81\.\d KiB, but partition "factory" holds 64\.0 KiB\.$/,
    );
    const elsewhere = validateFirmwareSet([
      boot,
      { name: 'pt.bin', offset: 0x8000, data: small },
      { ...app, offset: 0x40000 },
    ]);
    expect(codes(elsewhere)).toEqual(['APP_NOT_IN_PARTITION']);
  });

  it('reports a corrupt partition table, bad checksums and bad digests per part', () => {
    const [boot, table, app] = buildFirmwareSet({ chip: 'esp32s2', projectName: 'p', version: '1' });
    const badTable = table.data.slice();
    badTable[44] ^= 1; // a label byte: only the MD5 entry notices
    expect(codes(validateFirmwareSet([boot, { ...table, data: badTable }, app]))).toEqual([
      'BAD_PARTITION_TABLE',
    ]);
    const badApp = app.data.slice();
    badApp[200] ^= 0x55;
    const result = validateFirmwareSet([boot, table, { ...app, data: badApp }]);
    expect(codes(result)).toEqual(['BAD_CHECKSUM']);
    expect(messages(result)[0]).toMatch(/^p.bin at 0x10000: p.bin has a bad checksum/);
    const badBoot = boot.data.slice();
    badBoot[3] ^= 0x20; // flash size nibble: covered by the digest, not the checksum
    expect(codes(validateFirmwareSet([{ ...boot, data: badBoot }, table, app]))).toEqual(['BAD_SHA256']);
  });

  it('reports parts beyond the flash size, over the total limit, and sets with no image', () => {
    const parts = buildFirmwareSet({ chip: 'esp32c6', projectName: 'p', version: '1' });
    const beyond = validateFirmwareSet([
      ...parts,
      { name: 'fs.bin', offset: 0x200000, data: new Uint8Array(0x1000) },
    ]);
    expect(codes(beyond)).toEqual(['EXCEEDS_FLASH_SIZE']);
    expect(messages(beyond)[0]).toMatch(
      /fs.bin at 0x200000 ends at 0x201000, beyond the 2.00 MiB flash the bootloader header declares/,
    );
    expect(codes(validateFirmwareSet(parts, { flashSizeBytes: 0x20000 }))).toContain('EXCEEDS_FLASH_SIZE');
    expect(codes(validateFirmwareSet(parts, { maxTotalBytes: 1000 }))).toContain('TOO_LARGE');
    expect(
      codes(validateFirmwareSet([{ name: 'x.bin', offset: 0x10000, data: new Uint8Array(64).fill(7) }])),
    ).toEqual(['NOT_AN_IMAGE']);
    expect(codes(validateFirmwareSet([]))).toEqual(['NOT_AN_IMAGE']);
  });
});

describe('splitMergedImage', () => {
  it('splits a merged build back into its parts, including non-empty data partitions', () => {
    const parts = buildFirmwareSet({ chip: 'esp32', projectName: 'merged', version: '9' });
    const nvs = { name: 'nvs.bin', offset: 0x9000, data: new Uint8Array(0x100).fill(0x42) };
    const split = splitMergedImage(merge([...parts, nvs]));
    expect(split.map((p) => [p.name, p.offset, p.data.length])).toEqual([
      ['bootloader.bin', 0x1000, parts[0].data.length],
      ['partition-table.bin', 0x8000, 4 * 32],
      ['nvs.bin', 0x9000, 0x100],
      ['factory.bin', 0x10000, parts[2].data.length],
    ]);
    expect(sha256Hex(split[3].data)).toBe(sha256Hex(parts[2].data));
    const result = validateFirmwareSet(split, { chip: 'esp32' });
    expect(result.ok && result.summary.app?.projectName).toBe('merged');
  });

  it('finds a partition table at a custom offset and bootloaders at 0 for newer chips', () => {
    const boot = buildBootloaderImage({ chip: 'esp32h2' });
    const table = buildPartitionTable([
      { label: 'factory', type: 'app', subtype: 'factory', offset: 0x20000, size: 0x100000 },
    ]);
    const app = buildAppImage({ chip: 'esp32h2', projectName: 'h2', version: '1' });
    const split = splitMergedImage(
      merge([
        { offset: 0, data: boot },
        { offset: 0xc000, data: table },
        { offset: 0x20000, data: app },
      ]),
    );
    expect(split.map((p) => p.offset)).toEqual([0x0, 0xc000, 0x20000]);
  });

  it('refuses files without a bootloader or a partition table', () => {
    expect(() => splitMergedImage(new Uint8Array(0x20000).fill(0xff))).toThrow(
      /No bootloader image found at 0x0, 0x1000, 0x2000/,
    );
    const boot = buildBootloaderImage({ chip: 'esp32c3' });
    expect(() =>
      splitMergedImage(
        merge([
          { offset: 0, data: boot },
          { offset: 0x10000, data: new Uint8Array(16) },
        ]),
      ),
    ).toThrow(/no partition table/);
  });
});

describe('robustness', () => {
  it('never throws anything but ImageError on corrupted merged images, and always explains a rejection', () => {
    const merged = merge(
      buildFirmwareSet({ chip: 'esp32s3', projectName: 'fuzz', version: '1', payloadBytes: 2048 }),
    );
    let seed = 99;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const hot = [
      0, 1, 2, 3, 12, 23, 0x8000, 0x8001, 0x8004, 0x8008, 0x8020, 0x80a0, 0x10000, 0x10001, 0x10018,
    ];
    for (let round = 0; round < 150; round++) {
      const bad = merged.slice();
      for (let k = 0; k < 1 + rand(3); k++) bad[hot[rand(hot.length)] + rand(4)] = rand(256);
      let parts: FirmwarePart[];
      try {
        parts = splitMergedImage(bad);
      } catch (err) {
        expect(err).toBeInstanceOf(ImageError);
        continue;
      }
      const result = validateFirmwareSet(parts);
      if (!result.ok) expect(result.problems.length).toBeGreaterThan(0);
    }
  });
});
