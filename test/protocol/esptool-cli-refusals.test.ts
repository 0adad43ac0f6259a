/**
 * What the esptool-compatible commands refuse, as esptool refuses it: a
 * non-zero exit with the error class's code, one message (printed once)
 * naming what is wrong — chips by name — and what to do; before opening the
 * port whenever the arguments alone show it, and before touching flash
 * otherwise.
 */
import { describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../support/scratch.js';
import { type CliRun, esptoolLab, type Link, occurrences } from './support/esptool-cli.js';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

/** The run failed with `code`, printed one fatal error matching `message`, and nothing else went wrong twice. */
function expectRefusal(run: CliRun, code: number, message: RegExp): void {
  expect(run.code).toBe(code);
  expect(occurrences(run.stderr, 'A fatal error occurred')).toBe(1);
  const line = run.stderr.split('\n').find((l) => l.startsWith('A fatal error occurred'))!;
  expect(line).toMatch(message);
  // The message itself appears once: not repeated by the session log.
  const core = line.replace('A fatal error occurred: ', '').replace(/ \([A-Z_]+\)$/, '');
  expect(occurrences(run.stderr + run.stdout, core)).toBe(1);
}

function tempFile(name: string, data: Uint8Array): string {
  // Under the run's scratch root, which the global teardown removes.
  const path = join(scratchDir('esptool-refusal'), name);
  writeFileSync(path, data);
  return path;
}

describe('refused before the port is opened', () => {
  const lab = esptoolLab('in-process');
  const boot = fixture('bootloader_esp32.bin');

  it('an invalid --flash-size (5MB), as esptool refuses it', async () => {
    const run = await lab.run(['-p', 'sim://none', 'write-flash', '--flash-size', '5MB', '0x1000', boot]);
    expectRefusal(run, 2, /Invalid value for '--flash-size': '5MB' is not one of 'detect', 'keep', '256KB'/);
    expect(run.opened).toEqual([]);
  });

  it('an invalid --flash-mode (qqq)', async () => {
    const run = await lab.run(['-p', 'sim://none', 'write_flash', '--flash_mode', 'qqq', '0x1000', boot]);
    expectRefusal(
      run,
      2,
      /Invalid value for '--flash-mode': 'qqq' is not one of 'keep', 'qio', 'qout', 'dio', 'dout'/,
    );
    expect(run.opened).toEqual([]);
  });

  it('a flash frequency the --chip does not have, naming the chip', async () => {
    const run = await lab.run([
      '-p',
      'sim://none',
      '--chip',
      'esp32',
      'write-flash',
      '-ff',
      '60m',
      '0x1000',
      boot,
    ]);
    expectRefusal(
      run,
      2,
      /Flash frequency '60m' is not supported by ESP32\. Supported frequencies: 80m, 40m, 26m, 20m/,
    );
    expect(run.opened).toEqual([]);
  });

  it('erase regions that are not whole 4 KiB sectors', async () => {
    const size = await lab.run(['-p', 'sim://none', 'erase-region', '0x1000', '0x100']);
    expectRefusal(size, 2, /Size of data to erase must be a multiple of 4096\./);
    const offset = await lab.run(['-p', 'sim://none', 'erase-region', '0x1001', '0x1000']);
    expectRefusal(offset, 2, /Offset to erase from must be a multiple of 4096\./);
    expect([...size.opened, ...offset.opened]).toEqual([]);
  });

  it('a write at an address that is not a multiple of 4', async () => {
    const run = await lab.run(['-p', 'sim://none', 'write-flash', '0x1002', boot]);
    expectRefusal(run, 2, /Address 0x1002 of '.*bootloader_esp32\.bin' is not a multiple of 4/);
    expect(run.opened).toEqual([]);
  });

  it('parts sharing a flash sector, odd address/file lists and missing files', async () => {
    const a = tempFile('a.bin', new Uint8Array(0x100));
    const b = tempFile('b.bin', new Uint8Array(0x100));
    expectRefusal(
      await lab.run(['-p', 'sim://none', 'write-flash', '0x1000', a, '0x1800', b]),
      2,
      /Detected overlap at address: 0x1800 for file: .*b\.bin/,
    );
    expectRefusal(
      await lab.run(['-p', 'sim://none', 'write-flash', '0x1000']),
      2,
      /needs pairs of an address and the binary filename/,
    );
    expectRefusal(
      await lab.run(['-p', 'sim://none', 'write-flash', '0x1000', '/nonexistent/x.bin']),
      2,
      /Cannot read '\/nonexistent\/x\.bin'/,
    );
  });

  it('a file that cannot fit the --flash-size given', async () => {
    const big = tempFile('big.bin', new Uint8Array(0x20000).fill(1));
    const run = await lab.run(['-p', 'sim://none', 'write-flash', '--flash-size', '1MB', '0xf0000', big]);
    expectRefusal(
      run,
      7,
      /File '.*big\.bin' \(length 131072\) at offset 0x000f0000 will not fit in 1048576 bytes \(1MB\) of flash/,
    );
    expect(run.opened).toEqual([]);
  });

  it('an ESP32-S2 image for --chip esp8266, naming both chips', async () => {
    const run = await lab.run([
      '-p',
      'sim://none',
      '--chip',
      'esp8266',
      'write-flash',
      '0x0',
      fixture('esp_idf_blink_esp32s2.bin'),
    ]);
    expectRefusal(run, 7, /'.*esp_idf_blink_esp32s2\.bin' is an ESP32-S2 image, not an ESP8266 image/);
    expect(run.stderr).not.toMatch(/segment 0|multiple of 4|chip id/);
    expect(run.opened).toEqual([]);
  });

  it('image commands without --chip, unknown options and bad global values', async () => {
    expectRefusal(
      await lab.run(['merge-bin', '-o', '/tmp/x.bin', '0x0', boot]),
      2,
      /Specify the --chip argument \(choose from esp8266, esp32,/,
    );
    expectRefusal(
      await lab.run(['elf2image', fixture('elf2image/esp32-idf-app.elf')]),
      2,
      /Specify the --chip argument/,
    );
    expectRefusal(
      await lab.run(['-p', 'sim://none', 'write-flash', '--encrypt', '0x0', boot]),
      2,
      /No such option for "write-flash": --encrypt/,
    );
    expectRefusal(
      await lab.run(['--before', 'sometimes', '-p', 'sim://none', 'read-mac']),
      2,
      /Invalid value for '--before': 'sometimes' is not one of 'default-reset'/,
    );
    expectRefusal(
      await lab.run(['-b', '12', '-p', 'sim://none', 'read-mac']),
      2,
      /Baud rate 12 is not usable/,
    );
  });
});

describe.each<Link>(['in-process', 'rfc2217'])(
  'refused after connecting, before flash is touched (%s)',
  (link) => {
    const lab = esptoolLab(link);

    it('an ESP32-S2 image on an ESP8266 board names the chip mismatch, not a segment length', async () => {
      const { board, port } = await lab.board({ chip: 'esp8266' });
      const run = await lab.run([
        '-p',
        port,
        'write-flash',
        '--flash-mode',
        'dio',
        '0x0',
        fixture('esp_idf_blink_esp32s2.bin'),
      ]);
      expectRefusal(run, 7, /is an ESP32-S2 image, but this board is an ESP8266\. Build it for ESP8266/);
      expect(run.stderr).not.toMatch(/segment 0|multiple of 4|chip id/);
      expect(board.flash.read(0, 0x1000).every((b) => b === 0xff)).toBe(true);
    });

    it('a --chip that is not the board names both chips', async () => {
      const { port } = await lab.board({ chip: 'esp32c3' });
      const run = await lab.run(['-p', port, '--chip', 'esp32', 'read-mac']);
      expectRefusal(run, 7, /This chip is an ESP32-C3, not an ESP32: wrong board, or wrong chip argument/);
      expect(run.stderr).not.toMatch(/chip id \d/);
    });

    it('reading or erasing past the end of the flash says so, not FLASH_ERROR or the power supply', async () => {
      const { board, port } = await lab.board({ chip: 'esp32', flashSizeBytes: 2 * 1024 * 1024 });
      board.flash.program(0x1ff000, new Uint8Array(0x1000).fill(0x33));
      const erase = await lab.run(['-p', port, 'erase-region', '0x1ff000', '0x2000']);
      expectRefusal(
        erase,
        2,
        /Can't access flash regions larger than detected flash size \(set size 0x2000 from address 0x001ff000 goes past 2MB by 0x1000 bytes\)/,
      );
      expect(erase.stderr).not.toMatch(/FLASH_ERROR|power supply/);
      expect(board.flash.read(0x1ff000, 1)[0]).toBe(0x33);
      const read = await lab.run(['-p', port, 'read-flash', '0x100000', '2M', '/tmp/never-written.bin']);
      expectRefusal(read, 2, /goes past 2MB by 0x100000 bytes/);
      const all = await lab.run(['-p', port, 'erase-region', '0x1000', 'all']);
      expectRefusal(all, 2, /goes past 2MB by 0x1000 bytes/);
    });

    it('a file that does not fit the detected flash', async () => {
      const { board, port } = await lab.board({ chip: 'esp32', flashSizeBytes: 1024 * 1024 });
      const big = tempFile('big.bin', new Uint8Array(0x20000).fill(7));
      const run = await lab.run(['-p', port, 'write-flash', '0xf0000', big]);
      expectRefusal(
        run,
        7,
        /'.*big\.bin' \(length 131072\) at offset 0x000f0000 will not fit in 1048576 bytes \(1MB\) of flash/,
      );
      expect(board.flash.read(0xf0000, 0x10000).every((b) => b === 0xff)).toBe(true);
    });

    it('get-security-info on an ESP32, whose ROM lacks the command', async () => {
      const { port } = await lab.board({ chip: 'esp32' });
      expectRefusal(
        await lab.run(['-p', port, 'get-security-info']),
        2,
        /ESP32 does not support get-security-info: its ROM has no GET_SECURITY_INFO command/,
      );
    });

    it('a board that does not enter download mode: exit 3 and the advice, once', async () => {
      const { port } = await lab.board({ chip: 'esp32', faults: { io0NotWired: true } });
      const run = await lab.run(['-p', port, '--connect-attempts', '2', 'flash-id']);
      expectRefusal(run, 3, /not entering download mode .*hold BOOT/);
    });
  },
);
