import { connect, type Socket } from 'node:net';
import { FlashErrorCode } from '#contracts';
import type { LineSignals, Transport } from '#esp';
import { DisconnectListeners } from './disconnect-listeners.js';
import { decodeModemState, type ModemLines, type ModemLineSource } from './modem-lines.js';
import { ReceiveBuffer } from './receive-buffer.js';
import {
  escapeIac,
  type NegotiationVerb,
  negotiationBytes,
  subnegotiationBytes,
  Telnet,
  TelnetOption,
  TelnetParser,
} from './telnet.js';
import { deviceGone, portClosed, TransportError } from './transport-error.js';

/** RFC 2217 COM-PORT-OPTION sub-commands sent by a client; the server answers with code + 100. */
export const ComPortCommand = {
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
  NOTIFY_LINESTATE: 6,
  NOTIFY_MODEMSTATE: 7,
  FLOWCONTROL_SUSPEND: 8,
  FLOWCONTROL_RESUME: 9,
  SET_LINESTATE_MASK: 10,
  SET_MODEMSTATE_MASK: 11,
  PURGE_DATA: 12,
} as const;

/** Offset between a client sub-command and the server's answer. */
export const SERVER_REPLY_OFFSET = 100;

/** SET-CONTROL values for the lines a reset drives, and "no flow control". */
export const ComPortControl = {
  NO_FLOW_CONTROL: 1,
  DTR_ON: 8,
  DTR_OFF: 9,
  RTS_ON: 11,
  RTS_OFF: 12,
} as const;

/** PURGE-DATA values. */
export const ComPortPurge = { RECEIVE: 1, TRANSMIT: 2, BOTH: 3 } as const;

/** How long the TCP connect may take. */
export const RFC2217_CONNECT_TIMEOUT_MS = 5_000;
/** Floor of the wait for option agreement and for each acknowledged setting; grows with the measured RTT. */
export const RFC2217_NETWORK_TIMEOUT_MS = 3_000;
/** An acknowledgement may take this many smoothed round trips before it counts as lost (when above the floor). */
const ACK_TIMEOUT_RTT_MULTIPLE = 8;
/** Weight of a new RTT sample in the smoothed estimate (RFC 6298's alpha). */
const RTT_SMOOTHING = 1 / 8;
/** How long close() waits for the server to finish the TCP close before dropping the socket. */
const CLOSE_GRACE_MS = 1_000;
/** Text a server sent instead of negotiating (a refusal message) that we quote in errors. */
const MAX_PREAMBLE_BYTES = 256;

/** Options of an RFC 2217 client transport. */
export interface Rfc2217TransportOptions {
  host: string;
  port: number;
  /**
   * Do not wait for SET-CONTROL acknowledgements (pyserial's `ign_set_control`).
   * Needed with esp_rfc2217_server, which never acknowledges DTR/RTS changes.
   */
  ignoreSetControlAck?: boolean;
  /** Floor of negotiation/ack timeouts (RFC2217_NETWORK_TIMEOUT_MS by default). */
  networkTimeoutMs?: number;
  /** TCP connect timeout (RFC2217_CONNECT_TIMEOUT_MS by default). */
  connectTimeoutMs?: number;
}

/** Parses `rfc2217://host:port[?ign_set_control&timeout=<s>]` (pyserial's `/option` path form is accepted too). */
export function parseRfc2217Url(url: string): Rfc2217TransportOptions {
  const invalid = (why: string): TransportError =>
    new TransportError(
      FlashErrorCode.INVALID_ARGUMENT,
      `${url}: ${why}; expected rfc2217://<host>:<port>[?ign_set_control&timeout=<seconds>]`,
      { port: url },
    );
  const match = /^rfc2217:\/\/(\[[^\]]+\]|[^:/?]+):(\d+)([/?].*)?$/i.exec(url.trim());
  if (!match) throw invalid('not an RFC 2217 URL');
  const host = match[1].replace(/^\[|\]$/g, '');
  const port = Number(match[2]);
  if (!(port > 0 && port < 65_536)) throw invalid(`port ${match[2]} is out of range`);
  const options: Rfc2217TransportOptions = { host, port };
  const rest = (match[3] ?? '').replace(/^[/?]/, '');
  for (const item of rest.split(/[&/]/).filter((part) => part.length > 0)) {
    const [key, value] = item.split('=', 2) as [string, string | undefined];
    switch (key) {
      case 'ign_set_control':
        options.ignoreSetControlAck = true;
        break;
      case 'timeout': {
        const seconds = Number(value);
        if (!(seconds > 0)) throw invalid(`timeout must be a positive number of seconds (got ${value})`);
        options.networkTimeoutMs = seconds * 1000;
        break;
      }
      case 'poll_modem':
      case 'logging':
        // pyserial options with no meaning here; accepted so pyserial URLs work unchanged.
        break;
      default:
        throw invalid(`unknown option "${key}"`);
    }
  }
  return options;
}

