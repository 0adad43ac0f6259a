import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { patchBootloaderHeader } from './patch.js';
import { parseImage } from './parser.js';
import { buildAppImage, buildBootloaderImage } from './writer.js';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url)));

describe('patchBootloaderHeader', () => {
  it('rewrites mode, size and frequency and refreshes the SHA-256 of the C3 bootloader', () => {
    const original = fixture('bootloader_esp32c3.bin');
    const { data, changed, sha256Updated } = patchBootloaderHeader(original, 'esp32c3', {
      mode: 'qio',
      size: '8MB',
      freq: '80m',
    });
    expect({ changed, sha256Updated }).toEqual({ changed: true, sha256Updated: true });
    expect(Array.from(data.subarray(2, 4))).toEqual([0x00, 0x3f]);
    const img = parseImage(data);
    expect(img).toMatchObject({ flashMode: 'qio', flashSize: '8MB', flashFreq: '80m' });
    expect(img.sha256?.valid).toBe(true);
    // Only the two header bytes and the 32 digest bytes differ.
    const diff = Array.from(data.keys()).filter((i) => data[i] !== original[i]);
    expect(diff.filter((i) => i < img.sha256!.offset)).toEqual([2, 3]);
    expect(diff.every((i) => i < 4 || (i >= img.sha256!.offset && i < img.sha256!.offset + 32))).toBe(true);
    // The input is left alone.
    expect(original[2]).toBe(0x02);
  });

  it("keeps fields set to 'keep' and returns the input when nothing changes", () => {
    const original = fixture('bootloader_esp32c3.bin');
    const sizeOnly = patchBootloaderHeader(original, 'esp32c3', {
      mode: 'keep',
      size: '4MB',
      freq: 'keep',
    }).data;
    expect(Array.from(sizeOnly.subarray(2, 4))).toEqual([0x02, 0x20]);
    expect(patchBootloaderHeader(original, 'esp32c3', { mode: 'keep' })).toEqual({
      data: original,
      changed: false,
      sha256Updated: false,
    });
    expect(
      patchBootloaderHeader(original, 'esp32c3', { mode: 'dio', size: '2MB', freq: '40m' }).changed,
    ).toBe(false);
  });

  it('preserves bytes after the digest, as in a merged binary', () => {
    const boot = buildBootloaderImage({ chip: 'esp32s3' });
    const merged = new Uint8Array(boot.length + 100).fill(0xab);
    merged.set(boot);
    const { data } = patchBootloaderHeader(merged, 'esp32s3', { freq: '20m' });
    expect(data.length).toBe(merged.length);
    expect(data.subarray(boot.length).every((b) => b === 0xab)).toBe(true);
    expect(parseImage(data).sha256?.valid).toBe(true);
  });

  it('patches an image without a digest (old ESP32 bootloader) without appending one', () => {
    const original = fixture('bootloader_esp32.bin');
    const { data, sha256Updated } = patchBootloaderHeader(original, 'esp32', { mode: 'dout' });
    expect(sha256Updated).toBe(false);
    expect(data.length).toBe(original.length);
    expect(parseImage(data).flashMode).toBe('dout');
  });

  it('refuses data that is not a valid bootloader, and values the chip does not have', () => {
    const corrupt = fixture('bootloader_esp32c3.bin');
    corrupt[100] ^= 0xff;
    expect(() => patchBootloaderHeader(corrupt, 'esp32c3', { mode: 'qio' })).toThrow(
      /not a valid bootloader image \(bootloader has a bad checksum/,
    );
    expect(() => patchBootloaderHeader(new Uint8Array(64), 'esp32c3', { mode: 'qio' })).toThrow(
      /not a valid bootloader image/,
    );
    const app = buildAppImage({ chip: 'esp32c3', projectName: 'p', version: '1' });
    expect(() => patchBootloaderHeader(app, 'esp32c3', { mode: 'qio' })).toThrow(
      /is an application, not a bootloader/,
    );
    expect(() => patchBootloaderHeader(fixture('bootloader_esp32.bin'), 'esp32c3', { mode: 'qio' })).toThrow(
      /ESP32 image, but the target chip is ESP32-C3/,
    );
    expect(() =>
      patchBootloaderHeader(fixture('bootloader_esp32c3.bin'), 'esp32c3', { size: '64MB' }),
    ).toThrow(/Flash size "64MB" is not valid for ESP32-C3/);
    expect(() =>
      patchBootloaderHeader(fixture('bootloader_esp32c3.bin'), 'esp32c3', { freq: '48m' }),
    ).toThrow(/Flash frequency "48m"/);
  });
});
