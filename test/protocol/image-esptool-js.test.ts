// Cross-checks the image writer against an independent implementation: esptool-js's own image loader.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { loadFirmwareImage } from 'esptool-js/lib/image/index.js';
import { ESP32ROM } from 'esptool-js/lib/targets/esp32.js';
import { ESP32C2ROM } from 'esptool-js/lib/targets/esp32c2.js';
import { ESP32C3ROM } from 'esptool-js/lib/targets/esp32c3.js';
import { ESP32C6ROM } from 'esptool-js/lib/targets/esp32c6.js';
import { ESP32H2ROM } from 'esptool-js/lib/targets/esp32h2.js';
import { ESP32P4ROM } from 'esptool-js/lib/targets/esp32p4.js';
import { ESP32S2ROM } from 'esptool-js/lib/targets/esp32s2.js';
import { ESP32S3ROM } from 'esptool-js/lib/targets/esp32s3.js';
import { ESP8266ROM } from 'esptool-js/lib/targets/esp8266.js';
import type { ROM } from 'esptool-js';
import { buildAppImage, buildBootloaderImage, getTarget, parseImage, type ChipName } from '#esp';

const ROMS: Array<[ChipName, () => ROM]> = [
  ['esp8266', () => new ESP8266ROM()],
  ['esp32', () => new ESP32ROM()],
  ['esp32s2', () => new ESP32S2ROM()],
  ['esp32s3', () => new ESP32S3ROM()],
  ['esp32c2', () => new ESP32C2ROM()],
  ['esp32c3', () => new ESP32C3ROM()],
  ['esp32c6', () => new ESP32C6ROM()],
  ['esp32h2', () => new ESP32H2ROM()],
  ['esp32p4', () => new ESP32P4ROM()],
];

/** The fields of esptool-js's loaded image this test reads (its classes are not exported as types). */
interface LoadedImage {
  segments: Array<{ addr: number; data: Uint8Array }>;
  checksum: number;
  calculateChecksum(): number;
  chipId?: number;
}

describe('images from the writer, read by esptool-js', () => {
  // esptool-js warns about every segment outside its ESP8266-era address window.
  beforeAll(() => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterAll(() => {
    jest.restoreAllMocks();
  });

  it.each(ROMS)(
    '%s app and bootloader load with matching segments, checksum and chip id',
    async (chip, makeRom) => {
      const rom = makeRom();
      expect(rom.CHIP_NAME).toBe(getTarget(chip).displayName);
      for (const data of [
        buildAppImage({ chip, projectName: 'crosscheck', version: '1.0', payloadBytes: 20_000 }),
        buildBootloaderImage({ chip }),
      ]) {
        const ours = parseImage(data, { chip });
        const theirs = (await loadFirmwareImage(rom, data)) as unknown as LoadedImage;
        expect(theirs.segments.map((s) => [s.addr, s.data.length])).toEqual(
          ours.segments.map((s) => [s.loadAddress, s.length]),
        );
        expect(theirs.checksum).toBe(ours.checksum.stored);
        expect(theirs.calculateChecksum()).toBe(ours.checksum.stored);
        if (chip !== 'esp8266') expect(theirs.chipId).toBe(getTarget(chip).imageChipId);
      }
    },
  );
});
