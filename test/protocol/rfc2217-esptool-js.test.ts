import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { FlashErrorCode } from '#contracts';
import type { Transport } from '#esp';
import { openTransport, isTransportError } from '#serial';
import { buildImage, type SimPortHandle, SimBoard, startRfc2217Server } from '#sim';
import { WebSerialAdapter, runEsptoolJsFlash } from '../support/web-serial-adapter.js';

// Espressif's esptool-js, unmodified, flashing a simulated board through the
// network: esptool-js → Web Serial look-alike → our Rfc2217Transport → TCP →
// our RFC 2217 server → SimBoard. DTR/RTS for its default reset and every
// baud change cross the wire as RFC 2217 requests.

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));

/** Pads to a multiple of 4 with 0xFF, as every flasher does before writing. */
function padTo4(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 4) * 4).fill(0xff);
  out.set(data);
  return out;
}

/**
 * Presents an open Transport as the SimPortHandle the Web Serial adapter is
 * built on. esptool-js closes and reopens its port to change baud; those
 * reopenings map to views over the one RFC 2217 connection, and the new baud
 * reaches the server as SET-BAUDRATE.
 */
class TransportPort {
  private readonly dataListeners = new Set<(bytes: Uint8Array) => void>();
  private readonly goneListeners = new Set<(reason: Error) => void>();
  private pumping = true;
  private readonly pump: Promise<void>;
  /** Failures of fire-and-forget operations (a SimPortHandle cannot report them). */
  readonly errors: Error[] = [];

  constructor(private readonly transport: Transport) {
    this.pump = this.run();
  }

  openHandle(): SimPortHandle {
    let open = true;
    const offs: Array<() => void> = [];
    const { transport, dataListeners, goneListeners, errors } = this;
    const track = (promise: Promise<void>): void => void promise.catch((err: Error) => errors.push(err));
    return {
      write: (bytes) => track(transport.write(bytes.slice())),
      onData: (listener) => {
        dataListeners.add(listener);
        const off = (): void => void dataListeners.delete(listener);
        offs.push(off);
        return off;
      },
      setSignals: (signals) => track(transport.setSignals(signals)),
      setBaudRate: (baud) => {
        if (baud !== transport.baudRate) track(transport.setBaudRate(baud));
      },
      get baudRate() {
        return transport.baudRate;
      },
      onDisconnect: (listener) => {
        goneListeners.add(listener);
        const off = (): void => void goneListeners.delete(listener);
        offs.push(off);
        return off;
      },
      close: () => {
        open = false;
        for (const off of offs.splice(0)) off();
      },
      get isOpen() {
        return open && transport.isOpen;
      },
    };
  }

  async stop(): Promise<void> {
    this.pumping = false;
    await this.transport.close();
    await this.pump;
  }

  private async run(): Promise<void> {
    while (this.pumping) {
      try {
        const bytes = await this.transport.read(1_000);
        for (const listener of [...this.dataListeners]) listener(bytes);
      } catch (err) {
        if (isTransportError(err, FlashErrorCode.TIMEOUT)) continue;
        if (this.pumping) for (const listener of [...this.goneListeners]) listener(err as Error);
        return;
      }
    }
  }
}

describe('esptool-js through the RFC 2217 server', () => {
  beforeAll(() => {
    // esptool-js's image parser warns on console about the real ESP32 bootloader's zero-length segment.
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterAll(() => {
    jest.restoreAllMocks();
  });

  const cases = [
    { chip: 'esp32', bootloaderOffset: 0x1000, bootloader: () => fixture('bootloader_esp32.bin') },
    // No ESP32-S3 bootloader ships with the fixtures: a structurally valid one is built instead.
    {
      chip: 'esp32s3',
      bootloaderOffset: 0x0,
      bootloader: () => buildImage({ chip: 'esp32s3', codeBytes: 8000, hashAppended: true }),
    },
    { chip: 'esp32c3', bootloaderOffset: 0x0, bootloader: () => fixture('bootloader_esp32c3.bin') },
  ] as const;

  for (const c of cases) {
    it(`${c.chip}: default reset, stub, bootloader + partitions + app compressed at 921600, verified, then boots the app`, async () => {
      const board = new SimBoard({ chip: c.chip, name: `rfc-${c.chip}`, timeScale: 0.01 });
      const server = await startRfc2217Server(board, { port: 0 });
      const transport = await openTransport(server.url, { baudRate: 115_200 });
      const bridge = new TransportPort(transport);
      try {
        const port = new WebSerialAdapter({ openHandle: () => bridge.openHandle() });
        const bootloader = c.bootloader();
        const partitions = fixture('partitions_singleapp.bin');
        const application = buildImage({
          chip: c.chip,
          appDescriptor: { projectName: `rfc2217-${c.chip}`, version: 'v0.9.0' },
          codeBytes: 120_000,
        });
        const result = await runEsptoolJsFlash({
          port,
          baudrate: 921_600,
          // DIO / 80 MHz / 4 MB makes esptool-js patch bytes 2 and 3 of the bootloader header.
          flashMode: 'dio',
          flashFreq: '80m',
          flashSize: '4MB',
          files: [
            { address: c.bootloaderOffset, data: bootloader },
            { address: 0x8000, data: partitions },
            { address: 0x10000, data: application },
          ],
        });

        expect(bridge.errors).toEqual([]);
        expect(result.chipName).toBe(board.def.displayName);
        expect(result.mac).toBe(board.mac);
        expect(result.isStub).toBe(true);
        expect(result.log).toMatch(/Hash of data verified/);
        // The baud change went over the wire: the server set the board's host side, the stub switched the chip.
        expect(transport.baudRate).toBe(921_600);
        expect(board.chipBaud).toBe(921_600);

        const expectedBoot = padTo4(bootloader);
        expectedBoot[2] = 0x02; // DIO
        expectedBoot[3] = 0x2f; // 4 MB | 80 MHz
        expect(board.flash.compare(c.bootloaderOffset, expectedBoot)).toEqual([]);
        expect(board.flash.compare(0x8000, partitions)).toEqual([]);
        expect(board.flash.compare(0x10000, padTo4(application))).toEqual([]);
        expect(board.internalErrors).toEqual([]);

        // A reset pulse on RTS through the server (IO0 left high) boots what was written.
        board.clearConsole();
        await transport.setSignals({ dtr: false, rts: true }); // EN low
        await transport.setSignals({ rts: false }); // EN rises, IO0 high: flash boot
        await board.waitForConsole(new RegExp(`Project name:\\s+rfc2217-${c.chip}`), 5_000);
      } finally {
        await bridge.stop();
        await server.close();
        board.dispose();
      }
    });
  }
});
