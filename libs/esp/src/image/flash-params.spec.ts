import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { getTarget } from '../targets/registry.js';
import { checkFlashSettingNames, checkFlashSettingsForChip, updateImageFlashParams } from './flash-params.js';
import { parseImage } from './parser.js';
import { buildBootloaderImage } from './writer.js';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url)));

describe('flash settings in a bootloader header', () => {
  it('rewrites mode, size and frequency and refreshes the SHA-256 of the C3 bootloader; the checksum stays', () => {
    const original = fixture('bootloader_esp32c3.bin');
    const result = updateImageFlashParams(
      getTarget('esp32c3'),
      0x0,
      { mode: 'qio', size: '8MB', freq: '80m' },
      original,
    );
    expect(result).toMatchObject({ changed: true, sha256Updated: true });
    expect(result.notes).toEqual(['Flash parameters set to 0x003f.', 'SHA digest in image updated.']);
    const img = parseImage(result.data);
    expect(img).toMatchObject({ flashMode: 'qio', flashSize: '8MB', flashFreq: '80m' });
    expect(img.sha256?.valid).toBe(true);
    expect(img.checksum.valid).toBe(true);
    const diff = Array.from(result.data.keys()).filter((i) => result.data[i] !== original[i]);
    expect(diff.every((i) => i === 2 || i === 3 || i >= img.sha256!.offset)).toBe(true);
    expect(original[2]).toBe(0x02); // the input is left alone
  });

  it("changes nothing for 'keep', away from the bootloader offset, or when the values are already set", () => {
    const original = fixture('bootloader_esp32c3.bin');
    const c3 = getTarget('esp32c3');
    expect(updateImageFlashParams(c3, 0x0, { mode: 'keep', freq: 'keep', size: 'keep' }, original).data).toBe(
      original,
    );
    expect(updateImageFlashParams(c3, 0x10000, { mode: 'qio' }, original).data).toBe(original);
    const same = updateImageFlashParams(c3, 0x0, { mode: 'dio', size: '2MB', freq: '40m' }, original);
    expect(same.changed).toBe(false);
    // esptool recomputes the digest anyway; it comes out identical.
    expect(Buffer.compare(Buffer.from(same.data), Buffer.from(original))).toBe(0);
  });

  it('keeps the bytes after the digest, as in a merged binary', () => {
    const boot = buildBootloaderImage({ chip: 'esp32s3' });
    const merged = new Uint8Array(boot.length + 100).fill(0xab);
    merged.set(boot);
    const { data } = updateImageFlashParams(getTarget('esp32s3'), 0, { freq: '20m' }, merged);
    expect(data.length).toBe(merged.length);
    expect(data.subarray(boot.length).every((b) => b === 0xab)).toBe(true);
    expect(parseImage(data).sha256?.valid).toBe(true);
  });

  it('leaves data that is no image of the chip alone, with the warning esptool prints', () => {
    const esp32 = getTarget('esp32');
    expect(
      updateImageFlashParams(esp32, 0x1000, { mode: 'qio' }, fixture('partitions_singleapp.bin')).warning,
    ).toBe("Image file at 0x1000 doesn't look like an image file, so not changing any flash settings.");
    const cut = fixture('bootloader_esp32.bin').subarray(0, 200);
    expect(updateImageFlashParams(esp32, 0x1000, { mode: 'qio' }, cut).warning).toBe(
      'Image file at 0x1000 is not a valid ESP32 image, so not changing any flash settings.',
    );
  });

  it('refuses names esptool refuses before any board is involved, and values the chip has not', () => {
    expect(() => checkFlashSettingNames({ size: '5MB' }, { allowKeep: true, allowDetect: true })).toThrow(
      "Invalid value for '--flash-size': '5MB' is not one of 'detect', 'keep', '256KB',",
    );
    expect(() => checkFlashSettingNames({ mode: 'qqq' }, { allowKeep: true })).toThrow(
      "Invalid value for '--flash-mode': 'qqq' is not one of 'keep', 'qio', 'qout', 'dio', 'dout'.",
    );
    expect(() => checkFlashSettingNames({ freq: '33m' }, { allowKeep: false })).toThrow(
      /'--flash-freq': '33m'/,
    );
    expect(() => checkFlashSettingNames({ size: 'detect' }, { allowKeep: true })).toThrow(
      /'detect' is not one of 'keep'/,
    );
    expect(() => checkFlashSettingsForChip(getTarget('esp8266'), { size: '32MB' })).toThrow(
      "Flash size '32MB' is not supported by ESP8266. Supported sizes: 512KB, 256KB, 1MB, 2MB, 4MB, 2MB-c1, 4MB-c1, 8MB, 16MB.",
    );
    expect(() => checkFlashSettingsForChip(getTarget('esp32h2'), { freq: '80m' })).toThrow(
      "Flash frequency '80m' is not supported by ESP32-H2. Supported frequencies: 48m, 24m, 16m, 12m.",
    );
    expect(() =>
      checkFlashSettingsForChip(getTarget('esp32'), { size: 'detect', freq: 'keep' }),
    ).not.toThrow();
  });
});
