import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type ChipName, SimBoard, buildImage } from '#sim';
import { WebSerialAdapter, runEsptoolJsFlash } from '../support/web-serial-adapter.js';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));

const PARTITIONS = fixture('partitions_singleapp.bin');
const PARTITION_TABLE_OFFSET = 0x8000;
const APP_OFFSET = 0x10000;

interface Case {
  chip: ChipName;
  bootloaderOffset: number;
  bootloader: () => Uint8Array;
  app: () => Uint8Array;
}

const app =
  (chip: ChipName): (() => Uint8Array) =>
  () =>
    buildImage({
      chip,
      appDescriptor: { projectName: `sim-blink-${chip}`, version: 'v1.2.3-sim' },
      codeBytes: 120_000,
    });

const cases: Case[] = [
  {
    chip: 'esp32',
    bootloaderOffset: 0x1000,
    bootloader: () => fixture('bootloader_esp32.bin'),
    app: app('esp32'),
  },
  // No ESP32-S3 bootloader ships with the fixtures: a structurally valid one is built instead.
  {
    chip: 'esp32s3',
    bootloaderOffset: 0x0,
    bootloader: () => buildImage({ chip: 'esp32s3', codeBytes: 8000, hashAppended: true }),
    app: app('esp32s3'),
  },
  {
    chip: 'esp32c3',
    bootloaderOffset: 0x0,
    bootloader: () => fixture('bootloader_esp32c3.bin'),
    app: app('esp32c3'),
  },
  {
    chip: 'esp32s2',
    bootloaderOffset: 0x1000,
    bootloader: () => buildImage({ chip: 'esp32s2', codeBytes: 8000 }),
    app: () => fixture('esp_idf_blink_esp32s2.bin'),
  },
];

/** Pads to a multiple of 4 with 0xFF, as every flasher does before writing. */
function padTo4(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 4) * 4).fill(0xff);
  out.set(data);
  return out;
}

describe('esptool-js (unmodified) against the simulator', () => {
  beforeAll(() => {
    // esptool-js's image parser warns on console about the real ESP32 bootloader's zero-length segment.
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });

  for (const c of cases) {
    it(`connects to ${c.chip}, loads its stub, writes bootloader + partitions + app compressed at 921600 and verifies`, async () => {
      const board = new SimBoard({ chip: c.chip, name: `ejs-${c.chip}`, timeScale: 0.01 });
      try {
        const port = new WebSerialAdapter({ openHandle: () => board.openPort() });
        const bootloader = c.bootloader();
        const application = c.app();
        const result = await runEsptoolJsFlash({
          port,
          baudrate: 921600,
          // Asking for DIO / 80 MHz / 4 MB makes esptool-js patch the bootloader header (§7.4).
          flashMode: 'dio',
          flashFreq: '80m',
          flashSize: '4MB',
          files: [
            { address: c.bootloaderOffset, data: bootloader },
            { address: PARTITION_TABLE_OFFSET, data: PARTITIONS },
            { address: APP_OFFSET, data: application },
          ],
        });

        expect(result.chipName).toBe(board.def.displayName);
        expect(result.mac).toBe(board.mac);
        expect(result.isStub).toBe(true);
        expect(result.log).toContain('Stub running...');
        expect(result.log).toMatch(/Hash of data verified/);
        expect(board.chipBaud).toBe(921600);
        // esptool-js reopens the port to change its own baud (Web Serial cannot change it in place).
        expect(port.opens).toBeGreaterThanOrEqual(2);

        // The bootloader header is patched: byte 2 = flash mode (DIO = 2), byte 3 = size code 4 MB (0x20) | 80 MHz (0xF).
        const expectedBoot = padTo4(bootloader);
        expectedBoot[2] = 0x02;
        expectedBoot[3] = 0x2f;
        expect(board.flash.compare(c.bootloaderOffset, expectedBoot)).toEqual([]);
        const unpatchedDiffs = board.flash
          .compare(c.bootloaderOffset, padTo4(bootloader), 64)
          .map((d) => d.offset - c.bootloaderOffset);
        expect(unpatchedDiffs.every((o) => o === 2 || o === 3)).toBe(true);
        expect(board.flash.compare(PARTITION_TABLE_OFFSET, PARTITIONS)).toEqual([]);
        expect(board.flash.compare(APP_OFFSET, padTo4(application))).toEqual([]);
        expect(board.internalErrors).toEqual([]);

        // A reset with IO0 high now boots what was written.
        board.clearConsole();
        const handle = board.openPort();
        handle.setSignals({ dtr: false, rts: true });
        handle.setSignals({ rts: false });
        await board.waitForConsole(/Calling app_main\(\)/, 5000);
        expect(board.console).toContain(
          `boot:0x${board.def.strapFlashBoot.toString(16)} (SPI_FAST_FLASH_BOOT)`,
        );
        if (c.chip === 'esp32s2') expect(board.console).toMatch(/Project name:\s+blink/);
        else expect(board.console).toMatch(new RegExp(`Project name:\\s+sim-blink-${c.chip}`));
        handle.close();
      } finally {
        board.dispose();
      }
    });
  }

  it.each(['esp8266', 'esp32c6'] as const)('also flashes %s (stub, compressed, verified)', async (chip) => {
    const board = new SimBoard({ chip, name: `ejs-${chip}`, timeScale: 0.01 });
    try {
      const image = buildImage({
        chip,
        appDescriptor: { projectName: 'x', version: '1' },
        codeBytes: 50_000,
      });
      const result = await runEsptoolJsFlash({
        port: new WebSerialAdapter({ openHandle: () => board.openPort() }),
        baudrate: 460800,
        files: [{ address: 0x0, data: image }],
        readBack: { address: 0x0, size: 10_000 },
      });
      // READ_FLASH streaming as esptool-js drives it (4 KiB packets, acks, MD5 trailer left unread).
      expect(result.readBack).toEqual(padTo4(image).subarray(0, 10_000));
      expect([result.chipName, result.mac, result.isStub]).toEqual([board.def.displayName, board.mac, true]);
      expect(result.log).toMatch(/Hash of data verified/);
      expect(board.flash.compare(0, padTo4(image))).toEqual([]);
    } finally {
      board.dispose();
    }
  });

  it('picks its USB-Serial/JTAG reset from the port IDs and reaches the loader through the peripheral', async () => {
    const board = new SimBoard({
      chip: 'esp32c3',
      name: 'ejs-usb',
      timeScale: 0.01,
      wiring: 'usb-serial-jtag',
    });
    try {
      const image = buildImage({
        chip: 'esp32c3',
        appDescriptor: { projectName: 'x', version: '1' },
        codeBytes: 30_000,
      });
      const port = new WebSerialAdapter({
        openHandle: () => board.openPort(),
        info: { usbVendorId: 0x303a, usbProductId: 0x1001 },
      });
      const result = await runEsptoolJsFlash({ port, files: [{ address: 0x10000, data: image }] });
      expect([result.chipName, result.isStub]).toEqual(['ESP32-C3', true]);
      expect(board.console).toContain('rst:0x15 (USB_UART_CHIP_RESET),boot:0x5 (DOWNLOAD(USB/UART0/1))');
      expect(board.flash.compare(0x10000, padTo4(image))).toEqual([]);
    } finally {
      board.dispose();
    }
  });
});