type Side = 'local' | 'remote';
type OptionState = 'off' | 'requested' | 'on';

interface PendingAck {
  sentAt: number;
  expect: Uint8Array | undefined;
  name: string;
  resolve: (value: Uint8Array) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Options both sides should enable; anything else the server offers is refused. */
const WANTED_LOCAL = new Set<number>([TelnetOption.BINARY, TelnetOption.SGA, TelnetOption.COM_PORT]);
const WANTED_REMOTE = new Set<number>([
  TelnetOption.BINARY,
  TelnetOption.SGA,
  TelnetOption.COM_PORT,
  TelnetOption.ECHO,
]);

/** A Transport to a serial port shared over TCP by an RFC 2217 (Telnet COM-PORT-OPTION) server. */
export class Rfc2217Transport implements Transport, ModemLineSource {
  readonly name: string;
  /** SET-CONTROL changes one line per request. */
  readonly atomicSignals = false;
  /** Last NOTIFY-MODEMSTATE byte from the server (CTS/DSR/RI/CD and deltas), if any. */
  modemState: number | undefined;
  /** Last NOTIFY-LINESTATE byte from the server, if any. */
  lineState: number | undefined;

  private readonly options: Required<Rfc2217TransportOptions>;
  private socket: Socket | undefined;
  private opened = false;
  private closing = false;
  private baud = 115_200;
  private smoothedRttMs: number | undefined;
  private readonly buffer: ReceiveBuffer;
  private readonly disconnects = new DisconnectListeners();
  private readonly pendingAcks = new Map<number, PendingAck[]>();
  private readonly optionStates = new Map<string, OptionState>();
  private optionWaiters: Array<() => void> = [];
  /** Set while a PURGE of the receive side is in flight: bytes sent by the server before its ack are stale. */
  private purgesInFlight = 0;
  private preamble: number[] = [];
  private connectionLost: ((err: Error) => void) | undefined;
  /** The open() in flight, which close() cancels. */
  private opening: Promise<void> | undefined;
  /** Bumped by close(): an open() of an older generation gives up. */
  private generation = 0;
  /** The socket of an open() still connecting. */
  private connecting: Socket | undefined;
  private readonly modemListeners = new Set<(lines: ModemLines, raw: number) => void>();

  constructor(options: Rfc2217TransportOptions) {
    this.options = {
      ignoreSetControlAck: false,
      networkTimeoutMs: RFC2217_NETWORK_TIMEOUT_MS,
      connectTimeoutMs: RFC2217_CONNECT_TIMEOUT_MS,
      ...options,
    };
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.name = `rfc2217://${host}:${options.port}`;
    this.buffer = new ReceiveBuffer(this.name);
  }

  get isOpen(): boolean {
    return this.opened;
  }

  get baudRate(): number {
    return this.baud;
  }

  /** Smoothed round trip to the server, measured during negotiation and from every acknowledged request. */
  get latencyMs(): number {
    return this.smoothedRttMs ?? 0;
  }

  async open(baudRate: number): Promise<void> {
    if (this.socket || this.opening) {
      throw new TransportError(FlashErrorCode.PORT_BUSY, `${this.name} is already open in this transport`, {
        port: this.name,
      });
    }
    const attempt = this.openSocket(baudRate, ++this.generation);
    this.opening = attempt;
    try {
      await attempt;
    } finally {
      this.opening = undefined;
    }
  }

  private async openSocket(baudRate: number, generation: number): Promise<void> {
    this.closing = false;
    this.buffer.reset();
    this.disconnects.rearm();
    this.optionStates.clear();
    this.preamble = [];
    this.purgesInFlight = 0;
    // The lines are the new connection's: the server reports them when COM-PORT is agreed.
    this.modemState = undefined;
    this.smoothedRttMs = undefined;
    const socket = await this.connectSocket();
    if (generation !== this.generation) {
      socket.destroy();
      throw this.cancelled();
    }
    this.socket = socket;
    try {
      await this.negotiate(socket);
      await this.configure(baudRate);
      if (generation !== this.generation) throw this.cancelled();
      this.opened = true;
    } catch (err) {
      this.socket = undefined;
      this.rejectPending(deviceGone(this.name, 'open failed'));
      await endGracefully(socket);
      throw err;
    }
  }

