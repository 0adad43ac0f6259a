/**
 * `socket://host:port`: a serial port shared over plain TCP (ser2net in raw
 * mode, ESP-Link, a Wi-Fi serial bridge), as pyserial's socket:// handler
 * does it — bytes only. There are no modem-control lines and no baud
 * setting on the wire, so the chip cannot be reset from here and the link
 * runs at whatever rate the far side's UART is set to.
 */
import { connect, type Socket } from 'node:net';
import { FlashErrorCode } from '#contracts';
import type { LineSignals, Transport } from '#esp';
import { DisconnectListeners } from './disconnect-listeners.js';
import { ReceiveBuffer } from './receive-buffer.js';
import { deviceGone, portClosed, TransportError } from './transport-error.js';

/** How long the TCP connect may take. */
export const SOCKET_CONNECT_TIMEOUT_MS = 5_000;
/** How long close() waits for the far side to finish the TCP close. */
const CLOSE_GRACE_MS = 1_000;

/** Options of a raw TCP transport. */
export interface SocketTransportOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  /** Told once, on the first DTR/RTS change (which cannot reach the chip). */
  onWarning?: (message: string) => void;
}

/** Parses `socket://host:port` (IPv6 as `[::1]`); pyserial's `?logging=…` option is accepted and ignored. */
export function parseSocketUrl(url: string): Pick<SocketTransportOptions, 'host' | 'port'> {
  const match = /^socket:\/\/(\[[^\]]+\]|[^:/?]+):(\d+)\/?(\?.*)?$/i.exec(url.trim());
  const invalid = (why: string) =>
    new TransportError(FlashErrorCode.INVALID_ARGUMENT, `${url}: ${why}; expected socket://<host>:<port>`, {
      port: url,
    });
  if (!match) throw invalid('not a socket URL');
  const port = Number(match[2]);
  if (!(port > 0 && port < 65_536)) throw invalid(`port ${match[2]} is out of range`);
  for (const item of (match[3] ?? '').replace(/^\?/, '').split('&').filter(Boolean)) {
    if (item.split('=')[0] !== 'logging') throw invalid(`unknown option "${item}"`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

/** A Transport over a raw TCP connection to a serial bridge. */
export class SocketTransport implements Transport {
  readonly name: string;
  /** Nothing is sent for DTR/RTS, so "both at once" holds trivially. */
  readonly atomicSignals = true;
  /** Measured at connect time (the TCP handshake), so protocol timeouts stretch over slow links. */
  latencyMs = 0;

  private socket: Socket | undefined;
  private readonly buffer: ReceiveBuffer;
  private readonly disconnects = new DisconnectListeners();
  private baud = 115_200;
  private warned = false;
  private closing = false;

  constructor(private readonly options: SocketTransportOptions) {
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.name = `socket://${host}:${options.port}`;
    this.buffer = new ReceiveBuffer(this.name);
  }

  get isOpen(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  get baudRate(): number {
    return this.baud;
  }

  async open(baudRate: number): Promise<void> {
    if (this.isOpen)
      throw new TransportError(FlashErrorCode.PORT_BUSY, `${this.name} is already open in this transport`, {
        port: this.name,
      });
    this.closing = false;
    this.buffer.reset();
    this.disconnects.rearm();
    const started = Date.now();
    const socket = await this.connectSocket();
    this.latencyMs = Date.now() - started;
    this.socket = socket;
    this.baud = baudRate;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) =>
      this.buffer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
    );
    socket.on('error', () => {
      // 'close' follows every 'error'; the loss is reported there.
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.closing) return;
      const err = deviceGone(this.name, 'the connection was closed by the other side');
      this.buffer.fail(err);
      this.disconnects.fire(err);
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.closing = true;
    this.buffer.fail(portClosed(this.name));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, CLOSE_GRACE_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
    this.socket = undefined;
  }

  write(data: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(deviceGone(this.name, 'port is not open'));
    return new Promise<void>((resolve, reject) => {
      socket.write(data, (err) => (err ? reject(deviceGone(this.name, err.message, err)) : resolve()));
    });
  }

  read(timeoutMs: number, maxBytes?: number): Promise<Uint8Array> {
    return this.buffer.read(timeoutMs, maxBytes);
  }

  flushInput(): Promise<void> {
    this.buffer.clear();
    return Promise.resolve();
  }

  setSignals(signals: LineSignals): Promise<void> {
    void signals;
    if (!this.warned) {
      this.warned = true;
      (this.options.onWarning ?? ((m: string) => console.warn(m)))(
        `${this.name} carries no DTR/RTS: the chip was NOT reset. Put it into download mode yourself (hold BOOT, press EN), or use an rfc2217:// server.`,
      );
    }
    return Promise.resolve();
  }

  setBaudRate(baudRate: number): Promise<void> {
    // The far side's UART rate is set there; only the bookkeeping changes here.
    this.baud = baudRate;
    return Promise.resolve();
  }

  onDisconnect(listener: (reason: Error) => void): () => void {
    return this.disconnects.add(listener);
  }

  private connectSocket(): Promise<Socket> {
    const { host, port } = this.options;
    const timeoutMs = this.options.connectTimeoutMs ?? SOCKET_CONNECT_TIMEOUT_MS;
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new TransportError(
            FlashErrorCode.PORT_NOT_FOUND,
            `${this.name}: no answer within ${timeoutMs} ms; check the address and that the bridge runs`,
            { port: this.name },
          ),
        );
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const refused = err.code === 'ECONNREFUSED';
        reject(
          new TransportError(
            FlashErrorCode.PORT_NOT_FOUND,
            refused
              ? `${this.name}: connection refused; nothing listens there. Start the serial bridge or check the port number`
              : `${this.name}: cannot connect (${err.code ?? err.message}); check the host, the network and firewalls`,
            { port: this.name, cause: err },
          ),
        );
      });
    });
  }
}
