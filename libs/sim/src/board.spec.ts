import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SimBoard, type SimBoardOptions } from './board.js';
import { SimErrorCode } from './errors.js';
import { bootableAppImages } from './image-builder.js';
import { HostClient, le32 } from './testing/host-client.js';
import { holdFor, pollUntil } from './testing/stimulus.js';

function board(options: Partial<SimBoardOptions> = {}): SimBoard {
  return new SimBoard({ chip: 'esp32', timeScale: 0, ...options });
}

/** A board whose flash holds a bootable app (bootloader + partition table + app), so it runs quietly. */
async function flashedBoard(options: Partial<SimBoardOptions> = {}): Promise<SimBoard> {
  const b = board({
    initialFlash: bootableAppImages(options.chip ?? 'esp32', { projectName: 'hello-sim', version: '2.0.0' }),
    ...options,
  });
  // Let the power-on boot finish so later console checks see only what the test caused.
  if (!options.faults?.bootLoop) await b.waitForConsole(/Calling app_main/, 2000);
  return b;
}

describe('reset circuit and boot mode', () => {
  it("esptool's Classic DTR/RTS sequence reaches the ROM loader", async () => {
    const b = board();
    try {
      const host = new HostClient(b.openPort());
      await host.classicReset();
      await b.waitForConsole(/waiting for download/, 1000);
      expect(b.console).toContain(
        'rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))',
      );
      expect(b.mode).toBe('rom');
      await host.enterBootloader();
    } finally {
      b.dispose();
    }
  });

  it('the non-atomic pyserial variant works too, thanks to the RC delay on EN', async () => {
    const b = board();
    try {
      const port = b.openPort();
      // D0 · R1 · D0 · W100 · D1 · R0 · D1 · W50 · D0: passes through (D1,R1) for an instant.
      port.setSignals({ dtr: false });
      port.setSignals({ rts: true });
      port.setSignals({ dtr: false });
      await holdFor(100);
      port.setSignals({ dtr: true });
      port.setSignals({ rts: false });
      port.setSignals({ dtr: true });
      await holdFor(50);
      port.setSignals({ dtr: false });
      await pollUntil(() => b.mode === 'rom');
    } finally {
      b.dispose();
    }
  });

  describe('EN RC delay: the chip leaves reset enRiseMs after EN is released and samples IO0 then', () => {
    /**
     * esptool's ClassicReset one line per call: (D0,R1) · D1 · gap · R0 · hold · D0. D1 releases
     * EN with IO0 still high; R0 pulls IO0 low; D0 releases it after holdMs.
     */
    async function splitReset(b: SimBoard, gapMs: number, holdMs = 60): Promise<void> {
      const port = b.openPort();
      b.clearConsole();
      port.setSignals({ dtr: false, rts: true });
      await holdFor(20);
      port.setSignals({ dtr: true });
      if (gapMs > 0) await holdFor(gapMs);
      port.setSignals({ rts: false });
      await holdFor(holdMs);
      port.setSignals({ dtr: false });
    }

    it('the split DTR/RTS sequence from a local tty (changes back to back) reaches the loader', async () => {
      const b = await flashedBoard();
      try {
        await splitReset(b, 0);
        await b.waitForConsole(/waiting for download/, 1000);
        expect(b.mode).toBe('rom');
      } finally {
        b.dispose();
      }
    });

    it('with 50 ms between the changes (a network round trip each) IO0 is sampled high: the app boots', async () => {
      const b = await flashedBoard();
      try {
        await splitReset(b, 50);
        await b.waitForConsole(/boot:0x13 \(SPI_FAST_FLASH_BOOT\)[\s\S]*Calling app_main/, 1000);
        expect(b.console).not.toContain('waiting for download');
        expect(b.mode).toBe('flash-boot');
      } finally {
        b.dispose();
      }
    });

    it('the delay is a board property: a slower EN (enRiseMs 120) still catches IO0 low after a 50 ms gap', async () => {
      const b = await flashedBoard({ enRiseMs: 120 });
      try {
        // IO0 must stay low until the chip samples it: esptool's second attempt holds it 550 ms.
        await splitReset(b, 50, 550);
        await b.waitForConsole(/waiting for download/, 1000);
        expect(b.mode).toBe('rom');
      } finally {
        b.dispose();
      }
    });
  });

  it('a reset with IO0 high (hard reset: RTS pulse only) boots the app and prints its banner', async () => {
    const b = await flashedBoard();
    try {
      const port = b.openPort();
      b.clearConsole();
      port.setSignals({ dtr: false, rts: true });
      await holdFor(20);
      port.setSignals({ rts: false });
      await b.waitForConsole(/Project name:\s+hello-sim/, 2000);
      expect(b.console).toContain('boot:0x13 (SPI_FAST_FLASH_BOOT)');
      expect(b.console).toMatch(/App version:\s+2\.0\.0/);
      expect(b.mode).toBe('flash-boot');
    } finally {
      b.dispose();
    }
  });

  it('with DTR and RTS swapped the Classic sequence boots the app and the swapped sequence reaches the loader', async () => {
    const b = await flashedBoard({ wiring: 'auto-reset-swapped' });
    try {
      const port = b.openPort();
      b.clearConsole();
      port.setSignals({ dtr: false, rts: true });
      await holdFor(30);
      port.setSignals({ dtr: true, rts: false });
      await holdFor(30);
      port.setSignals({ dtr: false, rts: false });
      await b.waitForConsole(/boot:0x13 \(SPI_FAST_FLASH_BOOT\)[\s\S]*Calling app_main/, 1000);
      expect(b.mode).toBe('flash-boot');
      // Same pattern with the lines exchanged.
      b.clearConsole();
      port.setSignals({ rts: false, dtr: true });
      await holdFor(30);
      port.setSignals({ rts: true, dtr: false });
      await holdFor(30);
      port.setSignals({ dtr: false, rts: false });
      await b.waitForConsole(/waiting for download/, 1000);
      expect(b.mode).toBe('rom');
    } finally {
      b.dispose();
    }
  });

  it('USB-Serial/JTAG: the USBJTAGSerialReset pattern forces download boot, a plain RTS pulse boots flash', async () => {
    const b = await flashedBoard({ chip: 'esp32c3', wiring: 'usb-serial-jtag' });
    try {
      const port = b.openPort();
      const steps: Array<{ dtr?: boolean; rts?: boolean } | number> = [
        { rts: false },
        { dtr: false },
        30,
        { dtr: true },
        { rts: false },
        30,
        { rts: true },
        { dtr: false },
        { rts: true },
        30,
        { dtr: false },
        { rts: false },
      ];
      b.clearConsole();
      for (const step of steps) {
        if (typeof step === 'number') await holdFor(step);
        else port.setSignals(step);
      }
      await b.waitForConsole(/rst:0x15 \(USB_UART_CHIP_RESET\),boot:0x5 \(DOWNLOAD\(USB\/UART0\/1\)\)/, 1000);
      expect(b.readRegister(0x3fcdf07c)).toBe(3);
      b.clearConsole();
      port.setSignals({ rts: true });
      await holdFor(10);
      port.setSignals({ rts: false });
      await b.waitForConsole(/boot:0xc \(SPI_FAST_FLASH_BOOT\)/, 1000);
    } finally {
      b.dispose();
    }
  });

  it('without auto-reset only the buttons work: hold BOOT, tap EN', async () => {
    const b = await flashedBoard({ wiring: 'none' });
    try {
      const port = b.openPort();
      b.clearConsole();
      const modes: string[] = [];
      const stop = b.onModeChange((mode) => modes.push(mode));
      // esptool's Classic pattern: on a wired board EN goes low at once and the chip leaves reset into
      // the loader enRiseMs after the second step.
      port.setSignals({ dtr: false, rts: true });
      await holdFor(20);
      expect(modes).toEqual([]);
      port.setSignals({ dtr: true, rts: false });
      await holdFor(50);
      port.setSignals({ dtr: false, rts: false });
      b.pressButton('boot', true);
      b.pressButton('en', true);
      await holdFor(5);
      b.pressButton('en', false);
      await b.waitForConsole(/waiting for download/, 1000);
      b.pressButton('boot', false);
      stop();
      // The lines went nowhere: the only reset the chip saw is the one the buttons made, and the console
      // holds its single banner.
      expect(modes).toEqual(['reset', 'rom']);
      expect(b.console.match(/rst:0x1 /g)).toHaveLength(1);
      expect(b.mode).toBe('rom');
    } finally {
      b.dispose();
    }
  });

  it('empty flash: the ROM prints invalid header repeatedly and the watchdog restarts it', async () => {
    const b = board();
    try {
      b.openPort();
      b.clearConsole();
      b.pressButton('en', true);
      b.pressButton('en', false);
      await b.waitForConsole(/RTCWDT_RTC_RESET[\s\S]*invalid header: 0xffffffff/, 2000);
      expect((b.console.match(/invalid header: 0xffffffff/g) ?? []).length).toBeGreaterThanOrEqual(8);
    } finally {
      b.dispose();
    }
  });

  it('the ESP8266 prints its boot messages at 74880 baud: garbage for a host at 115200', async () => {
    const b = new SimBoard({ chip: 'esp8266', timeScale: 0 });
    try {
      const host = new HostClient(b.openPort());
      await host.classicReset();
      await b.waitForConsole(/boot mode:\(1,7\)/, 1000);
      await pollUntil(() => host.received.length > 0);
      expect(host.text).not.toContain('ets Jan');
      host.flush();
      host.port.setBaudRate(74880);
      b.pressButton('en', true);
      b.pressButton('en', false);
      await host.waitForText(/ets Jan {2}8 2013,rst cause:2, boot mode:\(3,7\)/);
    } finally {
      b.dispose();
    }
  });
});

