import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { ModemInputs, SimPortHandle } from '../port.js';
import {
  DO,
  DONT,
  encodeComPort,
  encodeNegotiation,
  doubleIac,
  OPT_BINARY,
  OPT_COM_PORT,
  OPT_ECHO,
  OPT_SGA,
  TelnetStream,
  type Verb,
  WILL,
  WONT,
} from './telnet.js';

/** COM-PORT-OPTION codes a client sends (RFC 2217 §9.2 of the reference); the server answers with code + 100. */
export const ComPortCode = {
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

/** What the server adds to a request code to form its answer. */
export const SERVER_CODE_OFFSET = 100;

/** SET-CONTROL values (reference §9.2). */
const Control = {
  REQUEST_FLOW: 0,
  NO_FLOW: 1,
  SW_FLOW: 2,
  HW_FLOW: 3,
  REQUEST_BREAK: 4,
  BREAK_ON: 5,
  BREAK_OFF: 6,
  REQUEST_DTR: 7,
  DTR_ON: 8,
  DTR_OFF: 9,
  REQUEST_RTS: 10,
  RTS_ON: 11,
  RTS_OFF: 12,
  REQUEST_INBOUND_FLOW: 13,
  INBOUND_NONE: 14,
} as const;

/** The simulated UART is 8N1 only; these are the values the server reports as applied. */
const DATA_BITS = 8;
const PARITY_NONE = 1;
const STOP_BITS_ONE = 1;
/**
 * NOTIFY-MODEMSTATE bits (RFC 2217, "NOTIFY-MODEMSTATE"): the line states in the high nibble, what
 * changed since the last notification in the low one (RI's is its trailing edge, on → off).
 */
export const ModemStateBit = {
  DELTA_CTS: 0x01,
  DELTA_DSR: 0x02,
  RI_TRAILING_EDGE: 0x04,
  DELTA_CD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  CD: 0x80,
} as const;

/** The mask a session starts with: every bit notified (RFC 2217's default, as pyserial's PortManager). */
const DEFAULT_MODEMSTATE_MASK = 0xff;

/** The high nibble of NOTIFY-MODEMSTATE for a set of inputs (no delta bits). */
export function modemStateByte(inputs: ModemInputs): number {
  return (
    (inputs.cts ? ModemStateBit.CTS : 0) |
    (inputs.dsr ? ModemStateBit.DSR : 0) |
    (inputs.ri ? ModemStateBit.RI : 0) |
    (inputs.cd ? ModemStateBit.CD : 0)
  );
}

/** The state byte with the delta bits for what changed since `before` (null: nothing notified yet, as all off). */
function withDeltas(state: number, before: number | null): number {
  const changed = state ^ (before ?? 0);
  let out = state;
  if (changed & ModemStateBit.CTS) out |= ModemStateBit.DELTA_CTS;
  if (changed & ModemStateBit.DSR) out |= ModemStateBit.DELTA_DSR;
  if (changed & ModemStateBit.RI && !(state & ModemStateBit.RI)) out |= ModemStateBit.RI_TRAILING_EDGE;
  if (changed & ModemStateBit.CD) out |= ModemStateBit.DELTA_CD;
  return out;
}

/** A board the server can put on the network (SimBoard fits). */
export interface Rfc2217Board {
  readonly name?: string;
  /** Opens the host side of the board's UART; throws when busy or unplugged. */
  openPort(): SimPortHandle;
}

/**
 * What the server does with DTR/RTS changes:
 * - `local`: as Espressif's esp_rfc2217_server (esptool `esp_rfc2217_server/esp_port_manager.py`)
 *   does: esptool's and esptool-js's patterns are recognised and the reset runs on the server
 *   with local timing (DTR on → UnixTightReset into download mode, RTS off outside it → HardReset),
 *   the other line changes of the pattern are not passed on. Over the network every
 *   SET-CONTROL takes a round trip (pyserial waits ≥ 50 ms for each), longer than a board's EN
 *   RC delay, so a reset passed through line by line boots the app instead.
 * - `pass-through`: as pyserial's PortManager (ser2net and the like): every change goes to
 *   the board as it arrives. For fidelity tests of what a plain remote serial port does.
 */
export type Rfc2217ResetMode = 'local' | 'pass-through';

/** A step of a reset sequence the server runs itself: set lines, or wait (real ms). */
export type LocalStep = { dtr?: boolean; rts?: boolean } | { waitMs: number };

/** esptool's UnixTightReset (reset.py, v5.3.1) with DEFAULT_RESET_DELAY, as esp_rfc2217_server runs it. */
export const LOCAL_DOWNLOAD_RESET: readonly LocalStep[] = [
  { dtr: false, rts: false },
  { dtr: true, rts: true },
  // IO0 high, EN low: the chip is held in reset.
  { dtr: false, rts: true },
  { waitMs: 100 },
  // IO0 low, EN released: the chip samples the strap after its EN RC delay.
  { dtr: true, rts: false },
  { waitMs: 50 },
  // IO0 released.
  { dtr: false, rts: false },
  { dtr: false },
];

/** esptool's HardReset (reset.py, v5.3.1, no flow control): EN low for 100 ms. */
export const LOCAL_HARD_RESET: readonly LocalStep[] = [{ rts: true }, { waitMs: 100 }, { rts: false }];

/** One event of a recorded session (see Rfc2217ServerOptions.record). */
export type Rfc2217TrafficEvent =
  /** Serial data: `to-board` from the client, `to-client` from the board. */
  | { atMs: number; kind: 'data'; direction: 'to-board' | 'to-client'; bytes: Uint8Array }
  /** A SET-CONTROL value the client sent (DTR/RTS/flow/break). */
  | { atMs: number; kind: 'control'; value: number }
  /** A SET-BAUDRATE the client sent (0 = query). */
  | { atMs: number; kind: 'baud'; baud: number };

/** Options of startRfc2217Server. */
export interface Rfc2217ServerOptions {
  /** Interface to bind; 127.0.0.1 unless the board should be reachable from other machines. */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Receives one line per connection event (connect, refuse, drop), for a console or a test. */
  log?: (line: string) => void;
  /** DTR/RTS handling; default `local` (esp_rfc2217_server's), see Rfc2217ResetMode. */
  resetMode?: Rfc2217ResetMode;
  /** Receives every data chunk and line/baud command of each session with its time since the connection. */
  record?: (event: Rfc2217TrafficEvent) => void;
}

/** A running RFC 2217 server for one board. */
export interface Rfc2217Server {
  /** rfc2217://host:port, ready for a client. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening and drops the current client; resolves once the port is free. */
  close(): Promise<void>;
}

/**
 * Serves one simulated board over RFC 2217 (Telnet COM-PORT-OPTION), the way
 * pyserial's PortManager does (SET-BAUDRATE sets the host-side baud, every
 * SET-* is acknowledged with the value applied), with esp_rfc2217_server's
 * local reset by default (resetMode). One client at a time.
 */
export async function startRfc2217Server(
  board: Rfc2217Board,
  options: Rfc2217ServerOptions = {},
): Promise<Rfc2217Server> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((): void => undefined);
  const label = board.name ?? 'the board';
  let active: Session | undefined;
  const sockets = new Set<Socket>();

  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.on('error', () => {
      // 'close' follows; a reset by the peer is an ordinary way for a client to leave.
    });
    if (active) {
      log(`refused ${peer}: ${label} is in use by ${active.peer}`);
      socket.end(
        `flashfarm sim: ${label} is in use by another client (${active.peer}); only one connection at a time\r\n`,
      );
      return;
    }
    let handle: SimPortHandle;
    try {
      handle = board.openPort();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      log(`refused ${peer}: ${why}`);
      socket.end(`flashfarm sim: ${label} cannot be opened: ${why}\r\n`);
      return;
    }
    log(`client ${peer} connected`);
    const session = new Session(
      socket,
      handle,
      peer,
      { resetMode: options.resetMode ?? 'local', record: options.record },
      (reason) => {
        if (active === session) active = undefined;
        log(`client ${peer} left (${reason})`);
      },
    );
    active = session;
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        const inUse = new Error(
          `port ${options.port ?? 0} on ${host} is already in use (another flashfarm sim or RFC 2217 server?); pick another port`,
          { cause: err },
        );
        reject(Object.assign(inUse, { code: 'EADDRINUSE' }));
      } else reject(err);
    });
    server.listen({ host, port: options.port ?? 0 }, () => resolve());
  });
  server.on('error', () => {
    // After listen() succeeded the server only reports per-connection trouble, handled per socket.
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `rfc2217://${urlHost}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        active?.drop('server stopped');
        server.close(() => resolve());
        // Refused clients that have not hung up yet would otherwise keep close() waiting.
        for (const socket of sockets) socket.destroy();
      }),
  };
}

type OptionState = 'off' | 'requested' | 'on';

/** Omit over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One client connection bound to the board's port handle. */
class Session {
  private readonly local = new Map<number, OptionState>();
  private readonly remote = new Map<number, OptionState>();
  private readonly unsubscribe: Array<() => void>;
  private dtr = false;
  private rts = false;
  /** Outbound flow control the client chose (NO_FLOW, SW_FLOW, HW_FLOW); the simulated link ignores it. */
  private flow: number = Control.NO_FLOW;
  /** Local reset mode: a download reset ran and its pattern's remaining line changes are ignored. */
  private downloadMode = false;
  private readonly localTimers = new Set<NodeJS.Timeout>();
  /**
   * What the client sent while a local reset runs, applied in order once it ends:
   * esp_rfc2217_server runs the reset (with its sleeps) on the thread that reads
   * the socket, so a SYNC sent right after the reset's last SET-CONTROL reaches
   * the chip only after the reset, never into its middle.
   */
  private deferred: Array<() => void> | null = null;
  private readonly startedAt = performance.now();
  private suspended = false;
  private held: Uint8Array[] = [];
  private released = false;
  /** SET-MODEMSTATE-MASK from the client: a change is notified as (state | deltas) & mask, when not zero. */
  private modemMask = DEFAULT_MODEMSTATE_MASK;
  /** The line states (high nibble) of the last notification, null before the first. */
  private lastModemState: number | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly handle: SimPortHandle,
    readonly peer: string,
    private readonly options: { resetMode: Rfc2217ResetMode; record?: (event: Rfc2217TrafficEvent) => void },
    private readonly onEnd: (reason: string) => void,
  ) {
    const stream = new TelnetStream({
      data: (bytes) => {
        // Only a recording session pays for the copy.
        if (this.options.record) this.record({ kind: 'data', direction: 'to-board', bytes: bytes.slice() });
        if (this.deferred) {
          const copy = bytes.slice();
          this.deferred.push(() => this.handle.isOpen && this.handle.write(copy));
        } else if (this.handle.isOpen) this.handle.write(bytes);
      },
      negotiation: (verb, option) => this.onNegotiation(verb, option),
      subnegotiation: (option, payload) => {
        if (option !== OPT_COM_PORT || payload.length === 0) return;
        if (this.deferred) {
          const copy = payload.slice();
          this.deferred.push(() => this.onComPort(copy[0], copy.subarray(1)));
        } else this.onComPort(payload[0], payload.subarray(1));
      },
    });
    this.unsubscribe = [
      handle.onData((bytes) => this.toClient(bytes)),
      // An unplugged board is a cut cable: the client sees the connection drop.
      handle.onDisconnect(() => this.drop('board unplugged')),
      // A fixture's lid switch (or anything else on CTS/DSR/RI/CD) changed: tell the client.
      handle.onModemInputs?.((inputs) => this.notifyModemState(inputs, false)) ?? (() => undefined),
    ];
    socket.on('data', (chunk: Buffer) => {
      // The answers to every request in one chunk (the four settings at open, DTR and RTS together)
      // leave in one TCP segment: one write instead of one per answer.
      socket.cork();
      stream.push(chunk);
      socket.uncork();
    });
    socket.on('end', () => {
      // Release the port before our FIN reaches the client, so a reconnect right after finds it free.
      this.release('client closed');
      socket.end();
    });
    socket.on('close', () => this.release('connection closed'));

    // pyserial PortManager's opening offers (reference §9.4).
    this.local.set(OPT_ECHO, 'requested');
    this.local.set(OPT_SGA, 'requested');
    this.remote.set(OPT_BINARY, 'requested');
    this.local.set(OPT_COM_PORT, 'requested');
    socket.write(
      Buffer.concat([
        encodeNegotiation(WILL, OPT_ECHO),
        encodeNegotiation(WILL, OPT_SGA),
        encodeNegotiation(DO, OPT_BINARY),
        encodeNegotiation(WILL, OPT_COM_PORT),
      ]),
    );
  }

  /** Cuts the connection (board gone, server stopping). */
  drop(reason: string): void {
    this.release(reason);
    this.socket.destroy();
  }

  private release(reason: string): void {
    if (this.released) return;
    this.released = true;
    this.cancelLocalReset();
    this.deferred = null;
    for (const off of this.unsubscribe) off();
    if (this.handle.isOpen) this.handle.close();
    this.onEnd(reason);
  }

  private record(event: DistributiveOmit<Rfc2217TrafficEvent, 'atMs'>): void {
    this.options.record?.({ atMs: performance.now() - this.startedAt, ...event });
  }

  private toClient(bytes: Uint8Array): void {
    if (this.released) return;
    if (this.options.record) this.record({ kind: 'data', direction: 'to-client', bytes: bytes.slice() });
    if (this.suspended) {
      this.held.push(bytes.slice());
      return;
    }
    this.socket.write(doubleIac(bytes));
  }

  private onNegotiation(verb: Verb, option: number): void {
    // DO/DONT are about what we (the server) do; WILL/WONT about what the client does.
    const aboutUs = verb === DO || verb === DONT;
    const table = aboutUs ? this.local : this.remote;
    const supported =
      option === OPT_BINARY ||
      option === OPT_SGA ||
      option === OPT_COM_PORT ||
      (aboutUs && option === OPT_ECHO);
    const yes: Verb = aboutUs ? WILL : DO;
    const no: Verb = aboutUs ? WONT : DONT;
    const state = table.get(option) ?? 'off';
    if (verb === DO || verb === WILL) {
      if (!supported) {
        this.socket.write(encodeNegotiation(no, option));
        return;
      }
      table.set(option, 'on');
      if (state === 'off') this.socket.write(encodeNegotiation(yes, option));
      if (aboutUs && option === OPT_COM_PORT && state !== 'on') {
        // The client agreed to COM-PORT: tell it the modem lines, as PortManager does (forced, so a
        // client learns the state even when every line is off).
        this.notifyModemState(this.currentInputs(), true);
      }
      return;
    }
    table.set(option, 'off');
    if (state === 'on') this.socket.write(encodeNegotiation(no, option));
  }

  private onComPort(code: number, value: Uint8Array): void {
    switch (code) {
      case ComPortCode.SET_BAUDRATE: {
        const requested =
          value.length >= 4 ? new DataView(value.buffer, value.byteOffset, 4).getUint32(0, false) : 0;
        this.record({ kind: 'baud', baud: requested });
        // 0 asks for the current value without changing it.
        if (requested > 0 && this.handle.isOpen) this.handle.setBaudRate(requested);
        const applied = new Uint8Array(4);
        new DataView(applied.buffer).setUint32(0, this.handle.baudRate, false);
        this.sendComPort(code, applied);
        return;
      }
      case ComPortCode.SET_DATASIZE:
        this.sendComPort(code, Uint8Array.of(DATA_BITS));
        return;
      case ComPortCode.SET_PARITY:
        this.sendComPort(code, Uint8Array.of(PARITY_NONE));
        return;
      case ComPortCode.SET_STOPSIZE:
        this.sendComPort(code, Uint8Array.of(STOP_BITS_ONE));
        return;
      case ComPortCode.SET_CONTROL: {
        const control = value[0] ?? Control.REQUEST_FLOW;
        this.record({ kind: 'control', value: control });
        this.sendComPort(code, Uint8Array.of(this.applyControl(control)));
        return;
      }
      case ComPortCode.FLOWCONTROL_SUSPEND:
        this.suspended = true;
        return;
      case ComPortCode.FLOWCONTROL_RESUME:
        this.suspended = false;
        for (const bytes of this.held.splice(0)) this.socket.write(doubleIac(bytes));
        return;
      case ComPortCode.SET_MODEMSTATE_MASK:
        this.modemMask = value[0] ?? DEFAULT_MODEMSTATE_MASK;
        this.sendComPort(code, Uint8Array.of(this.modemMask));
        return;
      case ComPortCode.SET_LINESTATE_MASK:
      case ComPortCode.PURGE_DATA:
        // Bytes are forwarded as soon as they exist, so there is no server-side buffer to purge.
        this.sendComPort(code, value.subarray(0, 1));
        return;
      case ComPortCode.NOTIFY_LINESTATE:
        this.sendComPort(code, Uint8Array.of(0));
        return;
      case ComPortCode.NOTIFY_MODEMSTATE:
        // A client polling the lines (pyserial's poll_modem): the current states, no deltas.
        this.sendComPort(code, Uint8Array.of(modemStateByte(this.currentInputs()) & this.modemMask));
        return;
      default:
        return;
    }
  }

  /** Applies a SET-CONTROL value to the board; returns the value to acknowledge (pyserial's PortManager echoes it). */
  private applyControl(value: number): number {
    switch (value) {
      case Control.DTR_ON:
      case Control.DTR_OFF:
      case Control.RTS_ON:
      case Control.RTS_OFF: {
        const on = value === Control.DTR_ON || value === Control.RTS_ON;
        const line = value === Control.DTR_ON || value === Control.DTR_OFF ? 'dtr' : 'rts';
        const was = line === 'dtr' ? this.dtr : this.rts;
        if (line === 'dtr') this.dtr = on;
        else this.rts = on;
        if (this.options.resetMode === 'local') this.localControl(line, on, was);
        else if (this.handle.isOpen) this.handle.setSignals({ [line]: on });
        return value;
      }
      case Control.REQUEST_DTR:
        return this.dtr ? Control.DTR_ON : Control.DTR_OFF;
      case Control.REQUEST_RTS:
        return this.rts ? Control.RTS_ON : Control.RTS_OFF;
      case Control.REQUEST_BREAK:
      case Control.BREAK_ON:
      case Control.BREAK_OFF:
        // The simulated UART has no break condition: it stays off.
        return Control.BREAK_OFF;
      case Control.REQUEST_FLOW:
        return this.flow;
      case Control.NO_FLOW:
      case Control.SW_FLOW:
      case Control.HW_FLOW:
        // Recorded and confirmed, as pyserial's server does; the simulated link never throttles.
        this.flow = value;
        return value;
      case Control.REQUEST_INBOUND_FLOW:
        return Control.INBOUND_NONE;
      default:
        // Inbound flow-control settings (14–19) and the rest: the simulated link uses none.
        return value >= Control.REQUEST_INBOUND_FLOW ? Control.INBOUND_NONE : Control.NO_FLOW;
    }
  }

  /**
   * esp_rfc2217_server's EspPortManager._telnet_process_subnegotiation: DTR off
   * ends a download reset and is applied; DTR on (outside one) starts the
   * download reset locally; RTS off (outside one) starts a hard reset locally;
   * every other change of the pattern is dropped. One refinement: the hard
   * reset needs RTS to fall (on → off as the client set it). esp_rfc2217_server
   * starts one at any RTS off, so esptool-js's last reset step, which releases
   * both lines in one update (DTR off, then RTS off again), would reboot the
   * chip out of the loader it just reached.
   */
  private localControl(line: 'dtr' | 'rts', on: boolean, was: boolean): void {
    if (line === 'dtr' && !on) {
      this.downloadMode = false;
      if (this.handle.isOpen) this.handle.setSignals({ dtr: false });
      return;
    }
    if (this.downloadMode) return;
    if (line === 'dtr') {
      this.downloadMode = true;
      this.runLocal(LOCAL_DOWNLOAD_RESET);
    } else if (!on && was) this.runLocal(LOCAL_HARD_RESET);
  }

  /** Runs a reset sequence with local (real-time) waits; a new one replaces one still running. */
  private runLocal(steps: readonly LocalStep[]): void {
    this.cancelLocalReset();
    const run = (index: number): void => {
      for (let i = index; i < steps.length; i++) {
        const step = steps[i];
        if ('waitMs' in step) {
          this.deferred ??= [];
          const timer = setTimeout(() => {
            this.localTimers.delete(timer);
            run(i + 1);
          }, step.waitMs);
          this.localTimers.add(timer);
          return;
        }
        if (this.handle.isOpen) this.handle.setSignals(step);
      }
      this.releaseDeferred();
    };
    run(0);
  }

  /** Applies what arrived during a local reset, in order; stops early if one of them starts another. */
  private releaseDeferred(): void {
    const pending = this.deferred;
    this.deferred = null;
    if (!pending) return;
    for (const [index, apply] of pending.entries()) {
      apply();
      // (Read again: apply() may have changed it, which the compiler cannot see.)
      const restarted = this.deferred as Array<() => void> | null;
      if (restarted) {
        // A deferred line change started a new local reset: the rest waits for it.
        restarted.unshift(...pending.slice(index + 1));
        return;
      }
    }
  }

  private cancelLocalReset(): void {
    for (const timer of this.localTimers) clearTimeout(timer);
    this.localTimers.clear();
  }

  /** The board's modem inputs; a handle without any has every line off (a DevKit's bridge wires none). */
  private currentInputs(): ModemInputs {
    return this.handle.modemInputs ?? { cts: false, dsr: false, ri: false, cd: false };
  }

  /**
   * Sends NOTIFY-MODEMSTATE for a change, as RFC 2217 says: the new state with its delta bits, ANDed
   * with the client's mask; nothing when the result is zero (unless forced, at option agreement).
   */
  private notifyModemState(inputs: ModemInputs, force: boolean): void {
    // Before the client agreed to COM-PORT it cannot read a notification; the agreement sends the state.
    if (this.released || this.local.get(OPT_COM_PORT) !== 'on') return;
    const state = modemStateByte(inputs);
    if (!force && state === this.lastModemState) return;
    const value = withDeltas(state, this.lastModemState) & this.modemMask;
    this.lastModemState = state;
    if (value !== 0 || force) this.sendComPort(ComPortCode.NOTIFY_MODEMSTATE, Uint8Array.of(value));
  }

  private sendComPort(code: number, value: Uint8Array): void {
    if (this.socket.writable) this.socket.write(encodeComPort(code + SERVER_CODE_OFFSET, value));
  }
}
