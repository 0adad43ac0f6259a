import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { sha256 } from './digest.js';
import { checkImageForChip, parseImage } from './parser.js';
import { ImageError } from './problems.js';
import { buildAppImage, buildBootloaderImage, buildImage } from './writer.js';
import { CHIP_TARGETS } from '../targets/registry.js';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../../test/fixtures/${name}`, import.meta.url)));

function problemOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ImageError) return `${err.problem}: ${err.message}`;
    throw err;
  }
  throw new Error('expected an ImageError');
}

describe('parseImage on real ESP-IDF images', () => {
  it('reads the ESP32 bootloader (old IDF: zero extended header, no digest)', () => {
    const img = parseImage(fixture('bootloader_esp32.bin'));
    expect(img).toMatchObject({
      chip: 'esp32',
      format: 'esp32',
      kind: 'bootloader',
      flashMode: 'dio',
      flashSize: '2MB',
      flashFreq: '40m',
    });
    expect(img.segments.map((s) => s.loadAddress)).toEqual([0x3ffc0000, 0x3ffc0000, 0x40078000, 0x40098000]);
    expect(img.checksum).toEqual({ offset: 7887, stored: 0x83, computed: 0x83, valid: true });
    expect(img.sha256).toBeUndefined();
    expect(img.length).toBe(7888);
    expect(img.warnings).toEqual([]);
  });

  it('reads the ESP32-C3 bootloader and verifies its SHA-256', () => {
    const img = parseImage(fixture('bootloader_esp32c3.bin'));
    expect(img).toMatchObject({ chip: 'esp32c3', kind: 'bootloader', trailingBytes: 0 });
    expect(img.extended).toMatchObject({ chipId: 5, wpPin: 0xee, hashAppended: true });
    expect(img.sha256?.valid).toBe(true);
    expect(img.sha256?.stored).toBe('4faeab1bd3fd6a7d4adfa0fd38f41bfc67a8c3c0a9d6d882b65580da2e5e6347');
  });

  it('reads the ESP32-S2 blink app and its app descriptor', () => {
    const img = parseImage(fixture('esp_idf_blink_esp32s2.bin'));
    expect(img).toMatchObject({ chip: 'esp32s2', kind: 'app', segmentCount: 6, flashFreq: '80m' });
    expect(img.segments[0]).toMatchObject({ loadAddress: 0x3f000020, region: 'DROM' });
    expect(img.appDescriptor).toMatchObject({
      projectName: 'blink',
      version: 'qa-test-v5.0-20220830-4-g4532e6',
      idfVersion: 'v5.0-beta1-427-g4532e6e0b2-dirt',
      compileDate: 'Sep 13 2022',
      compileTime: '19:46:07',
      secureVersion: 0,
    });
  });

  it('refuses an image for another chip and a board revision below the minimum', () => {
    expect(
      problemOf(() => parseImage(fixture('esp_idf_blink_esp32s2.bin'), { chip: 'esp32s3', name: 'app.bin' })),
    ).toBe('CHIP_MISMATCH: app.bin is an ESP32-S2 image, but the target chip is ESP32-S3.');
    const img = parseImage(buildAppImage({ chip: 'esp32c3', projectName: 'p', version: '1' }));
    expect(() => checkImageForChip(img, 'esp32c3', { revisionFull: 3 })).not.toThrow();
    expect(problemOf(() => checkImageForChip(img, 'esp32', {}))).toMatch(
      /^CHIP_MISMATCH: image is an ESP32-C3 image, but the board is ESP32/,
    );
    const strict = parseImage(
      buildImage({
        chip: 'esp32c3',
        minRevFull: 3,
        segments: [{ loadAddress: 0x3fc80000, data: new Uint8Array(4) }],
      }),
    );
    expect(problemOf(() => checkImageForChip(strict, 'esp32c3', { revisionFull: 2 }))).toMatch(
      /REVISION_MISMATCH: .*v0.3 or newer; the board is v0.2/,
    );
  });
});

describe('parseImage on corrupted images', () => {
  const good = () => fixture('bootloader_esp32c3.bin');

  it('names a wrong magic byte', () => {
    const bad = good();
    bad[0] = 0x7f;
    expect(problemOf(() => parseImage(bad, { name: 'fw.bin' }))).toBe(
      'NOT_AN_IMAGE: fw.bin is not an ESP firmware image: it starts with 0x7f, not the image magic 0xe9.',
    );
    expect(problemOf(() => parseImage(new Uint8Array(0)))).toMatch(/^NOT_AN_IMAGE: image is empty/);
    const v2 = good();
    v2[0] = 0xea;
    expect(problemOf(() => parseImage(v2))).toMatch(/^UNSUPPORTED_FORMAT/);
  });

  it('names a bad checksum with both values', () => {
    const bad = good();
    bad[bad.length - 33] ^= 0xff; // the checksum byte sits just before the 32-byte digest
    expect(problemOf(() => parseImage(bad))).toMatch(
      /^BAD_CHECKSUM: image has a bad checksum: stored 0x88 at offset 0x452f, computed 0x77/,
    );
    const lenient = parseImage(bad, { verify: false });
    expect(lenient.checksum.valid).toBe(false);
  });

  it('names a bad SHA-256 when only the header changed', () => {
    const bad = good();
    bad[2] = 3; // flash mode: not covered by the checksum, only by the digest
    expect(problemOf(() => parseImage(bad))).toMatch(
      /^BAD_SHA256: image has a bad appended SHA-256 \(offset 0x4530\)/,
    );
  });

  it('names a truncated segment and a missing digest', () => {
    expect(problemOf(() => parseImage(good().subarray(0, 9000)))).toMatch(
      /^TRUNCATED: image segment 2 \(load 0x403c0000, 3556 bytes at offset 0x18a0\) runs past the end of the file \(9000 bytes\)/,
    );
    expect(problemOf(() => parseImage(good().subarray(0, 17712 + 10)))).toMatch(
      /^TRUNCATED: .*appended SHA-256/,
    );
    expect(problemOf(() => parseImage(good().subarray(0, 20)))).toMatch(/^TRUNCATED: .*24-byte/);
  });

  it('refuses too many segments, odd lengths, a bad hash flag and unknown chips', () => {
    const many = good();
    many[1] = 17;
    expect(problemOf(() => parseImage(many))).toBe(
      'TOO_MANY_SEGMENTS: image declares 17 segments; the ROM loads at most 16.',
    );
    const odd = good();
    new DataView(odd.buffer).setUint32(28, 21, true);
    expect(problemOf(() => parseImage(odd))).toMatch(/^BAD_SEGMENT: .*segment 0 .* not a multiple of 4/);
    const flag = good();
    flag[23] = 0x31;
    expect(problemOf(() => parseImage(flag))).toMatch(/^BAD_EXTENDED_HEADER: .*hash_appended = 49/);
    const retired = good();
    retired[12] = 7;
    expect(problemOf(() => parseImage(retired))).toMatch(/^UNKNOWN_CHIP: .*ESP32-C6 beta/);
    retired[12] = 99;
    expect(problemOf(() => parseImage(retired))).toMatch(/^UNKNOWN_CHIP: .*chip id 99/);
  });

  it('maps problems to flash error classes', () => {
    const err = (() => {
      try {
        parseImage(fixture('esp_idf_blink_esp32s2.bin'), { chip: 'esp32' });
      } catch (e) {
        return e as ImageError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('CHIP_MISMATCH');
    expect(err?.stage).toBe('image');
  });
});

describe('writer round-trips through the parser', () => {
  it.each(CHIP_TARGETS.map((t) => t.name))('builds a valid app and bootloader for %s', (chip) => {
    const app = parseImage(
      buildAppImage({ chip, projectName: 'farm-demo', version: '2.4.1', idfVersion: 'v5.3.1', seed: 9 }),
      { chip },
    );
    expect(app.kind).toBe('app');
    expect(app.chip).toBe(chip);
    expect(app.warnings).toEqual([]);
    expect(app.appDescriptor).toMatchObject({
      projectName: 'farm-demo',
      version: '2.4.1',
      idfVersion: 'v5.3.1',
    });
    expect(app.sha256?.valid ?? chip === 'esp8266').toBe(true);
    const boot = parseImage(buildBootloaderImage({ chip }), { chip });
    expect(boot.kind).toBe('bootloader');
    expect(boot.warnings).toEqual([]);
  });

  it('recognises ESP8266 v1 images without a chip hint, and refuses them for ESP32-family chips', () => {
    const app = buildAppImage({ chip: 'esp8266', projectName: 'nodemcu', version: '3.0' });
    const img = parseImage(app);
    expect(img).toMatchObject({ chip: 'esp8266', format: 'esp8266-v1', kind: 'app', flashSize: '4MB' });
    expect(img.extended).toBeUndefined();
    expect(img.appDescriptor?.projectName).toBe('nodemcu');
    expect(problemOf(() => parseImage(app, { chip: 'esp32', name: 'fw.bin' }))).toBe(
      'CHIP_MISMATCH: fw.bin is an ESP8266 image (no extended header), but the target chip is ESP32.',
    );
    expect(parseImage(buildBootloaderImage({ chip: 'esp8266' })).kind).toBe('bootloader');
  });

  it('keeps flash-mapped segments on their 64 KiB page offset', () => {
    for (const t of CHIP_TARGETS.filter((c) => c.name !== 'esp8266')) {
      const img = parseImage(
        buildAppImage({ chip: t.name, projectName: 'p', version: '1', payloadBytes: 4000 }),
      );
      for (const s of img.segments.filter((x) => x.region === 'IROM' || x.region === 'DROM'))
        expect((s.loadAddress - s.dataOffset) % 0x10000).toBe(0);
    }
  });

  it('describes built bootloaders with an esp_bootloader_desc_t; the older fixtures have none', () => {
    const boot = parseImage(buildBootloaderImage({ chip: 'esp32c6', idfVersion: 'v5.4' }));
    expect(boot.bootloaderDescriptor).toEqual({
      version: 1,
      secureVersion: 0,
      idfVersion: 'v5.4',
      dateTime: 'Jan  1 2026 12:00:00',
    });
    expect(parseImage(fixture('bootloader_esp32c3.bin')).bootloaderDescriptor).toBeUndefined();
    expect(parseImage(fixture('bootloader_esp32.bin')).bootloaderDescriptor).toBeUndefined();
  });

  it('is deterministic for a seed and grows with the payload', () => {
    const a = buildAppImage({
      chip: 'esp32s3',
      projectName: 'p',
      version: '1',
      seed: 5,
      payloadBytes: 300_000,
    });
    const b = buildAppImage({
      chip: 'esp32s3',
      projectName: 'p',
      version: '1',
      seed: 5,
      payloadBytes: 300_000,
    });
    expect(Buffer.compare(Buffer.from(sha256(a)), Buffer.from(sha256(b)))).toBe(0);
    expect(a.length).toBeGreaterThan(300_000);
    expect(parseImage(a).kind).toBe('app');
  });

  it('refuses a project name that does not fit esp_app_desc_t', () => {
    expect(() => buildAppImage({ chip: 'esp32', projectName: 'x'.repeat(32), version: '1' })).toThrow(
      /at most 31 fit/,
    );
  });
});

describe('parser robustness', () => {
  it('throws only ImageError on randomly corrupted and truncated images', () => {
    const sources = [
      fixture('bootloader_esp32c3.bin'),
      fixture('bootloader_esp32.bin'),
      buildAppImage({ chip: 'esp8266', projectName: 'p', version: '1' }),
    ];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    let rejected = 0;
    for (let round = 0; round < 300; round++) {
      const source = sources[round % sources.length];
      const bad = source.slice(0, rand(4) === 0 ? rand(source.length) : source.length);
      // Corrupt the header area most of the time: that is where the parser makes decisions.
      for (let k = 0, n = 1 + rand(4); k < n && bad.length > 0; k++)
        bad[rand(4) === 0 ? rand(bad.length) : rand(Math.min(64, bad.length))] = rand(256);
      try {
        parseImage(bad);
      } catch (err) {
        expect(err).toBeInstanceOf(ImageError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});