describe('RTC watchdog (esptool --after watchdog-reset)', () => {
  /** esptool v5.3.1 watchdog_reset(): unlock, timeout 2000 slow cycles, enable stage 0 with reset, lock. */
  async function watchdogReset(
    host: HostClient,
    wdt: { config0: number; config1: number; wprotect: number },
  ) {
    const write = async (addr: number, value: number): Promise<void> => {
      host.expectOk(await host.command(0x09, le32(addr, value >>> 0, 0xffffffff, 0)));
    };
    await write(wdt.wprotect, 0x50d83aa1);
    await write(wdt.config1, 2000);
    await write(wdt.config0, (1 << 31) | (5 << 28) | (1 << 8) | 2);
    await write(wdt.wprotect, 0);
  }

  it.each(['esp32s2', 'esp32s3', 'esp32c3'] as const)(
    '%s: the watchdog resets the chip, which samples the straps again and boots the app',
    async (chip) => {
      const b = await flashedBoard({ chip });
      try {
        const host = new HostClient(b.openPort());
        await host.enterBootloader();
        b.clearConsole();
        await watchdogReset(host, b.def.rtcWdt!);
        await b.waitForConsole(/rst:0x10 \(RTCWDT_RTC_RST\)[\s\S]*Calling app_main/, 2000);
        expect(b.mode).toBe('flash-boot');
        // The RTC domain starts over: the watchdog is off again.
        expect(b.readRegister(b.def.rtcWdt!.config0)).toBe(0);
      } finally {
        b.dispose();
      }
    },
  );

  it('writes without the key are ignored, as on silicon; ESP32, ESP8266 and ESP32-C6 have no watchdog esptool uses', async () => {
    const b = await flashedBoard({ chip: 'esp32c3' });
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      const wdt = b.def.rtcWdt!;
      host.expectOk(await host.command(0x09, le32(wdt.config0, 0x80000000 | (5 << 28), 0xffffffff, 0)));
      expect(b.readRegister(wdt.config0)).toBe(0);
      expect(b.mode).toBe('rom');
    } finally {
      b.dispose();
    }
    for (const chip of ['esp32', 'esp8266', 'esp32c6'] as const)
      expect(board({ chip }).def.rtcWdt).toBeNull();
  });
});

