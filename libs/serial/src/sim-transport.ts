import { FlashErrorCode } from '#contracts';
import type { LineSignals, Transport } from '#esp';
import type { SimPortHandle } from '#sim';
import { DisconnectListeners } from './disconnect-listeners.js';
import type { ModemLines, ModemLineSource } from './modem-lines.js';
import { ReceiveBuffer } from './receive-buffer.js';
import { deviceGone, portClosed, TransportError } from './transport-error.js';

/** Anything that hands out the host side of a simulated UART (a SimBoard does). */
export interface SimPortSource {
  readonly name: string;
  openPort(): SimPortHandle;
}

/** The URL form of a simulated board's port. */
export function simPortName(boardName: string): string {
  return `sim://${boardName}`;
}

/** A Transport over a simulated board's in-process port (no OS, no network). */
export class SimTransport implements Transport, ModemLineSource {
  readonly name: string;
  readonly latencyMs = 0;
  /** SimPortHandle.setSignals applies both lines in one update. */
  readonly atomicSignals = true;

  private handle: SimPortHandle | undefined;
  private readonly buffer: ReceiveBuffer;
  private readonly disconnects = new DisconnectListeners();
  private unsubscribe: Array<() => void> = [];
  private baud = 115_200;
  private readonly modemListeners = new Set<(lines: ModemLines, raw: number) => void>();

  constructor(private readonly source: SimPortSource) {
    this.name = simPortName(source.name);
    this.buffer = new ReceiveBuffer(this.name);
  }

  get isOpen(): boolean {
    return this.handle?.isOpen ?? false;
  }

  get baudRate(): number {
    return this.baud;
  }

  open(baudRate: number): Promise<void> {
    if (this.handle?.isOpen) {
      return Promise.reject(
        new TransportError(FlashErrorCode.PORT_BUSY, `${this.name} is already open in this transport`, {
          port: this.name,
        }),
      );
    }
    let handle: SimPortHandle;
    try {
      handle = this.source.openPort();
    } catch (err) {
      return Promise.reject(classifySimOpenError(this.name, err));
    }
    this.handle = handle;
    this.buffer.reset();
    this.disconnects.rearm();
    handle.setBaudRate(baudRate);
    this.baud = baudRate;
    this.unsubscribe = [
      handle.onData((bytes) => this.buffer.push(bytes)),
      handle.onDisconnect((reason) => {
        const err = deviceGone(this.name, `the board went away (${reason.message})`, reason);
        this.detach();
        this.buffer.fail(err);
        this.disconnects.fire(err);
      }),
      // A fixture's lid (or anything else on CTS/DSR/RI/CD): passed on as the RFC 2217 client does.
      handle.onModemInputs?.((inputs) => {
        for (const listener of [...this.modemListeners]) listener({ ...inputs }, 0);
      }) ?? (() => undefined),
    ];
    return Promise.resolve();
  }

  close(): Promise<void> {
    const handle = this.handle;
    if (!handle) return Promise.resolve();
    this.detach();
    if (handle.isOpen) handle.close();
    this.buffer.fail(portClosed(this.name));
    return Promise.resolve();
  }

  write(data: Uint8Array): Promise<void> {
    return settle(() => this.requireOpen().write(data.slice()));
  }

  read(timeoutMs: number, maxBytes?: number): Promise<Uint8Array> {
    return this.buffer.read(timeoutMs, maxBytes);
  }

  flushInput(): Promise<void> {
    this.buffer.clear();
    return Promise.resolve();
  }

  setSignals(signals: LineSignals): Promise<void> {
    return settle(() => {
      const update: LineSignals = {};
      if (signals.dtr !== undefined) update.dtr = signals.dtr;
      if (signals.rts !== undefined) update.rts = signals.rts;
      this.requireOpen().setSignals(update);
    });
  }

  setBaudRate(baudRate: number): Promise<void> {
    return settle(() => {
      this.requireOpen().setBaudRate(baudRate);
      this.baud = baudRate;
    });
  }

  onDisconnect(listener: (reason: Error) => void): () => void {
    return this.disconnects.add(listener);
  }

  /** The board's modem inputs while the port is open (undefined for a handle that carries none). */
  get modemLines(): ModemLines | undefined {
    const inputs = this.handle?.isOpen ? this.handle.modemInputs : undefined;
    return inputs ? { ...inputs } : undefined;
  }

  onModemLines(listener: (lines: ModemLines, raw: number) => void): () => void {
    this.modemListeners.add(listener);
    return () => this.modemListeners.delete(listener);
  }

  requestModemLines(): Promise<ModemLines> {
    return settle(() => {
      this.requireOpen();
    }).then(() => {
      const lines = this.modemLines;
      if (!lines) throw deviceGone(this.name, 'this simulated port carries no modem inputs');
      return lines;
    });
  }

  private requireOpen(): SimPortHandle {
    const handle = this.handle;
    if (!handle?.isOpen) throw deviceGone(this.name, 'port is not open');
    return handle;
  }

  private detach(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.handle = undefined;
  }
}

/** Runs a synchronous step and reports its outcome as a promise (a throw becomes a rejection). */
function settle(step: () => void): Promise<void> {
  try {
    step();
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** Maps whatever the simulator threw on openPort() to a typed open error. */
function classifySimOpenError(port: string, err: unknown): TransportError {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const busy =
    code === FlashErrorCode.PORT_BUSY ||
    code === 'SIM_PORT_BUSY' ||
    code === 'EBUSY' ||
    /busy|already open|in use/i.test(message);
  if (busy) {
    return new TransportError(
      FlashErrorCode.PORT_BUSY,
      `${port} is held by another client (${message}); close that one first`,
      { port, cause: err },
    );
  }
  return new TransportError(
    FlashErrorCode.PORT_NOT_FOUND,
    `${port} cannot be opened (${message}); is the board plugged in?`,
    {
      port,
      cause: err,
    },
  );
}
