import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parseElf } from './elf.js';
import { elf2image, type Elf2ImageOptions } from './elf2image.js';
import { parseImage } from './parser.js';

const bytes = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../../test/fixtures/elf2image/${name}`, import.meta.url)));
const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

// Inputs and goldens: test/fixtures/elf2image (hand-built ELFs and one real one; goldens made by esptool v5.3.1).
const cases: Array<[elf: string, options: Elf2ImageOptions, golden: string, notes: string[]]> = [
  [
    'esp32-idf-app.elf',
    { chip: 'esp32', flashMode: 'dio', flashFreq: '40m', flashSize: '4MB' },
    'esp32-idf-app.esptool.bin',
    ['Merged 2 ELF sections.'],
  ],
  [
    'esp32-idf-app.elf',
    { chip: 'esp32', useSegments: true, appendDigest: false },
    'esp32-idf-app-segments.esptool.bin',
    ['Merged 2 ELF sections.'],
  ],
  [
    'esp32s3-idf-app.elf',
    { chip: 'esp32s3', flashMode: 'dio', flashSize: '8MB' },
    'esp32s3-idf-app.esptool.bin',
    ['Merged 2 ELF sections.'],
  ],
  [
    'esp32c3-arduino-app.elf',
    { chip: 'esp32c3' },
    'esp32c3-arduino-app.esptool.bin',
    ['Merged 1 ELF section.'],
  ],
  [
    'esp32-idf-bootloader.elf',
    { chip: 'esp32', flashMode: 'dio', flashSize: '2MB', minRevFull: 100, maxRevFull: 399 },
    'esp32-idf-bootloader.esptool.bin',
    ['Merged 1 ELF section.'],
  ],
  [
    'esp32c6-appdesc.elf',
    { chip: 'esp32c6' },
    'esp32c6-appdesc.esptool.bin',
    ['MMU page size not specified, set to 64 KB'],
  ],
];

describe('elf2image', () => {
  for (const [elf, options, golden, notes] of cases) {
    it(`makes esptool's ${golden} from ${elf}, byte for byte`, () => {
      const result = elf2image(bytes(elf), options);
      expect(same(result.image, bytes(golden))).toBe(true);
      expect(result.notes).toEqual(expect.arrayContaining(notes));
      expect(result.irom).toBeUndefined();
    });
  }

  it('makes the ESP8266 v1 image and the separate IROM file esptool makes', () => {
    const result = elf2image(bytes('esp8266-nonos-app.elf'), {
      chip: 'esp8266',
      flashMode: 'dout',
      flashSize: '4MB',
    });
    expect(same(result.image, bytes('esp8266-nonos-app.esptool-0x00000.bin'))).toBe(true);
    expect(result.irom?.offset).toBe(0x10000);
    expect(same(result.irom!.data, bytes('esp8266-nonos-app.esptool-0x10000.bin'))).toBe(true);
  });

  it('fills the app descriptor with the ELF SHA-256 and appends the image SHA-256', () => {
    const elf = bytes('esp32-idf-app.elf');
    const image = parseImage(elf2image(elf, { chip: 'esp32' }).image);
    expect(image.sha256?.valid).toBe(true);
    expect(image.appDescriptor?.elfSha256).toBe(Buffer.from(parseElf(elf).sha256).toString('hex'));
    expect(image.appDescriptor?.projectName).toBe('fixture-esp32');
    // Flash-mapped segments keep file offset ≡ load address (mod 64 KiB).
    for (const s of image.segments.filter((x) => x.region === 'IROM' || x.region === 'DROM'))
      expect(s.dataOffset % 0x10000).toBe(s.loadAddress % 0x10000);
  });

  it('refuses what is no ELF or not for an ESP chip, and flash settings the chip lacks', () => {
    expect(() => elf2image(new Uint8Array(64), { chip: 'esp32', name: 'x.elf' })).toThrow(
      "'x.elf' has invalid ELF magic header.",
    );
    const arm = bytes('esp32-idf-app.elf').slice();
    arm[18] = 0x28;
    expect(() => elf2image(arm, { chip: 'esp32', name: 'arm.elf' })).toThrow(
      "'arm.elf' does not appear to be an Xtensa or an RISCV ELF image. (e_machine = 0x0028)",
    );
    expect(() => elf2image(bytes('esp32-idf-app.elf'), { chip: 'esp32', flashSize: '256KB' })).toThrow(
      "Flash size '256KB' is not supported by ESP32.",
    );
    expect(() => elf2image(bytes('esp32c6-appdesc.elf'), { chip: 'esp32c6', mmuPageSize: 4096 })).toThrow(
      '4096 bytes is not a valid ESP32-C6 page size, select from 8KB, 16KB, 32KB, 64KB.',
    );
  });

  it('refuses two flash sections in one MMU page, as the ROM could not map them', () => {
    // The S3 app with .flash.text moved into the DROM page of .flash.appdesc (esptool refuses it the same way).
    const elf = bytes('esp32s3-idf-app.elf').slice();
    const parsed = parseElf(elf);
    const text = parsed.sections.find((s) => s.name === '.flash.text')!;
    const view = new DataView(elf.buffer);
    const shoff = view.getUint32(32, true);
    const shnum = view.getUint16(48, true);
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * 40;
      if (view.getUint32(at + 12, true) === text.address) view.setUint32(at + 12, 0x3c008000, true);
    }
    expect(() => elf2image(elf, { chip: 'esp32s3' })).toThrow(
      /Segment loaded at 0x3c008000 lands in same 64 KB flash mapping as segment loaded at 0x3c000020/,
    );
  });
});