describe('UART', () => {
  it('after CHANGE_BAUDRATE a host left at the old rate is not understood; at the new rate it talks again', async () => {
    const b = board();
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      const reply = await host.command(0x0f, le32(460800, 0));
      expect(Array.from(reply.data)).toEqual([0, 0, 0, 0]);
      await pollUntil(() => b.chipBaud === 460800);
      host.flush();
      // At 115200 towards a chip at 460800 the request arrives as noise: no reply at all.
      host.send(0x0a, le32(0x40001000));
      expect(await host.drain(50)).toEqual([]);
      host.port.setBaudRate(460800);
      host.flush();
      expect((await host.command(0x0a, le32(0x40001000))).value).toBe(0x00f01d83);
    } finally {
      b.dispose();
    }
  });

  it('takes 10 bit-times per byte at the current baud (real time at timeScale 1)', async () => {
    const b = board({ timeScale: 1 });
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      host.port.setBaudRate(9600);
      b.setFaults({});
      // READ_FLASH_SLOW: 14-byte request and 76-byte reply (plus SLIP) at 9600 baud ≈ 100 ms.
      await host.command(0x0f, le32(9600, 0));
      const t0 = performance.now();
      await host.command(0x0e, le32(0, 64), 0, 2000);
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThan(85);
      expect(elapsed).toBeLessThan(400);
    } finally {
      b.dispose();
    }
  });
});

