import { describe, expect, it } from '@jest/globals';
import { parseFlasherArgs, unsafePathReason } from './flasher-args.js';
import { ImageError } from './problems.js';

// The shape ESP-IDF v5 writes to build/flasher_args.json.
const IDF_ARGS = {
  write_flash_args: ['--flash_mode', 'dio', '--flash_size', '2MB', '--flash_freq', '80m'],
  flash_settings: { flash_mode: 'dio', flash_size: '2MB', flash_freq: '80m' },
  flash_files: {
    '0x1000': 'bootloader/bootloader.bin',
    '0x10000': 'blink.bin',
    '0x8000': 'partition_table/partition-table.bin',
  },
  bootloader: { offset: '0x1000', file: 'bootloader/bootloader.bin', encrypted: 'false' },
  extra_esptool_args: { after: 'hard_reset', before: 'default_reset', stub: true, chip: 'esp32s2' },
};

function problemsOf(input: unknown): string[] {
  try {
    parseFlasherArgs(input);
  } catch (err) {
    if (err instanceof ImageError) return err.problems.map((p) => `${p.code}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('parseFlasherArgs', () => {
  it('reads files in offset order, the chip and the flash settings', () => {
    expect(parseFlasherArgs(JSON.stringify(IDF_ARGS))).toEqual({
      chip: 'esp32s2',
      flashSettings: { mode: 'dio', size: '2MB', freq: '80m' },
      files: [
        { offset: 0x1000, path: 'bootloader/bootloader.bin' },
        { offset: 0x8000, path: 'partition_table/partition-table.bin' },
        { offset: 0x10000, path: 'blink.bin' },
      ],
    });
  });

  it.each([
    ['../../etc/passwd', 'it contains a ".." segment'],
    ['bootloader/../../x.bin', 'it contains a ".." segment'],
    ['/etc/passwd', 'it is absolute'],
    ['C:/Windows/x.bin', 'it contains ":" (drive letter or URL)'],
    ['..\\..\\x.bin', 'it contains a backslash (Windows separators could escape the build directory)'],
    [
      'bootloader\\bootloader.bin',
      'it contains a backslash (Windows separators could escape the build directory)',
    ],
    ['a//b.bin', 'it contains an empty or "." segment'],
    ['./a.bin', 'it contains an empty or "." segment'],
    ['a.bin\u0000.txt', 'it contains control characters'],
    ['file:///etc/passwd', 'it contains ":" (drive letter or URL)'],
    ['~/x.bin', 'it starts with "~"'],
    ['', 'it is empty'],
  ])('rejects the path %j', (path, reason) => {
    expect(unsafePathReason(path)).toBe(reason);
    const args = { ...IDF_ARGS, flash_files: { '0x10000': path } };
    expect(problemsOf(args)).toEqual([
      `UNSAFE_PATH: flash_files["0x10000"] path "${path}" is refused: ${reason}.`,
    ]);
  });

  it('accepts ordinary relative paths', () => {
    expect(unsafePathReason('partition_table/partition-table.bin')).toBeUndefined();
    expect(unsafePathReason('ota_data_initial.bin')).toBeUndefined();
  });

  it('reports bad JSON, missing files, bad offsets and unknown chips', () => {
    expect(problemsOf('{nope')).toEqual([
      expect.stringMatching(/^BAD_FLASHER_ARGS: flasher_args.json is not valid JSON/),
    ]);
    expect(problemsOf([])).toEqual(['BAD_FLASHER_ARGS: flasher_args.json must be a JSON object.']);
    expect(problemsOf({ flash_files: {} })).toEqual([
      'BAD_FLASHER_ARGS: flasher_args.json has no "flash_files" map of offset to file.',
    ]);
    expect(problemsOf({ flash_files: { boot: 'a.bin', '0x10000': 5 } })).toEqual([
      'BAD_FLASHER_ARGS: flash_files key "boot" is not an offset like "0x10000".',
      'BAD_FLASHER_ARGS: flash_files["0x10000"] must be a file path string.',
    ]);
    expect(problemsOf({ flash_files: { '4096': 'a.bin', '0x1000': 'b.bin' } })).toEqual([
      'BAD_FLASHER_ARGS: Two files at 0x1000: a.bin and b.bin.',
    ]);
    expect(problemsOf({ ...IDF_ARGS, extra_esptool_args: { chip: 'esp8285x' } })).toEqual([
      'CHIP_UNKNOWN: extra_esptool_args.chip "esp8285x" is not a supported chip.',
    ]);
  });
});
