import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import type { ChipName } from '../targets/types.js';
import { detectImageChip, formatImageInfo, formatMergedImageInfo } from './image-info.js';
import { decodeIntelHex } from './intel-hex.js';

const path = (name: string) => new URL(`../../../../test/fixtures/${name}`, import.meta.url);
const bytes = (name: string) => new Uint8Array(readFileSync(path(name)));
const text = (name: string) => readFileSync(path(name), 'utf8');

/** The "image-info facts" table of test/fixtures/README.md, one object per row. */
function readmeFacts(): Array<Record<string, string>> {
  const readme = text('README.md');
  const lines = readme.slice(readme.indexOf('## image-info facts')).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  const rows = lines.slice(start, end).map((l) =>
    l
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim().replace(/^`|`$/g, '')),
  );
  const [header, , ...body] = rows;
  return body.map((cells) => Object.fromEntries(header.map((h, i) => [h, cells[i]])));
}

describe('image-info', () => {
  const facts = readmeFacts();

  it('reads the facts table of the fixtures README', () => {
    expect(facts.length).toBe(8);
  });

  for (const row of readmeFacts()) {
    it(`reports what the fixtures README says of ${row.image}`, () => {
      const lines = formatImageInfo(bytes(row.image));
      expect(lines).toContain(`Detected image type: ${row.chip}`);
      expect(lines).toContain(`Entry point: ${row.entry}`);
      expect(lines).toContain(`Segments: ${row.segments}`);
      const [size, freq, mode] = row.flash.split(' ');
      expect(lines).toEqual(
        expect.arrayContaining([`Flash size: ${size}`, `Flash freq: ${freq}`, `Flash mode: ${mode}`]),
      );
      expect(lines).toContain(`Checksum: ${row.checksum} (valid)`);
      if (row['validation hash'] === 'none')
        expect(lines.some((l) => l.startsWith('Validation hash'))).toBe(false);
      else expect(lines).toContain(`Validation hash: ${row['validation hash']} (valid)`);
      const described = row['described as'];
      if (described.startsWith('app ')) expect(lines).toContain(`Project name: ${described.slice(4)}`);
      else if (described.startsWith('bootloader '))
        expect(lines).toContain(`Bootloader version: ${described.slice(11)}`);
      else
        expect(lines.some((l) => l === 'Application Information' || l === 'Bootloader Information')).toBe(
          false,
        );
    });
  }

  const goldens: Array<[report: string, image: string, chip?: ChipName]> = [
    ['bootloader_esp32.txt', 'bootloader_esp32.bin'],
    ['bootloader_esp32c3.txt', 'bootloader_esp32c3.bin'],
    ['bootloader_esp8266.txt', 'bootloader_esp8266.bin'],
    ['esp_idf_blink_esp32s2.txt', 'esp_idf_blink_esp32s2.bin'],
    ['esp_idf_blink_esp32s2.as-esp32c3.txt', 'esp_idf_blink_esp32s2.bin', 'esp32c3'],
    ['esp32-idf-app.esptool.txt', 'elf2image/esp32-idf-app.esptool.bin'],
    ['esp32c3-arduino-app.esptool.txt', 'elf2image/esp32c3-arduino-app.esptool.bin'],
    ['esp32-idf-bootloader.esptool.txt', 'elf2image/esp32-idf-bootloader.esptool.bin'],
    ['esp8266-nonos-app.esptool-0x00000.txt', 'elf2image/esp8266-nonos-app.esptool-0x00000.bin'],
    ['esp32c6-appdesc.esptool.txt', 'elf2image/esp32c6-appdesc.esptool.bin'],
  ];
  for (const [report, image, chip] of goldens) {
    it(`prints esptool v5.3.1's report for ${image}${chip ? ` as ${chip}` : ''}, line for line`, () => {
      expect(formatImageInfo(bytes(image), { chip })).toEqual(
        text(`image-info/${report}`).replace(/\n$/, '').split('\n'),
      );
    });
  }

  it('reports a bad checksum and digest instead of stopping, as esptool does', () => {
    const image = bytes('bootloader_esp32c3.bin');
    image[0x40] ^= 0x01;
    const lines = formatImageInfo(image);
    expect(lines).toContain('Checksum: 0x77 (invalid - calculated 0x76)');
    expect(lines.find((l) => l.startsWith('Validation hash'))).toMatch(/\(invalid\)$/);
  });

  it('refuses data without the image magic and segments running past the end', () => {
    expect(() => formatImageInfo(bytes('partitions_singleapp.bin'))).toThrow(
      'This is not a valid image (invalid magic number: 0xaa).',
    );
    expect(() => detectImageChip(new Uint8Array(0))).toThrow('Image is empty.');
    expect(() => formatImageInfo(bytes('bootloader_esp32c3.bin').subarray(0, 1000))).toThrow(
      /End of file reading segment 0x3fcd6114, length 6244 \(actual length 940\)/,
    );
  });

  it('goes through a merged HEX file part by part, skipping what is no image', () => {
    const regions = decodeIntelHex(text('merge-bin/esp32-keep.esptool.hex'));
    const { lines, errors } = formatMergedImageInfo(regions);
    expect(lines[0]).toBe('Merged binary image detected. Processing each file individually.');
    expect(lines).toContain('Processing file 1/3, offset: 0x1000, size: 7888 bytes');
    expect(lines).toContain('Detected image type: ESP32');
    expect(lines).toContain('Project name: fixture-esp32');
    expect(errors).toEqual([
      'Error processing file 2/3: This is not a valid image (invalid magic number: 0xaa).',
      'Probably not a valid firmware image (e.g. partition table).',
    ]);
  });
});