describe('faults', () => {
  it('bit errors above a baud threshold corrupt traffic, below it the line is clean', async () => {
    const b = board({ faults: { bitErrors: { aboveBaud: 460800, bitErrorRate: 0.02 } } });
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      for (let i = 0; i < 5; i++) expect((await host.command(0x0a, le32(0x40001000))).value).toBe(0x00f01d83);
      await host.command(0x0f, le32(921600, 0));
      host.port.setBaudRate(921600);
      // The CHANGE_BAUDRATE reply has arrived and the loader sends nothing after it: drop what came before.
      host.flush();
      let good = 0;
      for (let i = 0; i < 20; i++) {
        try {
          if ((await host.command(0x0a, le32(0x40001000), 0, 50)).value === 0x00f01d83) good++;
        } catch {
          // A corrupted request or reply never matches.
        }
      }
      expect(good).toBeLessThan(20);
    } finally {
      b.dispose();
    }
  });

  it('dropped bytes lose frames', async () => {
    const b = board();
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      b.setFaults({ dropRate: 0.2 });
      let good = 0;
      for (let i = 0; i < 20; i++) {
        try {
          if ((await host.command(0x0a, le32(0x40001000), 0, 50)).value === 0x00f01d83) good++;
        } catch {
          // Lost.
        }
      }
      expect(good).toBeLessThan(20);
      b.setFaults({ dropRate: 0 });
      host.flush();
      expect((await host.command(0x0a, le32(0x40001000))).value).toBe(0x00f01d83);
    } finally {
      b.dispose();
    }
  });

  it('unplug disconnects the open port and the board vanishes; plug powers it on again', async () => {
    const b = board();
    try {
      const port = b.openPort();
      const reasons: Error[] = [];
      port.onDisconnect((reason) => reasons.push(reason));
      b.unplug();
      expect(reasons).toHaveLength(1);
      expect(port.isOpen).toBe(false);
      expect(b.mode).toBe('off');
      expect(() => b.openPort()).toThrow(expect.objectContaining({ code: SimErrorCode.UNPLUGGED }));
      b.plug();
      const again = new HostClient(b.openPort());
      await again.enterBootloader();
    } finally {
      b.dispose();
    }
  });

  it('a power cycle restarts the chip with the straps the host holds, and the port stays open', async () => {
    const b = await flashedBoard();
    try {
      const port = b.openPort();
      const gone: Error[] = [];
      port.onDisconnect((reason) => gone.push(reason));
      // IO0 held low through the cycle (DTR alone: EN high, IO0 low): the chip wakes in download mode.
      port.setSignals({ dtr: true, rts: false });
      b.clearConsole();
      b.powerCycle();
      await b.waitForConsole(/waiting for download/, 1000);
      expect(b.console).toMatch(/rst:0x1 \(POWERON_RESET\)/);
      expect(b.mode).toBe('rom');
      expect(port.isOpen).toBe(true);
      expect(gone).toHaveLength(0);
      // Lines released: the next power cycle boots the app from flash.
      port.setSignals({ dtr: false, rts: false });
      b.clearConsole();
      b.powerCycle();
      await b.waitForConsole(/Calling app_main/, 1000);
      b.unplug();
      expect(() => b.powerCycle()).toThrow(expect.objectContaining({ code: SimErrorCode.UNPLUGGED }));
    } finally {
      b.dispose();
    }
  });

  it('a second open of the same port is refused with a typed busy error', () => {
    const b = board();
    try {
      b.openPort();
      expect(() => b.openPort()).toThrow(expect.objectContaining({ code: SimErrorCode.PORT_BUSY }));
    } finally {
      b.dispose();
    }
  });

  it('IO0 not wired: the Classic sequence cannot reach download mode', async () => {
    const b = board({ faults: { io0NotWired: true } });
    try {
      const host = new HostClient(b.openPort());
      b.clearConsole();
      await host.classicReset();
      await b.waitForConsole(/boot:0x13 \(SPI_FAST_FLASH_BOOT\)/, 1000);
      expect(b.mode).toBe('flash-boot');
      await expect(host.enterBootloader(3)).rejects.toThrow('no SYNC reply');
    } finally {
      b.dispose();
    }
  });

  it('link latency delays every reply by the configured time', async () => {
    const b = board();
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      b.setFaults({ latencyMs: 60 });
      const t0 = performance.now();
      await host.command(0x0a, le32(0x40001000));
      expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
    } finally {
      b.dispose();
    }
  });

  it('missed SYNCs: the first ones after reset go unanswered, a retrying host still gets through', async () => {
    const b = board({ faults: { missedSyncs: 2 } });
    try {
      const host = new HostClient(b.openPort());
      await host.classicReset();
      // The banner has reached the host: the SYNCs below are the first the loader sees.
      await host.waitForText(/waiting for download\r?\n/);
      expect(b.mode).toBe('rom');
      host.flush();
      await expect(host.sync(60)).rejects.toThrow();
      await expect(host.sync(60)).rejects.toThrow();
      expect(await host.sync(500)).toHaveLength(8);
    } finally {
      b.dispose();
    }
  });

  it('RX dead: the download banner arrives but nothing the host sends reaches the chip', async () => {
    const b = board({ faults: { rxDead: true } });
    try {
      const host = new HostClient(b.openPort());
      await host.classicReset();
      await host.waitForText(/waiting for download/);
      await expect(host.enterBootloader(2)).rejects.toThrow('no SYNC reply');
    } finally {
      b.dispose();
    }
  });

  it('flash not answering: RDID reads 0xFFFFFF', async () => {
    const b = board({ faults: { flashDead: true } });
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      const spi = b.def.spi;
      const write = (addr: number, value: number): Promise<unknown> =>
        host.command(0x09, le32(addr, value >>> 0, 0xffffffff, 0));
      await write(spi.base + spi.misoDlen!, 23);
      await write(spi.base + spi.usr, (1 << 31) | (1 << 28));
      await write(spi.base + spi.usr2, (7 << 28) | 0x9f);
      await write(spi.base + spi.w0, 0);
      await write(spi.base, 1 << 18);
      expect((await host.command(0x0a, le32(spi.base + spi.w0))).value & 0xffffff).toBe(0xffffff);
    } finally {
      b.dispose();
    }
  });

  it('quiet: false while a request or its reply is on the line, true once the reply has reached the port', async () => {
    const b = board();
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      b.setFaults({ latencyMs: 40 });
      expect(b.quiet).toBe(true);
      host.send(0x0a, le32(0x40001000));
      expect(b.quiet).toBe(false);
      await pollUntil(() => b.quiet, 2000, 'the board to go quiet');
      expect((await host.nextReply(0)).value).toBe(0x00f01d83);
    } finally {
      b.dispose();
    }
  });

  it('link latency delays DTR/RTS changes as well: the reset happens one latency later', async () => {
    const b = board({ faults: { latencyMs: 80 } });
    try {
      const port = b.openPort();
      const t0 = performance.now();
      port.setSignals({ dtr: false, rts: true });
      expect(b.mode).not.toBe('reset');
      await pollUntil(() => b.mode === 'reset');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
    } finally {
      b.dispose();
    }
  });

  it('boot loop: the app panics and the board reboots over and over', async () => {
    const b = await flashedBoard({ faults: { bootLoop: true } });
    try {
      b.openPort();
      b.clearConsole();
      b.pressButton('en', true);
      b.pressButton('en', false);
      await b.waitForConsole(/(Guru Meditation Error[\s\S]*){3}/, 3000);
      expect(b.console).toContain('rst:0xc (SW_CPU_RESET)');
      b.setFaults({ bootLoop: false });
    } finally {
      b.dispose();
    }
  });
});

