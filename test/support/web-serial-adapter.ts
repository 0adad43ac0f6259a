/**
 * A Node stand-in for the browser's Web Serial `SerialPort`, built over a
 * SimPortHandle, so that Espressif's esptool-js (written for browsers) can
 * drive a simulated board unmodified. Any source of SimPortHandles works: an
 * in-process SimBoard, or a handle that speaks RFC 2217 to a remote one.
 */
import { createHash } from 'node:crypto';
import { ESPLoader, Transport } from 'esptool-js';
import { type SimPortHandle } from '#sim';

/** What Web Serial's getInfo() returns. */
export interface WebSerialPortInfo {
  usbVendorId?: number;
  usbProductId?: number;
}

/** The subset of Web Serial's SerialOptions esptool-js passes. */
export interface WebSerialOpenOptions {
  baudRate: number;
}

/** The signals setSignals() takes in Web Serial. */
export interface WebSerialSignals {
  dataTerminalReady?: boolean;
  requestToSend?: boolean;
  break?: boolean;
}

/** Options of the adapter. */
export interface WebSerialAdapterOptions {
  /** Opens the underlying port; called at every open() (esptool-js closes and reopens to change baud). */
  openHandle: () => SimPortHandle;
  /** USB IDs the "browser" reports; 0x303A/0x1001 makes esptool-js pick the USB-Serial/JTAG reset. */
  info?: WebSerialPortInfo;
}

/** Mirrors the browser: errors are DOMExceptions with a name. */
function domError(name: string, message: string): DOMException {
  return new DOMException(message, name);
}

/** A Web Serial SerialPort over a simulated port handle. */
export class WebSerialAdapter {
  private handle: SimPortHandle | null = null;
  private readableStream: ReadableStream<Uint8Array> | null = null;
  private writableStream: WritableStream<Uint8Array> | null = null;
  /** Every open() of the underlying handle, for tests that count reopenings. */
  opens = 0;

  constructor(private readonly options: WebSerialAdapterOptions) {}

  get readable(): ReadableStream<Uint8Array> | null {
    return this.readableStream;
  }

  get writable(): WritableStream<Uint8Array> | null {
    return this.writableStream;
  }

  getInfo(): WebSerialPortInfo {
    return { ...this.options.info };
  }

  async open(options: WebSerialOpenOptions): Promise<void> {
    if (this.handle) throw domError('InvalidStateError', 'The port is already open.');
    let handle: SimPortHandle;
    try {
      handle = this.options.openHandle();
    } catch (err) {
      throw domError('NetworkError', `Failed to open serial port: ${(err as Error).message}`);
    }
    this.handle = handle;
    this.opens++;
    handle.setBaudRate(options.baudRate);
    let offData: () => void = () => undefined;
    let offDisconnect: () => void = () => undefined;
    this.readableStream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        offData = handle.onData((bytes) => controller.enqueue(bytes.slice()));
        offDisconnect = handle.onDisconnect((reason) => {
          controller.error(domError('NetworkError', `The device has been lost: ${reason.message}`));
          this.readableStream = null;
          this.writableStream = null;
          this.handle = null;
        });
      },
      cancel: () => {
        offData();
      },
    });
    this.writableStream = new WritableStream<Uint8Array>({
      write: (chunk) => {
        if (!handle.isOpen) throw domError('NetworkError', 'The device has been lost.');
        handle.write(chunk);
      },
    });
    void offDisconnect;
    return Promise.resolve();
  }

  async setSignals(signals: WebSerialSignals): Promise<void> {
    if (!this.handle) throw domError('InvalidStateError', 'The port is closed.');
    // Only the members present change; both present is one update, as with TIOCMSET.
    this.handle.setSignals({ dtr: signals.dataTerminalReady, rts: signals.requestToSend });
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.readableStream?.locked || this.writableStream?.locked) {
      throw domError('InvalidStateError', 'Cannot close a port with locked streams.');
    }
    const handle = this.handle;
    this.handle = null;
    this.readableStream = null;
    this.writableStream = null;
    handle?.close();
    return Promise.resolve();
  }
}

// ---- A reusable esptool-js session (also used over RFC 2217) ----

/** One file for esptool-js to write. */
export interface EsptoolJsFile {
  address: number;
  data: Uint8Array;
}

/** esptool-js 0.7.0 prints some trace lines to the console even with tracing off; keep them in the session log instead. */
class QuietTransport extends Transport {
  sink: (line: string) => void = () => undefined;

  override trace(message: string): void {
    this.sink(`TRACE ${message}`);
  }
}

/** Options of runEsptoolJsFlash(). */
export interface EsptoolJsFlashOptions {
  port: WebSerialAdapter;
  files: EsptoolJsFile[];
  /** Baud for the flashing phase (the ROM is reached at 115 200). */
  baudrate?: number;
  flashMode?: 'qio' | 'qout' | 'dio' | 'dout' | 'keep';
  flashFreq?: '40m' | '26m' | '20m' | '80m' | 'keep';
  flashSize?: 'keep' | 'detect' | '1MB' | '2MB' | '4MB' | '8MB' | '16MB';
  compress?: boolean;
  /** After writing, read this range back through the stub's READ_FLASH. */
  readBack?: { address: number; size: number };
}

/** What an esptool-js session reported. */
export interface EsptoolJsResult {
  /** Description from esptool-js, e.g. "ESP32-D0WD-V3 (revision 3)". */
  description: string;
  chipName: string;
  mac: string;
  isStub: boolean;
  /** Everything esptool-js printed. */
  log: string;
  /** The range asked for with `readBack`, as esptool-js read it. */
  readBack?: Uint8Array;
}

/**
 * Runs Espressif's esptool-js end to end: connect with its default reset,
 * identify, load its stub, raise the baud, write the files (verifying each by
 * MD5) and disconnect. Throws whatever esptool-js throws.
 */
export async function runEsptoolJsFlash(options: EsptoolJsFlashOptions): Promise<EsptoolJsResult> {
  let log = '';
  const terminal = {
    clean: (): void => undefined,
    writeLine: (data: string): void => void (log += `${data}\n`),
    write: (data: string): void => void (log += data),
  };
  // esptool-js is typed against the browser's SerialPort; the adapter implements the part it uses.
  const transport = new QuietTransport(options.port, false);
  transport.sink = (line) => void (log += `${line}\n`);
  const loader = new ESPLoader({
    transport,
    baudrate: options.baudrate ?? 921600,
    romBaudrate: 115200,
    terminal,
  });
  try {
    const description = await loader.main('default_reset');
    const mac = await loader.chip.readMac(loader);
    await loader.writeFlash({
      fileArray: options.files.map((f) => ({ address: f.address, data: f.data })),
      flashMode: options.flashMode ?? 'keep',
      flashFreq: options.flashFreq ?? 'keep',
      flashSize: options.flashSize ?? 'keep',
      eraseAll: false,
      compress: options.compress ?? true,
      calculateMD5Hash: (image: Uint8Array) => createHash('md5').update(image).digest('hex'),
    });
    const readBack = options.readBack
      ? await loader.readFlash(options.readBack.address, options.readBack.size)
      : undefined;
    return { description, chipName: loader.chip.CHIP_NAME, mac, isStub: loader.IS_STUB, log, readBack };
  } finally {
    await transport.disconnect();
  }
}
