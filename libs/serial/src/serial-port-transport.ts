import { existsSync } from 'node:fs';
import type { BindingInterface } from '@serialport/bindings-cpp';
import type { SerialPortStream } from '@serialport/stream';
import { FlashErrorCode } from '#contracts';
import type { LineSignals, Transport } from '#esp';
import { DisconnectListeners } from './disconnect-listeners.js';
import { ReceiveBuffer } from './receive-buffer.js';
import { deviceGone, isTransportError, portClosed, TransportError } from './transport-error.js';

/** Whether the port can drive DTR/RTS: unknown until the first attempt; pseudo-terminals cannot. */
export type ModemControlSupport = 'unknown' | 'supported' | 'unsupported';

/** Options of a node-serialport transport. */
export interface SerialPortTransportOptions {
  /** OS path: /dev/ttyUSB0, /dev/serial/by-id/..., COM3. */
  path: string;
  /** The node-serialport binding; the platform's native one when omitted (tests pass a mock). */
  binding?: BindingInterface;
  /** Called once with a human-readable warning (modem control unavailable). Defaults to console.warn. */
  onWarning?: (message: string) => void;
}

/** A Transport over a local serial port via node-serialport, opened exclusively. */
export class SerialPortTransport implements Transport {
  readonly name: string;
  readonly latencyMs = 0;
  /** The native bindings update DTR and RTS with one TIOCMSET (SetCommState on Windows). */
  readonly atomicSignals = true;
  /** Whether DTR/RTS reach the port; 'unsupported' after the first ENOTTY/EINVAL (a pty, some adapters). */
  modemControl: ModemControlSupport = 'unknown';

  private port: SerialPortStream | undefined;
  private readonly buffer: ReceiveBuffer;
  private readonly disconnects = new DisconnectListeners();
  private lines: Required<LineSignals> = { dtr: true, rts: true };
  private baud = 115_200;
  private warned = false;
  /** The open() in flight, which close() cancels. */
  private opening: Promise<void> | undefined;
  /** Bumped by close(): an open() of an older generation gives the port back. */
  private generation = 0;
  /** Declares the open port lost (set while open). */
  private lostPort: ((why: string) => void) | undefined;