describe('board options and flash', () => {
  it('refuses unknown chips, bad sizes, MACs and revisions with typed errors', () => {
    const invalid = expect.objectContaining({ code: SimErrorCode.INVALID_ARGUMENT }) as unknown as Error;
    expect(() => new SimBoard({ chip: 'esp32p4' as 'esp32', timeScale: 0 })).toThrow(invalid);
    expect(() => board({ flashSizeBytes: 3 * 1024 * 1024 })).toThrow(invalid);
    expect(() => board({ mac: '12:34' })).toThrow(invalid);
    expect(() => board({ revision: 117 })).toThrow(invalid);
    expect(() => board({ timeScale: -1 })).toThrow(invalid);
    expect(() => board({ chip: 'esp32', wiring: 'usb-serial-jtag' })).toThrow(invalid);
  });

  it('board profiles: DevKit behind a CP2102N by default; USB-Serial/JTAG is 303A:1001, no EN delay, S3/C3/C6 only', () => {
    const devkit = board();
    expect(devkit.info).toMatchObject({
      profile: 'devkit',
      wiring: 'auto-reset',
      usb: { vid: 0x10c4, pid: 0xea60 },
    });
    devkit.dispose();
    for (const chip of ['esp32s3', 'esp32c3', 'esp32c6'] as const) {
      const usb = board({ chip, profile: 'usb-serial-jtag' });
      expect(usb.info).toMatchObject({
        profile: 'usb-serial-jtag',
        wiring: 'usb-serial-jtag',
        usb: { vid: 0x303a, pid: 0x1001 },
      });
      // The ROM reports the USB-Serial/JTAG console, so esptool picks its USB reset and watchdog rules.
      expect(usb.readRegister(usb.def.uartDevBufNoAddr!)).toBe(usb.def.uartDevBufNoUsbJtag);
      usb.dispose();
    }
    // The wiring alone implies the profile.
    const byWiring = board({ chip: 'esp32c3', wiring: 'usb-serial-jtag' });
    expect(byWiring.info.usb.pid).toBe(0x1001);
    byWiring.dispose();
    for (const chip of ['esp32', 'esp32s2', 'esp8266'] as const) {
      let caught: unknown;
      try {
        board({ chip, profile: 'usb-serial-jtag' });
      } catch (err) {
        caught = err;
      }
      expect((caught as { code?: string }).code).toBe(SimErrorCode.INVALID_ARGUMENT);
    }
  });

  it('derives a stable Espressif MAC from the name', () => {
    const a = board({ name: 'rack1-slot3' });
    const b = board({ name: 'rack1-slot3' });
    const c = board({ name: 'rack1-slot4' });
    try {
      expect(a.mac).toBe(b.mac);
      expect(a.mac).not.toBe(c.mac);
      expect(a.mac.startsWith('24:0a:c4:')).toBe(true);
      const d = new SimBoard({ chip: 'esp8266', name: 'x', timeScale: 0 });
      d.dispose();
      expect(d.mac.startsWith('18:fe:34:')).toBe(true);
    } finally {
      for (const x of [a, b, c]) x.dispose();
    }
  });

  it('keeps flash across resets and, with a flashFile, across board instances', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'simboard-'));
    try {
      const file = join(dir, 'esp32.bin');
      const first = board({ flashFile: file });
      first.flash.program(0x3000, Uint8Array.of(0x12, 0x34));
      first.pressButton('en', true);
      first.pressButton('en', false);
      await pollUntil(() => first.mode === 'flash-boot');
      expect(Array.from(first.flash.read(0x3000, 2))).toEqual([0x12, 0x34]);
      first.dispose();
      const second = board({ flashFile: file });
      expect(Array.from(second.flash.read(0x3000, 2))).toEqual([0x12, 0x34]);
      second.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ROM erase takes datasheet time: 1 MiB in 64 KiB blocks ≈ 16 × 150 ms (here at timeScale 0.1)', async () => {
    const b = board({ timeScale: 0.1 });
    try {
      const host = new HostClient(b.openPort());
      await host.enterBootloader();
      const t0 = performance.now();
      await host.command(0x02, le32(0x100000, 1024, 0x400, 0x100000, 0), 0, 2000);
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThan(16 * 150 * 0.1 * 0.9);
      expect(elapsed).toBeLessThan(16 * 150 * 0.1 * 3);
    } finally {
      b.dispose();
    }
  });

  it('reports mode changes', async () => {
    const b = board();
    try {
      const modes: string[] = [];
      b.onModeChange((m) => modes.push(m));
      const host = new HostClient(b.openPort());
      await host.classicReset();
      await pollUntil(() => b.mode === 'rom');
      expect(modes).toEqual(expect.arrayContaining(['reset', 'rom']));
      b.unplug();
      expect(modes[modes.length - 1]).toBe('off');
    } finally {
      b.dispose();
    }
  });
});