  private cancelled(): TransportError {
    return new TransportError(FlashErrorCode.CANCELLED, `${this.name}: open cancelled by close()`, {
      port: this.name,
    });
  }

  async close(): Promise<void> {
    const opening = this.opening;
    if (opening) {
      // Cancel the open in flight and wait until it has let go of the connection.
      this.generation++;
      this.connecting?.destroy();
      const err = this.cancelled();
      this.connectionLost?.(err);
      this.rejectPending(err);
      await opening.catch(() => undefined);
    }
    const socket = this.socket;
    if (!socket) return;
    this.closing = true;
    this.opened = false;
    this.rejectPending(portClosed(this.name));
    this.buffer.fail(portClosed(this.name));
    await endGracefully(socket);
  }

  async write(data: Uint8Array): Promise<void> {
    const socket = this.requireOpen();
    await this.send(socket, escapeIac(data));
  }

  read(timeoutMs: number, maxBytes?: number): Promise<Uint8Array> {
    return this.buffer.read(timeoutMs, maxBytes);
  }

  async flushInput(): Promise<void> {
    this.requireOpen();
    this.buffer.clear();
    this.purgesInFlight++;
    try {
      await this.request(ComPortCommand.PURGE_DATA, Uint8Array.of(ComPortPurge.RECEIVE), 'purge');
    } finally {
      this.purgesInFlight--;
    }
    this.buffer.clear();
  }

  async setSignals(signals: LineSignals): Promise<void> {
    this.requireOpen();
    // Both requests leave in one burst and are acknowledged together: the server applies them
    // microseconds apart, so the in-between line state (e.g. DTR and RTS both asserted, which
    // releases EN while IO0 is still high) does not last a network round trip.
    const changes: Array<Promise<void>> = [];
    if (signals.dtr !== undefined) {
      changes.push(this.setControl(signals.dtr ? ComPortControl.DTR_ON : ComPortControl.DTR_OFF, 'DTR'));
    }
    if (signals.rts !== undefined) {
      changes.push(this.setControl(signals.rts ? ComPortControl.RTS_ON : ComPortControl.RTS_OFF, 'RTS'));
    }
    await Promise.all(changes);
  }

  /** The modem inputs from the server's last NOTIFY-MODEMSTATE (servers send one when COM-PORT is agreed). */
  get modemLines(): ModemLines | undefined {
    return this.modemState === undefined ? undefined : decodeModemState(this.modemState);
  }

  onModemLines(listener: (lines: ModemLines, raw: number) => void): () => void {
    this.modemListeners.add(listener);
    return () => this.modemListeners.delete(listener);
  }

