import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { getTarget } from '../targets/registry.js';
import { mergeBin } from './merge-bin.js';

const bytes = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url)));
const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

const esp32Parts = () => [
  { offset: 0x1000, data: bytes('bootloader_esp32.bin'), name: 'bootloader_esp32.bin' },
  { offset: 0x8000, data: bytes('partitions_singleapp.bin'), name: 'partitions_singleapp.bin' },
  { offset: 0x10000, data: bytes('elf2image/esp32-idf-app.esptool.bin'), name: 'app.bin' },
];

// Goldens: test/fixtures/merge-bin, made by esptool v5.3.1 (commands in test/fixtures/README.md).
describe('merge-bin', () => {
  it("matches esptool's raw output, with the C3 bootloader header patched and its SHA-256 recomputed", () => {
    const { data, messages } = mergeBin({
      target: getTarget('esp32c3'),
      flash: { mode: 'dio', size: '4MB' },
      parts: [
        { offset: 0, data: bytes('bootloader_esp32c3.bin') },
        { offset: 0x8000, data: bytes('partitions_singleapp.bin') },
        { offset: 0x10000, data: bytes('elf2image/esp32c3-arduino-app.esptool.bin') },
      ],
    });
    expect(same(data, bytes('merge-bin/esp32c3-dio-4MB.esptool.bin'))).toBe(true);
    expect(messages).toEqual(['Flash parameters set to 0x0220.', 'SHA digest in image updated.']);
  });

  it("matches esptool's raw output from a target offset, padded to a flash size", () => {
    const { data } = mergeBin({
      target: getTarget('esp32'),
      flash: { freq: '80m', mode: 'qio' },
      targetOffset: 0x1000,
      padToSize: '256KB',
      parts: esp32Parts(),
    });
    expect(data.length).toBe(256 * 1024 - 0x1000);
    expect(same(data, bytes('merge-bin/esp32-from-0x1000-pad-256KB.esptool.bin'))).toBe(true);
  });

  it("matches esptool's Intel HEX output, and leaves data that is no image alone with its warning", () => {
    expect(
      same(
        mergeBin({ target: getTarget('esp32'), format: 'hex', parts: esp32Parts() }).data,
        bytes('merge-bin/esp32-keep.esptool.hex'),
      ),
    ).toBe(true);
    const small = mergeBin({
      target: getTarget('esp32s2'),
      format: 'hex',
      flash: { size: '2MB' },
      parts: [{ offset: 0x1000, data: bytes('partitions_singleapp.bin') }],
    });
    expect(same(small.data, bytes('merge-bin/esp32s2-small.esptool.hex'))).toBe(true);
    expect(small.messages).toEqual([
      "Warning: Image file at 0x1000 doesn't look like an image file, so not changing any flash settings.",
    ]);
  });

  it('refuses parts sharing a flash sector, parts before the target offset, and no parts', () => {
    const overlapping = [
      { offset: 0x8000, data: new Uint8Array(16), name: 'a.bin' },
      { offset: 0x8800, data: new Uint8Array(16), name: 'b.bin' },
    ];
    expect(() => mergeBin({ target: getTarget('esp32'), parts: overlapping })).toThrow(
      /Detected overlap at address: 0x8800 for file: b\.bin/,
    );
    expect(() => mergeBin({ target: getTarget('esp32'), targetOffset: 0x2000, parts: esp32Parts() })).toThrow(
      'Output data target offset is 0x2000. Input data offset 0x1000 is before this.',
    );
    expect(() => mergeBin({ target: getTarget('esp32'), parts: [] })).toThrow('No input data.');
  });

  it('refuses a flash setting the chip does not have, naming the chip', () => {
    expect(() =>
      mergeBin({ target: getTarget('esp32'), flash: { freq: '60m' }, parts: esp32Parts() }),
    ).toThrow("Flash frequency '60m' is not supported by ESP32. Supported frequencies: 80m, 40m, 26m, 20m.");
  });
});