  constructor(private readonly options: SerialPortTransportOptions) {
    this.name = options.path;
    this.buffer = new ReceiveBuffer(this.name);
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  get baudRate(): number {
    return this.baud;
  }

  async open(baudRate: number): Promise<void> {
    if (this.port || this.opening) {
      throw new TransportError(FlashErrorCode.PORT_BUSY, `${this.name} is already open in this transport`, {
        port: this.name,
      });
    }
    const attempt = this.openPort(baudRate, ++this.generation);
    this.opening = attempt;
    try {
      await attempt;
    } finally {
      this.opening = undefined;
    }
  }

  private async openPort(baudRate: number, generation: number): Promise<void> {
    const [{ SerialPortStream }, binding] = await Promise.all([
      import('@serialport/stream'),
      this.resolveBinding(),
    ]);
    const port = new SerialPortStream({
      binding,
      path: this.options.path,
      baudRate,
      lock: true,
      autoOpen: false,
    });
    this.buffer.reset();
    this.disconnects.rearm();
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(classifyOpenError(this.name, err)) : resolve()));
    });
    if (generation !== this.generation) {
      // close() was called while the OS was opening the port: give it straight back.
      await new Promise<void>((resolve) => port.close(() => resolve()));
      throw new TransportError(FlashErrorCode.CANCELLED, `${this.name}: open cancelled by close()`, {
        port: this.name,
      });
    }
    this.port = port;
    this.baud = baudRate;
    // Opening a tty raises DTR and RTS on Linux and macOS (both asserted: the auto-reset circuit lets the chip run).
    this.lines = { dtr: true, rts: true };
    port.on('data', (chunk: Buffer) => this.buffer.push(chunk));
    const lost = (why: string, cause?: Error): void => {
      this.lostPort = undefined;
      if (this.port !== port) return;
      this.port = undefined;
      const gone = deviceGone(this.name, why, cause);
      this.buffer.fail(gone);
      this.disconnects.fire(gone);
      if (port.isOpen) port.close(() => undefined);
    };
    this.lostPort = lost;
    // A failed background read (EIO from a hung-up tty, a vanished USB device) leaves the
    // stream nominally open but dead: treat it as the device going away.
    port.on('error', (err: Error) => lost(`read failed (${err.message})`, err));
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      lost(
        err?.disconnected ? 'the device was unplugged or reset off the bus' : 'the port was closed under us',
        err ?? undefined,
      );
    });
  }

  async close(): Promise<void> {
    const opening = this.opening;
    if (opening) {
      this.generation++;
      // The open in flight sees the new generation and releases the port before it settles.
      await opening.catch(() => undefined);
    }
    const port = this.port;
    if (!port) return;
    this.port = undefined;
    this.lostPort = undefined;
    this.buffer.fail(portClosed(this.name));
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => {
      // A close error still leaves the descriptor released by the binding; nothing more can be done.
      port.close(() => resolve());
    });
  }

  async write(data: Uint8Array): Promise<void> {
    const port = this.requireOpen();
    await new Promise<void>((resolve, reject) => {
      port.write(Buffer.from(data), (err) =>
        err ? reject(deviceGone(this.name, `write failed (${err.message})`, err)) : resolve(),
      );
    });
  }

  async read(timeoutMs: number, maxBytes?: number): Promise<Uint8Array> {
    try {
      return await this.buffer.read(timeoutMs, maxBytes);
    } catch (err) {
      // A hung-up tty (pty master gone, some USB drivers) can leave node-serialport reading EOF
      // forever instead of reporting a disconnect; the vanished device node tells the truth.
      if (
        isTransportError(err, FlashErrorCode.TIMEOUT) &&
        this.port &&
        this.name.startsWith('/') &&
        !existsSync(this.name)
      ) {
        this.lostPort?.('the device node disappeared (unplugged or hung up)');
        throw deviceGone(this.name, 'the device node disappeared (unplugged or hung up)', err);
      }
      throw err;
    }
  }

  async flushInput(): Promise<void> {
    const port = this.requireOpen();
    // The OS flush drops both directions, so first let pending output leave the UART.
    await this.call(port, 'drain', (cb) => port.drain(cb));
    await this.call(port, 'flush', (cb) => port.flush(cb));
    this.buffer.clear();
  }

  async setSignals(signals: LineSignals): Promise<void> {
    const port = this.requireOpen();
    const next = { dtr: signals.dtr ?? this.lines.dtr, rts: signals.rts ?? this.lines.rts };
    if (this.modemControl === 'unsupported') {
      this.lines = next;
      return;
    }
    try {
      // node-serialport's set() writes every flag, so the line not being changed is passed as it is.
      await this.call(port, 'set', (cb) => port.set({ dtr: next.dtr, rts: next.rts }, cb));
      this.modemControl = 'supported';
      this.lines = next;
    } catch (err) {
      if (!isNoModemControl(err)) throw err;
      this.modemControl = 'unsupported';
      this.lines = next;
      if (!this.warned) {
        this.warned = true;
        (this.options.onWarning ?? console.warn)(
          `${this.name} cannot drive DTR/RTS (${(err as Error).message}); the chip was NOT reset. ` +
            'Put it into download mode by hand (hold BOOT, press EN), or use a USB-serial adapter or an RFC 2217 server.',
        );
      }
    }
  }

  async setBaudRate(baudRate: number): Promise<void> {
    const port = this.requireOpen();
    await this.call(port, 'baud change', (cb) => port.update({ baudRate }, cb));
    this.baud = baudRate;
  }

  onDisconnect(listener: (reason: Error) => void): () => void {
    return this.disconnects.add(listener);
  }

  private requireOpen(): SerialPortStream {
    const port = this.port;
    if (!port?.isOpen) throw deviceGone(this.name, 'port is not open');
    return port;
  }

  private async resolveBinding(): Promise<BindingInterface> {
    if (this.options.binding) return this.options.binding;
    const { autoDetect } = await import('@serialport/bindings-cpp');
    return autoDetect();
  }

  private call(
    port: SerialPortStream,
    what: string,
    run: (callback: (err: Error | null) => void) => void,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      run((err) => {
        if (!err) resolve();
        else if (!port.isOpen)
          reject(deviceGone(this.name, `${what} failed: port gone (${err.message})`, err));
        else reject(err);
      });
    });
  }
}

/** ENOTTY / EINVAL from the modem-control ioctl: the port has no DTR/RTS (pty, some USB CDC stacks). */
function isNoModemControl(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /Inappropriate ioctl|ENOTTY|Invalid argument|EINVAL/i.test(message);
}

/** Maps a node-serialport open failure to PORT_BUSY / PORT_NOT_FOUND with what to do about it. */
export function classifyOpenError(port: string, err: Error): TransportError {
  const message = err.message;
  if (/Cannot lock port|EBUSY|Resource busy|Resource temporarily unavailable|Access denied/i.test(message)) {
    return new TransportError(
      FlashErrorCode.PORT_BUSY,
      `${port} is in use by another program (${message}). Close it (serial monitor, another flasher, ModemManager) and retry; ` +
        `\`fuser ${port}\` shows who holds it.`,
      { port, cause: err },
    );
  }
  if (/Permission denied|EACCES|EPERM/i.test(message)) {
    return new TransportError(
      FlashErrorCode.PORT_NOT_FOUND,
      `${port}: permission denied (${message}). Add the user to the dialout group (\`sudo usermod -aG dialout $USER\`, then log in again).`,
      { port, cause: err },
    );
  }
  if (/No such file|ENOENT|cannot find|File not found/i.test(message)) {
    return new TransportError(
      FlashErrorCode.PORT_NOT_FOUND,
      `${port} does not exist (${message}). Check the cable and list the attached ports: \`ls /dev/serial/by-id\`.`,
      { port, cause: err },
    );
  }
  return new TransportError(FlashErrorCode.PORT_NOT_FOUND, `${port} cannot be opened (${message})`, {
    port,
    cause: err,
  });
}