  /**
   * Asks the server for the modem inputs (a NOTIFY-MODEMSTATE from the client, as pyserial's
   * poll_modem does) and resolves with the next report: a change notified just before the answer
   * counts as that report, so a caller that needs the final state watches onModemLines instead.
   */
  requestModemLines(timeoutMs: number): Promise<ModemLines> {
    const socket = this.requireOpen();
    return new Promise<ModemLines>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new TransportError(
            FlashErrorCode.TIMEOUT,
            `${this.name}: the server did not report its modem lines within ${timeoutMs} ms`,
            { port: this.name },
          ),
        );
      }, timeoutMs);
      const offLines = this.onModemLines((lines) => {
        off();
        resolve(lines);
      });
      const offGone = this.disconnects.add((reason) => {
        off();
        reject(reason);
      });
      const off = (): void => {
        clearTimeout(timer);
        offLines();
        offGone();
      };
      this.send(
        socket,
        subnegotiationBytes(TelnetOption.COM_PORT, Uint8Array.of(ComPortCommand.NOTIFY_MODEMSTATE)),
      ).catch((err: Error) => {
        off();
        reject(err);
      });
    });
  }

  /**
   * SET-MODEMSTATE-MASK: the server notifies a modem change as (state | deltas) AND this mask, and
   * not at all when that is zero. Resolves with the mask the server applied.
   */
  async setModemStateMask(mask: number): Promise<number> {
    this.requireOpen();
    const applied = await this.request(
      ComPortCommand.SET_MODEMSTATE_MASK,
      Uint8Array.of(mask & 0xff),
      'modem-state mask',
      true,
    );
    return applied[0];
  }

  async setBaudRate(baudRate: number): Promise<void> {
    this.requireOpen();
    await this.request(ComPortCommand.SET_BAUDRATE, encodeBaud(baudRate), 'baud rate', true);
    this.baud = baudRate;
  }

  onDisconnect(listener: (reason: Error) => void): () => void {
    return this.disconnects.add(listener);
  }

  private requireOpen(): Socket {
    if (!this.opened || !this.socket) throw deviceGone(this.name, 'port is not open');
    return this.socket;
  }

  private connectSocket(): Promise<Socket> {
    const { host, port, connectTimeoutMs } = this.options;
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      this.connecting = socket;
      socket.once('close', () => {
        // Destroyed by close() before the connection was up (after an error this is a no-op).
        clearTimeout(timer);
        this.connecting = undefined;
        reject(this.cancelled());
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new TransportError(
            FlashErrorCode.PORT_NOT_FOUND,
            `${this.name}: no answer within ${connectTimeoutMs} ms; check the host address, that the server runs, and firewalls`,
            { port: this.name },
          ),
        );
      }, connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.connecting = undefined;
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        socket.setNoDelay(true);
        this.attach(socket);
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(classifyConnectError(this.name, err));
      });
    });
  }

  private attach(socket: Socket): void {
    const parser = new TelnetParser({
      data: (bytes) => this.onData(bytes),
      negotiation: (verb, option) => this.onNegotiation(verb, option),
      subnegotiation: (option, payload) => this.onSubnegotiation(option, payload),
    });
    socket.on('data', (chunk: Buffer) => parser.feed(chunk));
    socket.on('error', () => {
      // 'close' follows every 'error'; the loss is handled there.
    });
    socket.on('close', () => this.onSocketClosed(socket));
  }

  private onSocketClosed(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    const wasOpen = this.opened;
    this.opened = false;
    const text = Buffer.from(this.preamble).toString('latin1').trim();
    const err = deviceGone(
      this.name,
      wasOpen
        ? 'the RFC 2217 server closed the connection'
        : `the server closed the connection${text ? `: "${text}"` : ''}`,
    );
    const lostDuringOpen = this.connectionLost;
    this.rejectPending(err);
    if (this.closing) return;
    lostDuringOpen?.(closedDuringOpen(this.name, text));
    this.buffer.fail(err);
    if (wasOpen) this.disconnects.fire(err);
  }

  /** Rejects everything waiting on the server. */
  private rejectPending(err: Error): void {
    for (const queue of this.pendingAcks.values()) {
      for (const pending of queue) {
        clearTimeout(pending.timer);
        pending.reject(err);
      }
    }
    this.pendingAcks.clear();
    this.connectionLost = undefined;
  }

  private onData(bytes: Uint8Array): void {
    if (!this.opened && this.preamble.length < MAX_PREAMBLE_BYTES) {
      this.preamble.push(...bytes.subarray(0, MAX_PREAMBLE_BYTES - this.preamble.length));
    }
    if (this.purgesInFlight > 0) return;
    this.buffer.push(bytes);
  }

  private async negotiate(socket: Socket): Promise<void> {
    const started = performance.now();
    const offers: Array<[NegotiationVerb, number]> = [
      [Telnet.WILL, TelnetOption.COM_PORT],
      [Telnet.DO, TelnetOption.COM_PORT],
      [Telnet.WILL, TelnetOption.BINARY],
      [Telnet.DO, TelnetOption.BINARY],
      [Telnet.WILL, TelnetOption.SGA],
      [Telnet.DO, TelnetOption.SGA],
    ];
    for (const [verb, option] of offers) {
      this.setOptionState(verb === Telnet.WILL ? 'local' : 'remote', option, 'requested');
    }
    await this.send(socket, Buffer.concat(offers.map(([verb, option]) => negotiationBytes(verb, option))));
    await this.waitFor(
      () => this.optionState('local', TelnetOption.COM_PORT) === 'on',
      this.options.networkTimeoutMs,
      () =>
        new TransportError(
          FlashErrorCode.PORT_NOT_FOUND,
          `${this.name} did not agree to COM-PORT-OPTION within ${this.options.networkTimeoutMs} ms; is it an RFC 2217 server (not a raw socket)?`,
          { port: this.name },
        ),
    );
    this.addRttSample(performance.now() - started);
  }

  private async configure(baudRate: number): Promise<void> {
    // Sent back to back, then awaited together: one round trip for the four settings.
    await Promise.all([
      this.request(ComPortCommand.SET_BAUDRATE, encodeBaud(baudRate), 'baud rate', true),
      this.request(ComPortCommand.SET_DATASIZE, Uint8Array.of(8), 'data size', true),
      this.request(ComPortCommand.SET_PARITY, Uint8Array.of(1), 'parity', true),
      this.request(ComPortCommand.SET_STOPSIZE, Uint8Array.of(1), 'stop size', true),
    ]);
    this.baud = baudRate;
    await this.setControl(ComPortControl.NO_FLOW_CONTROL, 'flow control');
  }

  private async setControl(value: number, what: string): Promise<void> {
    const payload = Uint8Array.of(value);
    if (this.options.ignoreSetControlAck) {
      await this.send(
        this.socket!,
        subnegotiationBytes(TelnetOption.COM_PORT, Uint8Array.of(ComPortCommand.SET_CONTROL, value)),
      );
      return;
    }
    // Servers such as sredird answer SET-CONTROL with another value; the ack itself is what we wait for.
    await this.request(ComPortCommand.SET_CONTROL, payload, what, false);
  }

  /** Sends one COM-PORT-OPTION request and resolves with the server's answer value. */
  private request(command: number, value: Uint8Array, name: string, mustMatch = false): Promise<Uint8Array> {
    const socket = this.socket;
    if (!socket) return Promise.reject(deviceGone(this.name, 'port is not open'));
    const replyCode = command + SERVER_REPLY_OFFSET;
    const timeoutMs = this.ackTimeoutMs();
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      const pending: PendingAck = {
        sentAt: performance.now(),
        expect: mustMatch ? value : undefined,
        name,
        resolve,
        reject,
        timer: setTimeout(() => {
          const queue = this.pendingAcks.get(replyCode);
          const index = queue?.indexOf(pending) ?? -1;
          if (queue && index >= 0) queue.splice(index, 1);
          reject(
            new TransportError(
              FlashErrorCode.TIMEOUT,
              `${this.name}: the server did not acknowledge the ${name} change within ${Math.round(timeoutMs)} ms` +
                (command === ComPortCommand.SET_CONTROL
                  ? ' (servers that never acknowledge DTR/RTS, such as esp_rfc2217_server, need ?ign_set_control)'
                  : ''),
              { port: this.name },
            ),
          );
        }, timeoutMs),
      };
      const queue = this.pendingAcks.get(replyCode) ?? [];
      queue.push(pending);
      this.pendingAcks.set(replyCode, queue);
    });
    const sent = this.send(
      socket,
      subnegotiationBytes(TelnetOption.COM_PORT, Uint8Array.from([command, ...value])),
    );
    return Promise.all([answer, sent]).then(([reply]) => reply);
  }

  private ackTimeoutMs(): number {
    return Math.max(this.options.networkTimeoutMs, ACK_TIMEOUT_RTT_MULTIPLE * (this.smoothedRttMs ?? 0));
  }

  private addRttSample(sampleMs: number): void {
    this.smoothedRttMs =
      this.smoothedRttMs === undefined
        ? sampleMs
        : this.smoothedRttMs + RTT_SMOOTHING * (sampleMs - this.smoothedRttMs);
  }

  private onSubnegotiation(option: number, payload: Uint8Array): void {
    if (option !== TelnetOption.COM_PORT || payload.length === 0) return;
    const code = payload[0];
    const value = payload.subarray(1);
    if (code === ComPortCommand.NOTIFY_LINESTATE + SERVER_REPLY_OFFSET) {
      this.lineState = value[0];
      return;
    }
    if (code === ComPortCommand.NOTIFY_MODEMSTATE + SERVER_REPLY_OFFSET) {
      if (value.length === 0) return;
      this.modemState = value[0];
      const lines = decodeModemState(value[0]);
      for (const listener of [...this.modemListeners]) listener(lines, value[0]);
      return;
    }
    const pending = this.pendingAcks.get(code)?.shift();
    if (!pending) return;
    clearTimeout(pending.timer);
    this.addRttSample(performance.now() - pending.sentAt);
    const expect = pending.expect;
    if (expect && !startsWith(value, expect)) {
      pending.reject(
        new TransportError(
          FlashErrorCode.INVALID_ARGUMENT,
          `${this.name} refused the ${pending.name} setting: asked for ${hex(expect)}, server applied ${hex(value)}`,
          { port: this.name },
        ),
      );
      return;
    }
    pending.resolve(value);
  }

  private onNegotiation(verb: NegotiationVerb, option: number): void {
    const socket = this.socket;
    if (!socket) return;
    const side: Side = verb === Telnet.DO || verb === Telnet.DONT ? 'local' : 'remote';
    const positive = verb === Telnet.DO || verb === Telnet.WILL;
    const wanted = side === 'local' ? WANTED_LOCAL.has(option) : WANTED_REMOTE.has(option);
    const state = this.optionState(side, option);
    const yes = side === 'local' ? Telnet.WILL : Telnet.DO;
    const no = side === 'local' ? Telnet.WONT : Telnet.DONT;
    let reply: NegotiationVerb | undefined;
    if (positive) {
      if (!wanted) reply = no;
      else if (state === 'off') {
        this.setOptionState(side, option, 'on');
        reply = yes;
      } else this.setOptionState(side, option, 'on');
    } else if (state === 'on') {
      this.setOptionState(side, option, 'off');
      reply = no;
    } else this.setOptionState(side, option, 'off');
    if (reply !== undefined) socket.write(negotiationBytes(reply, option));
    for (const wake of this.optionWaiters.splice(0)) wake();
  }

  private optionState(side: Side, option: number): OptionState {
    return this.optionStates.get(`${side}:${option}`) ?? 'off';
  }

  private setOptionState(side: Side, option: number, state: OptionState): void {
    this.optionStates.set(`${side}:${option}`, state);
  }

  /** Resolves when done() holds after a negotiation event; rejects on timeout or connection loss. */
  private waitFor(done: () => boolean, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectionLost = undefined;
        reject(onTimeout());
      }, timeoutMs);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          this.connectionLost = undefined;
          resolve();
        } else this.optionWaiters.push(check);
      };
      this.connectionLost = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      check();
    });
  }

  private send(socket: Socket, bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      socket.write(bytes, (err) => {
        if (err) reject(deviceGone(this.name, `write failed (${err.message})`, err));
        else resolve();
      });
    });
  }
}

