/**
 * The esptool-compatible commands end to end, with esptool's own argument
 * spellings, against simulated boards — once through the in-process
 * transport and once through the simulator's RFC 2217 server over TCP.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { md5Hex } from '#esp';
import { bootableAppImages, SimBoard } from '#sim';
import { pollUntil } from '../support/poll.js';
import { scratchDir } from '../support/scratch.js';
import { esptoolLab, type Link, occurrences } from './support/esptool-cli.js';
import { startRawTcpBridge } from './support/raw-tcp-bridge.js';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const bytes = (name: string) => new Uint8Array(readFileSync(fixture(name)));
// Under the run's scratch root, which the global teardown removes.
const scratch = () => scratchDir('esptool-cli');

describe.each<Link>(['in-process', 'rfc2217'])('esptool commands (%s)', (link) => {
  const lab = esptoolLab(link);

  it('write-flash with esptool arguments writes what esptool would, then skips what is already there', async () => {
    const { board, port } = await lab.board({ chip: 'esp32c3' });
    const parts = [
      '0x0',
      fixture('bootloader_esp32c3.bin'),
      '0x8000',
      fixture('partitions_singleapp.bin'),
      '0x10000',
      fixture('elf2image/esp32c3-arduino-app.esptool.bin'),
    ];
    const args = [
      '-p',
      port,
      '-b',
      '921600',
      '--before',
      'default-reset',
      '--after',
      'hard-reset',
      'write-flash',
      '-z',
      '--flash-mode',
      'dio',
      '--flash-size',
      '4MB',
      ...parts,
    ];
    const first = await lab.run(args);
    expect(first.stderr).not.toMatch(/fatal/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/Connected to ESP32-C3 on /);
    expect(occurrences(first.stdout, 'Hash of data verified.')).toBe(3);
    // The flash now holds byte for byte what esptool's merge-bin made from the same files and settings.
    const merged = bytes('merge-bin/esp32c3-dio-4MB.esptool.bin');
    expect(md5Hex(board.flash.read(0, merged.length))).toBe(md5Hex(merged));

    const again = await lab.run([...args.slice(0, 9), '-s', ...args.slice(9)]);
    expect(again.code).toBe(0);
    expect(occurrences(again.stdout, 'already in flash, skipping write.')).toBe(3);
  });

  it('verify-flash matches, and with other settings fails with exit 6 and lists the bytes with --diff', async () => {
    const { board, port } = await lab.board({ chip: 'esp32c3' });
    board.flash.program(0, bytes('merge-bin/esp32c3-dio-4MB.esptool.bin'));
    const ok = await lab.run([
      '--port',
      port,
      'verify-flash',
      '-fm',
      'dio',
      '-fs',
      '4MB',
      '0x0',
      fixture('bootloader_esp32c3.bin'),
      '0x10000',
      fixture('elf2image/esp32c3-arduino-app.esptool.bin'),
    ]);
    expect(ok.code).toBe(0);
    expect(occurrences(ok.stdout, 'Verification successful (digest matched).')).toBe(2);
    const bad = await lab.run([
      '--port',
      port,
      'verify-flash',
      '--diff',
      '0x0',
      fixture('bootloader_esp32c3.bin'),
    ]);
    expect(bad.code).toBe(6);
    expect(bad.stdout).toMatch(/Verification failed: \d+ differences, first at 0x00000003:/);
    expect(bad.stdout).toContain('   0x00000003 20 10'); // flash holds 4MB (0x20), the file says 2MB (0x10)
    expect(occurrences(bad.stderr, 'Verification failed')).toBe(1);
  });

  it('read-flash reads a region and "all" of the flash into files', async () => {
    const { board, port } = await lab.board({ chip: 'esp32', flashSizeBytes: 2 * 1024 * 1024 });
    const data = Uint8Array.from({ length: 0x3000 }, (_, i) => (i * 13) & 0xff);
    board.flash.program(0x20000, data);
    const dir = scratch();
    const region = await lab.run(['-p', port, 'read-flash', '0x20000', '12k', join(dir, 'region.bin')]);
    expect(region.code).toBe(0);
    expect(region.stdout).toMatch(
      /Read 12288 bytes from 0x00020000 in [\d.]+ seconds .* to '.*region\.bin'\./,
    );
    expect(md5Hex(new Uint8Array(readFileSync(join(dir, 'region.bin'))))).toBe(md5Hex(data));
    const all = await lab.run(['-p', port, 'read_flash', '0', 'ALL', join(dir, 'all.bin')]);
    expect(all.code).toBe(0);
    const whole = new Uint8Array(readFileSync(join(dir, 'all.bin')));
    expect(whole.length).toBe(2 * 1024 * 1024);
    expect(md5Hex(whole.subarray(0x20000, 0x23000))).toBe(md5Hex(data));
  });

  it('erase-region erases exactly its sectors and erase-flash the rest', async () => {
    const { board, port } = await lab.board({ chip: 'esp32s3' });
    board.flash.program(0x9000, new Uint8Array(0x3000).fill(0x42));
    const region = await lab.run(['-p', port, 'erase-region', '0xa000', '0x1000']);
    expect(region.code).toBe(0);
    expect(region.stdout).toMatch(/Flash memory region erased successfully/);
    expect(board.flash.read(0xa000, 0x1000).every((b) => b === 0xff)).toBe(true);
    expect(board.flash.read(0x9000, 1)[0]).toBe(0x42);
    expect(board.flash.read(0xb000, 1)[0]).toBe(0x42);
    const all = await lab.run(['-p', port, 'erase-flash']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/Flash memory erased successfully in [\d.]+ seconds\./);
    expect(board.flash.read(0x9000, 0x3000).every((b) => b === 0xff)).toBe(true);
  });

  it('read-mac, chip-id, flash-id and get-security-info print what esptool prints', async () => {
    const { board, port } = await lab.board({ chip: 'esp32c3' });
    const mac = await lab.run(['-p', port, 'read-mac']);
    expect(mac.code).toBe(0);
    expect(mac.stdout).toContain(`MAC:                ${board.mac}`);
    const chipId = await lab.run(['-p', port, 'chip-id']);
    expect(chipId.stdout).toContain('Warning: ESP32-C3 has no chip ID. Reading MAC address instead.');
    expect(chipId.stdout).toContain(`MAC:                ${board.mac}`);
    const flashId = await lab.run(['-p', port, 'flash-id']);
    expect(flashId.stdout).toMatch(
      /Flash Memory Information:\n=+\nManufacturer: [0-9a-f]{2}\nDevice: [0-9a-f]{4}\nDetected flash size: 4MB/,
    );
    const security = await lab.run(['-p', port, 'get-security-info']);
    expect(security.code).toBe(0);
    expect(security.stdout).toContain('Flags: 0x00000000 (0b0)');
    expect(security.stdout).toContain('  BLOCK_KEY0 - USER/EMPTY');
    expect(security.stdout).toContain('Chip ID: 5');
    expect(security.stdout).toContain('Secure Boot: Disabled');
    expect(security.stdout).toContain('Flash Encryption: Disabled');
  });

  it('chip-id on an ESP8266 prints its chip ID', async () => {
    const { port } = await lab.board({ chip: 'esp8266' });
    const run = await lab.run(['-p', port, '--chip', 'esp8266', 'chip-id']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Chip ID: 0x[0-9a-f]{8}\n/);
  });

  it('write-mem and read-mem go through the ROM loader, with the mask applied', async () => {
    const { port } = await lab.board({ chip: 'esp32' });
    const write = await lab.run(['-p', port, 'write-mem', '0x3ffc0000', '0x12345678', '0x0000ffff']);
    expect(write.code).toBe(0);
    expect(write.stdout).toContain('Wrote 0x12345678 with mask 0x0000ffff to 0x3ffc0000.');
    const read = await lab.run(['-p', port, '--after', 'no-reset', 'read-mem', '0x3ffc0000']);
    expect(read.stdout).toContain('0x3ffc0000 = 0x00005678');
  });

  it('run starts the firmware in flash', async () => {
    const { board, port } = await lab.board({
      chip: 'esp32',
      initialFlash: bootableAppImages('esp32', { projectName: 'runme', version: '4.2.0' }),
    });
    const run = await lab.run(['-p', port, '--after', 'no-reset', 'run']);
    expect(run.code).toBe(0);
    // The board booted the app at power-on too: only a banner after the loader's banner counts.
    await pollUntil(
      () => {
        const since = board.console.lastIndexOf('waiting for download');
        return since >= 0 && /Project name: +runme/.test(board.console.slice(since));
      },
      { what: 'the app banner after run', timeoutMs: 10_000 },
    );
  });

  it('monitor shows the boot log after a reset and quits on Ctrl-]', async () => {
    const { port } = await lab.board({
      chip: 'esp32s3',
      initialFlash: bootableAppImages('esp32s3', { projectName: 'watched', version: '1.2.3' }),
    });
    const stdin = new PassThrough();
    let live = '';
    const running = lab.run(['-p', port, 'monitor'], { stdin, onStdout: (t) => (live = t) });
    await pollUntil(() => /App version: +1\.2\.3/.test(live), {
      what: 'the app banner in the monitor',
      timeoutMs: 10_000,
    });
    stdin.write(Buffer.from([0x1d]));
    const result = await running;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Project name: +watched/);
    expect(result.stderr).toContain('Quit: Ctrl+]');
  });
});

describe('esptool commands without -p', () => {
  const lab = esptoolLab('in-process');

  it('tries the listed ports until one connects, and --port-filter narrows the list', async () => {
    const dead = await lab.board({ chip: 'esp32', faults: { io0NotWired: true } });
    const live = await lab.board({ chip: 'esp32c3' });
    const listPorts = [
      { path: dead.port, vendorId: '303a', productId: '1001', serialNumber: 'DEAD' },
      { path: live.port, vendorId: '10c4', productId: 'ea60', serialNumber: 'LIVE' },
    ];
    const any = await lab.run(['--connect-attempts', '2', 'read-mac'], { listPorts });
    expect(any.code).toBe(0);
    expect(any.opened).toEqual([dead.port, live.port]);
    expect(any.stderr).toContain(`${dead.port} failed to connect:`);
    expect(any.stdout).toContain(`MAC:                ${live.board.mac}`);
    const filtered = await lab.run(['--port-filter', 'serial=LIVE', 'read-mac'], { listPorts });
    expect(filtered.opened).toEqual([live.port]);
    const none = await lab.run(['--port-filter', 'vid=0x1234', 'read-mac'], { listPorts });
    expect(none.code).toBe(8);
    expect(none.stderr).toContain('No serial port found to connect to. Give one with -p');
  });

  it('prints the version and one help text per command', async () => {
    const version = await lab.run(['--version']);
    expect(version.stdout).toMatch(/^flashfarm v\d+\.\d+\.\d+ \(esptool v5\.3\.1 command line\)\n$/);
    expect((await lab.run(['version'])).stdout).toBe(version.stdout);
    const helps = await Promise.all(
      ['write-flash', 'read-flash', 'erase-region', 'merge-bin', 'monitor'].map((c) =>
        lab.run([c, '--help']),
      ),
    );
    expect(helps.every((h) => h.code === 0)).toBe(true);
    expect(new Set(helps.map((h) => h.stdout)).size).toBe(5);
    expect(helps[0].stdout).toMatch(/Usage: flashfarm \[global options\] write-flash/);
    expect(helps[2].stdout).toMatch(/multiples of 4096/);
  });

  it('writes a file from Intel HEX at the addresses the file holds, and reads the HEX esptool made', async () => {
    const { board, port } = await lab.board({ chip: 'esp32' });
    const dir = scratch();
    const hex = readFileSync(fixture('merge-bin/esp32-keep.esptool.hex'));
    writeFileSync(join(dir, 'all.hex'), hex);
    const run = await lab.run(['-p', port, 'write-flash', '0x0', join(dir, 'all.hex')]);
    expect(run.code).toBe(0);
    expect(occurrences(run.stdout, 'Hash of data verified.')).toBe(3);
    expect(md5Hex(board.flash.read(0x1000, 7888))).toBe(md5Hex(bytes('bootloader_esp32.bin')));
    expect(md5Hex(board.flash.read(0x10000, 79008))).toBe(
      md5Hex(bytes('elf2image/esp32-idf-app.esptool.bin')),
    );
  });
});

describe('esptool reset and loader options', () => {
  const lab = esptoolLab('in-process');

  it('--before usb-reset reaches the loader over USB-Serial/JTAG, and --no-stub writes through the ROM', async () => {
    const { board, port } = await lab.board({ chip: 'esp32c3', wiring: 'usb-serial-jtag' });
    const app = bytes('elf2image/esp32c3-arduino-app.esptool.bin');
    const run = await lab.run([
      '-p',
      port,
      '--before',
      'usb_reset',
      '--no-stub',
      '--after',
      'watchdog-reset',
      'write-flash',
      '0x10000',
      fixture('elf2image/esp32c3-arduino-app.esptool.bin'),
    ]);
    expect(run.stderr).not.toMatch(/fatal/);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/synced after usb-jtag/);
    expect(run.stderr).not.toMatch(/uploading the flasher stub/);
    expect(run.stdout).toContain('Hard resetting with a watchdog...');
    expect(md5Hex(board.flash.read(0x10000, app.length))).toBe(md5Hex(app));
  });

  it('--before no-reset talks to a board already waiting in download mode', async () => {
    const { board, port } = await lab.board({ chip: 'esp32' });
    const first = await lab.run(['-p', port, '--after', 'no-reset', 'read-mac']);
    expect(first.code).toBe(0);
    const resetsBefore = board.console.split('waiting for download').length;
    const second = await lab.run(['-p', port, '--before', 'no-reset', '--after', 'no-reset', 'read-mac']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`MAC:                ${board.mac}`);
    expect(board.console.split('waiting for download').length).toBe(resetsBefore);
  });
});

describe('esptool commands over socket://', () => {
  const lab = esptoolLab('in-process');

  it('writes and reads through a raw TCP bridge, staying at the fixed baud of the bridge and saying it cannot reset the chip', async () => {
    const board = new SimBoard({ chip: 'esp32c3', name: 'socket-cli', timeScale: 0 });
    const bridge = await startRawTcpBridge(board);
    try {
      const app = bytes('elf2image/esp32c3-arduino-app.esptool.bin');
      const write = await lab.run([
        '-p',
        bridge.url,
        '--after',
        'no-reset',
        'write-flash',
        '0x10000',
        fixture('elf2image/esp32c3-arduino-app.esptool.bin'),
      ]);
      expect(write.stderr).not.toMatch(/fatal/);
      expect(write.code).toBe(0);
      expect(write.stdout).toMatch(/at 115200 baud/);
      expect(occurrences(write.stderr, 'carries no DTR/RTS: the chip was NOT reset')).toBe(1);
      expect(md5Hex(board.flash.read(0x10000, app.length))).toBe(md5Hex(app));
      const mac = await lab.run(['-p', bridge.url, '--before', 'no-reset', 'read-mac']);
      expect(mac.code).toBe(0);
      expect(mac.stdout).toContain(`MAC:                ${board.mac}`);
    } finally {
      await bridge.close();
      board.dispose();
    }
  });
});
