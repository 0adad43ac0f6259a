import { afterEach, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEsptoolCli } from './index.js';

const fixture = (name: string) => new URL(`../../../../test/fixtures/${name}`, import.meta.url).pathname;
const same = (a: string, b: string) => Buffer.compare(readFileSync(a), readFileSync(b)) === 0;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runEsptoolCli(argv, {
    openTransport: () => Promise.reject(new Error('image commands must not open a port')),
    stdout: { write: (t) => void (stdout += t) },
    stderr: { write: (t) => void (stderr += t) },
  });
  return { code, stdout, stderr };
}

const dirs: string[] = [];
/** A fresh output directory, removed after the test. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// Goldens: test/fixtures (made by esptool v5.3.1; see test/fixtures/README.md).
describe('image commands on the command line', () => {
  it('elf2image writes the image esptool writes, named as esptool names it', async () => {
    const dir = tempDir('elf2image');
    copyFileSync(fixture('elf2image/esp32-idf-app.elf'), join(dir, 'app.elf'));
    const run = await cli([
      '--chip',
      'esp32',
      'elf2image',
      '--flash-mode',
      'dio',
      '--flash-freq',
      '40m',
      '--flash-size',
      '4MB',
      join(dir, 'app.elf'),
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      'Creating ESP32 image...\nMerged 2 ELF sections.\nSuccessfully created ESP32 image.\n',
    );
    expect(same(join(dir, 'app.bin'), fixture('elf2image/esp32-idf-app.esptool.bin'))).toBe(true);
  });

  it("elf2image for ESP8266 writes the v1 image and the IROM file with esptool's names", async () => {
    const dir = tempDir('elf2image');
    copyFileSync(fixture('elf2image/esp8266-nonos-app.elf'), join(dir, 'app.elf'));
    const run = await cli(['-c', 'esp8266', 'elf2image', '-fm', 'dout', '-fs', '4MB', join(dir, 'app.elf')]);
    expect(run.code).toBe(0);
    expect(
      same(join(dir, 'app.elf-0x00000.bin'), fixture('elf2image/esp8266-nonos-app.esptool-0x00000.bin')),
    ).toBe(true);
    expect(
      same(join(dir, 'app.elf-0x10000.bin'), fixture('elf2image/esp8266-nonos-app.esptool-0x10000.bin')),
    ).toBe(true);
  });

  it('merge-bin writes the raw and Intel HEX files esptool writes (--fill-flash-size is the v4 spelling)', async () => {
    const dir = tempDir('merge-bin');
    const parts = [
      '0x1000',
      fixture('bootloader_esp32.bin'),
      '0x8000',
      fixture('partitions_singleapp.bin'),
      '0x10000',
      fixture('elf2image/esp32-idf-app.esptool.bin'),
    ];
    const raw = await cli([
      '--chip',
      'esp32',
      'merge-bin',
      '-o',
      join(dir, 'm.bin'),
      '--target-offset',
      '0x1000',
      '--fill-flash-size',
      '256KB',
      '-ff',
      '80m',
      '-fm',
      'qio',
      ...parts,
    ]);
    expect(raw.code).toBe(0);
    expect(raw.stdout).toContain(
      `Flash parameters set to 0x001f.\nWrote 0x3f000 bytes to file '${join(dir, 'm.bin')}', ready to flash to offset 0x1000.`,
    );
    expect(raw.stderr).toContain(
      "Deprecated: Option '--fill-flash-size' is deprecated. Use '--pad-to-size' instead.",
    );
    expect(same(join(dir, 'm.bin'), fixture('merge-bin/esp32-from-0x1000-pad-256KB.esptool.bin'))).toBe(true);
    const hex = await cli([
      '--chip',
      'esp32',
      'merge_bin',
      '--format',
      'hex',
      '-o',
      join(dir, 'm.hex'),
      ...parts,
    ]);
    expect(hex.code).toBe(0);
    expect(same(join(dir, 'm.hex'), fixture('merge-bin/esp32-keep.esptool.hex'))).toBe(true);
  });

  it("image-info prints esptool's report, and goes through a merged HEX file part by part", async () => {
    const run = await cli(['image-info', fixture('esp_idf_blink_esp32s2.bin')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(readFileSync(fixture('image-info/esp_idf_blink_esp32s2.txt'), 'utf8'));
    const merged = await cli(['image-info', fixture('merge-bin/esp32-keep.esptool.hex')]);
    expect(merged.code).toBe(0);
    expect(merged.stdout).toContain('Processing file 3/3, offset: 0x10000, size: 79008 bytes');
    expect(merged.stderr).toContain(
      'Error processing file 2/3: This is not a valid image (invalid magic number: 0xaa).',
    );
    const notImage = await cli(['image-info', fixture('partitions_singleapp.bin')]);
    expect(notImage.code).toBe(7);
    expect(notImage.stderr).toBe(
      'A fatal error occurred: This is not a valid image (invalid magic number: 0xaa). (BAD_IMAGE)\n',
    );
  });
});