/**
 * Half-closes and waits for the server's side to close too. The server releases the port
 * before it closes, so a reopen right after this finds it free; a silent server gets
 * CLOSE_GRACE_MS before the socket is dropped.
 */
function endGracefully(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
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
}

function encodeBaud(baudRate: number): Uint8Array {
  if (!Number.isInteger(baudRate) || baudRate <= 0 || baudRate >= 2 ** 32) {
    throw new TransportError(FlashErrorCode.INVALID_ARGUMENT, `invalid baud rate ${baudRate}`);
  }
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, baudRate, false);
  return out;
}

function startsWith(value: Uint8Array, prefix: Uint8Array): boolean {
  if (value.length < prefix.length) return false;
  return prefix.every((byte, index) => value[index] === byte);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex') || '(empty)';
}

function classifyConnectError(name: string, err: NodeJS.ErrnoException): TransportError {
  if (err.code === 'ECONNREFUSED') {
    return new TransportError(
      FlashErrorCode.PORT_NOT_FOUND,
      `${name}: connection refused; nothing listens there. Start the RFC 2217 server (flashfarm sim, esp_rfc2217_server) or check the port number`,
      { port: name, cause: err },
    );
  }
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return new TransportError(FlashErrorCode.PORT_NOT_FOUND, `${name}: unknown host; check the address`, {
      port: name,
      cause: err,
    });
  }
  return new TransportError(
    FlashErrorCode.PORT_NOT_FOUND,
    `${name}: cannot connect (${err.code ?? err.message}); check the host, the network and firewalls`,
    { port: name, cause: err },
  );
}

/** The server hung up before agreeing: a busy server says so in plain text. */
function closedDuringOpen(name: string, text: string): TransportError {
  if (/busy|in use|another client|already (open|connected)/i.test(text)) {
    return new TransportError(
      FlashErrorCode.PORT_BUSY,
      `${name} is in use by another client ("${text}"); close that client and retry`,
      {
        port: name,
      },
    );
  }
  return new TransportError(
    FlashErrorCode.PORT_NOT_FOUND,
    `${name} closed the connection during negotiation${text ? ` ("${text}")` : ''}; check that the board is plugged in and the server is healthy`,
    { port: name },
  );
}
