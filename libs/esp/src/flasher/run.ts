/**
 * One flasher session over a transport: connect (and reconnect), identify,
 * stub, baud; recovery from line errors and lost links; the ending reset.
 * flash(), readFlash(), eraseFlash() and chipInfo() run inside it.
 */
import { RETRY_BUDGETS } from '#contracts';
import { DeviceChangedError, EspError, RomError, StubError } from '../errors.js';
import { Op, u32le, writeRegBody } from '../protocol/commands.js';
import { hasCode } from '../protocol/connection.js';
import { delay, runResetSequence } from '../reset/sequence.js';
import { hardReset, resetStrategyFromName, type ResetStrategy, swapped } from '../reset/strategies.js';
import { loadStubImage } from '../stub/images.js';
import { runStub } from '../stub/upload.js';
import { flashSizeFromJedecId, isAbsentFlashId } from '../targets/flash-tables.js';
import { findTarget, normalizeMac } from '../targets/registry.js';
import type { Transport } from '../transport.js';
import { connect, ROM_BAUD } from './connect.js';
import { type ChipInfo, detectChip } from './detect.js';
import { EventSink, type FlasherEventListener } from './events.js';
import { LoaderSession } from './session.js';

/** Bauds tried from the requested one downwards when the line corrupts data (RETRY_BUDGETS of #contracts). */
export const BAUD_LADDER = RETRY_BUDGETS.flasher.baudLadder;
/** Default data-phase baud. */
export const DEFAULT_FLASH_BAUD = 921_600;
/** Reconnects allowed after a lost link before giving up. */
export const MAX_RECONNECTS = RETRY_BUDGETS.flasher.reconnects;
/**
 * Default wait for a vanished port to come back before DEVICE_GONE is final:
 * long enough for a USB bridge to re-enumerate after a cable glitch or a
 * brown-out reset.
 */
export const REOPEN_WAIT_MS = 10_000;
/** Pause between reopen attempts. */
const REOPEN_PAUSE_MS = 200;
/** Flash size assumed when RDID gives nothing usable (esptool does the same). */
export const FALLBACK_FLASH_SIZE_BYTES = 4 * 1024 * 1024;

/** What to do with the board at the end. */
export type AfterAction = 'hard-reset' | 'soft-reset' | 'no-reset' | 'no-reset-stub' | 'watchdog-reset';

/** Options shared by flash(), readFlash(), eraseFlash() and chipInfo(). */
export interface SessionOptions {
  /** Data-phase baud (default 921 600); steps down the ladder on line errors. */
  baud?: number;
  /** Run on the ROM loader alone (no stub upload). */
  noStub?: boolean;
  /** A strategy, its stored name ("classic-550", "swapped-classic-50") or a `D0|R1|W100|…` sequence; default: try the list. */
  resetStrategy?: string | ResetStrategy;
  /** Reset+sync rounds. */
  connectAttempts?: number;
  /** SYNCs per round. */
  syncsPerAttempt?: number;
  /** Refuse any other chip (CHIP_MISMATCH). */
  expectChip?: string;
  /**
   * The MAC of the board this session is for (any common notation). Another
   * board on the port stops the session with DEVICE_CHANGED right after its
   * MAC is read, before anything is written.
   */
  expectMac?: string;
  /** How long a vanished port may take to come back (default REOPEN_WAIT_MS); 0 gives up at once. */
  reopenWaitMs?: number;
  after?: AfterAction;
  signal?: AbortSignal;
  onEvent?: FlasherEventListener;
}

/** A prepared connection: synced, identified, stub running (unless noStub), baud raised. */
export interface Prepared {
  session: LoaderSession;
  info: ChipInfo;
  strategy: ResetStrategy;
  flashSizeBytes: number;
}

/** The ladder starting at the requested baud (a baud not on the ladder is tried first). */
export function baudLadderFrom(baud: number): number[] {
  return [baud, ...BAUD_LADDER.filter((b) => b < baud)];
}

function strategiesFrom(option: SessionOptions['resetStrategy']): ResetStrategy[] | undefined {
  if (option === undefined) return undefined;
  const s = typeof option === 'string' ? resetStrategyFromName(option) : option;
  return s ? [s] : undefined;
}

/** Runs the reset that ends a session, matching the wiring the connect found. */
export function hardResetFor(strategy: ResetStrategy | undefined): ResetStrategy {
  return strategy?.name.startsWith('swapped-') ? swapped(hardReset()) : hardReset();
}

/** One flasher run over a transport: the state shared by flash/read/erase/info. */
export class Run {
  readonly events: EventSink;
  private prepared: Prepared | undefined;
  private lastStrategy: ResetStrategy | undefined;
  baud: number;
  readonly ladder: number[];
  readonly fallbacks: number[] = [];
  /** Reconnects of any cause (reported in results). */
  reconnects = 0;
  /** Reconnects after a lost link or timeouts, bounded by MAX_RECONNECTS. */
  private linkLosses = 0;
  private verifiedInfo: ChipInfo | undefined;
  private readonly expectedMac: string | undefined;

  constructor(
    readonly transport: Transport,
    readonly options: SessionOptions,
  ) {
    if (options.expectMac !== undefined) {
      this.expectedMac = normalizeMac(options.expectMac);
      if (!this.expectedMac) {
        throw new EspError(`expectMac "${options.expectMac}" is not a MAC address (aa:bb:cc:dd:ee:ff).`, {
          code: 'INVALID_ARGUMENT',
        });
      }
    }
    this.events = new EventSink(options.onEvent);
    this.baud = options.baud ?? DEFAULT_FLASH_BAUD;
    this.ladder = baudLadderFrom(this.baud);
  }

  /** The reset strategy of the last successful connect, if any. */
  get connectedStrategy(): ResetStrategy | undefined {
    return this.lastStrategy;
  }

  /** Name of that strategy, or "none". */
  get strategyName(): string {
    return this.lastStrategy?.name ?? 'none';
  }

  /** Connects (again): open if needed, reset, sync, detect, stub, attach, baud. */
  async prepare(): Promise<Prepared> {
    const { transport, options, events } = this;
    if (!transport.isOpen) await transport.open(ROM_BAUD);
    const strategies = strategiesFrom(options.resetStrategy);
    // After a first success, reconnects use the strategy that worked.
    const list = this.lastStrategy && !strategies ? [this.lastStrategy] : strategies;
    const noResetOnly = list?.length === 1 && list[0].steps.length === 0;
    const connected = await connect(transport, {
      strategies: list,
      syncBauds: noResetOnly && this.baud !== ROM_BAUD ? [ROM_BAUD, this.baud] : undefined,
      attempts:
        this.lastStrategy && !strategies
          ? Math.max(2, options.connectAttempts ?? 2)
          : options.connectAttempts,
      syncsPerAttempt: options.syncsPerAttempt,
      signal: options.signal,
      events,
    });
    this.lastStrategy = connected.strategy;
    const conn = connected.conn;
    const { target, info } = await detectChip(conn, transport.baudRate);
    // The board's identity comes first: a swapped unit is DEVICE_CHANGED even when it is also another chip.
    const wanted = this.verifiedInfo?.mac ?? this.expectedMac;
    if (wanted !== undefined && info.mac !== wanted) {
      throw new DeviceChangedError(wanted, info.mac, {
        stage: 'detect',
        port: transport.name,
        reconnect: this.verifiedInfo !== undefined,
      });
    }
    const expected = options.expectChip ? findTarget(options.expectChip) : undefined;
    if (options.expectChip && expected?.name !== target.name) {
      const asked = expected ? `an ${expected.displayName}` : `"${options.expectChip}"`;
      throw new EspError(
        `This chip is an ${target.displayName}, not ${asked}: wrong board, or wrong chip argument (--chip ${target.name} matches this one, no --chip detects it).`,
        {
          code: 'CHIP_MISMATCH',
          stage: 'detect',
          detail: { chip: target.name, expected: options.expectChip },
        },
      );
    }
    events.log(
      'info',
      'detect',
      `${info.description}, ${info.features.join(', ')}, crystal ${info.crystalMhz} MHz, MAC ${info.mac}`,
    );
    const session = new LoaderSession(conn, target);
    if (!conn.isStub && !info.secureDownloadMode) await disableUsbJtagWatchdogs(session, events);
    if (!conn.isStub && !options.noStub && !info.secureDownloadMode && session.canChangeBaud) {
      // Raise the baud on the ROM first: the stub keeps the ROM's UART settings, so its upload runs fast too.
      await this.raiseBaud(session);
    }
    if (!conn.isStub && !options.noStub) {
      if (info.secureDownloadMode) {
        events.log('warn', 'stub', 'Secure Download Mode is on: staying on the ROM loader');
      } else {
        events.log('info', 'stub', 'uploading the flasher stub');
        await runStub(conn, await loadStubImage(target.name));
        events.log('info', 'stub', 'stub running');
      }
    } else if (conn.isStub) {
      events.log('info', 'stub', 'reusing the flasher stub that is already running');
    }
    await session.attach();
    let flashSizeBytes = FALLBACK_FLASH_SIZE_BYTES;
    try {
      const id = await session.flashId();
      info.flashId = id;
      const size = isAbsentFlashId(id) ? undefined : flashSizeFromJedecId(id);
      if (size === undefined) {
        events.log(
          'warn',
          'attach',
          `flash ID 0x${id.toString(16)} gives no size; assuming ${FALLBACK_FLASH_SIZE_BYTES / 1048576} MiB`,
        );
      } else {
        flashSizeBytes = size;
      }
    } catch (err) {
      if (err instanceof EspError && (err.code === 'CANCELLED' || err.code === 'DEVICE_GONE')) throw err;
      events.log(
        'warn',
        'attach',
        `could not read the flash ID (${(err as Error).message}); assuming ${FALLBACK_FLASH_SIZE_BYTES / 1048576} MiB`,
      );
    }
    info.flashSizeBytes = flashSizeBytes;
    await session.setFlashSize(flashSizeBytes);
    events.log(
      'info',
      'attach',
      `flash ID 0x${(info.flashId ?? 0).toString(16).padStart(6, '0')}, ${flashSizeBytes / 1048576} MiB`,
    );
    await this.raiseBaud(session);
    this.verifiedInfo = info;
    this.prepared = { session, info, strategy: connected.strategy, flashSizeBytes };
    return this.prepared;
  }

  private async raiseBaud(session: LoaderSession): Promise<void> {
    if (this.baud === this.transport.baudRate) return;
    if (!session.canChangeBaud) {
      this.events.log(
        'warn',
        'baud',
        `the ${session.target.displayName} ROM cannot change baud; staying at ${this.transport.baudRate}`,
      );
      return;
    }
    let requested = this.baud;
    if (!session.isStub && session.target.name === 'esp32')
      requested = await esp32RomBaudCorrection(session, this.baud);
    await session.changeBaud(requested, this.options.signal);
    if (requested !== this.baud) await this.transport.setBaudRate(this.baud);
    this.events.log('info', 'baud', `baud ${this.baud}`);
  }

  /** Steps down the ladder; false when already at the bottom. */
  stepDown(reason: string): boolean {
    const i = this.ladder.indexOf(this.baud);
    const next = this.ladder[i + 1];
    if (next === undefined) return false;
    this.fallbacks.push(this.baud);
    this.events.log('warn', 'baud', `line errors at ${this.baud} baud (${reason}); falling back to ${next}`);
    this.baud = next;
    return true;
  }

  /** Reopens a vanished port, waiting for it to come back. */
  async reopen(): Promise<void> {
    await this.transport.close();
    const waitMs = this.options.reopenWaitMs ?? REOPEN_WAIT_MS;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        await this.transport.open(ROM_BAUD);
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          throw new EspError(
            `The board went away (${this.transport.name}) and did not come back within ${waitMs / 1000} s. Check the cable.`,
            {
              code: 'DEVICE_GONE',
              stage: 'open',
              cause: err,
            },
          );
        }
        await delay(REOPEN_PAUSE_MS, this.options.signal);
      }
    }
  }

  /**
   * Runs `work` with recovery: line errors lower the baud and reconnect; a lost
   * link or repeated timeouts reconnect (reopening the port if it vanished).
   */
  async withRecovery<T>(work: (p: Prepared) => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const p = this.prepared ?? (await this.prepare());
        return await work(p);
      } catch (caught) {
        const err = toEspError(caught);
        if (err.code === 'FRAMING' || (this.transport.baudRate > ROM_BAUD && isLineGarble(err))) {
          if (!this.stepDown(err.message)) throw err;
        } else if (err.code === 'DEVICE_GONE' || err.code === 'TIMEOUT') {
          if (this.linkLosses >= MAX_RECONNECTS) throw err;
          this.linkLosses++;
          this.events.log(
            'warn',
            err.stage ?? 'write',
            `link lost (${err.message}); reconnecting and resuming`,
          );
        } else {
          throw err;
        }
        this.reconnects++;
        this.prepared = undefined;
        if (err.code === 'DEVICE_GONE' || !this.transport.isOpen) await this.reopen();
      }
    }
  }

  /** Ends the session as asked; best effort when it follows a failure. */
  async finish(after: AfterAction, session: LoaderSession | undefined): Promise<void> {
    const strategy = this.lastStrategy;
    switch (after) {
      case 'no-reset':
      case 'no-reset-stub':
        return;
      case 'soft-reset':
        if (session && !session.isStub) {
          await session.conn.command(Op.FLASH_BEGIN, session.romBeginBody(0, 0, 0x400, 0), { stage: 'run' });
          await session.conn.command(Op.FLASH_END, u32le(1), { stage: 'run' });
          return;
        }
        if (session?.isStub && session.target.name === 'esp8266') {
          await session.conn.writePacket(new Uint8Array([0, Op.RUN_USER_CODE, 0, 0, 0, 0, 0, 0]));
          return;
        }
        this.events.log('warn', 'run', 'soft reset is not available here; doing a hard reset');
        break;
      case 'watchdog-reset': {
        const wdt = session?.target.usbJtagWatchdog;
        if (session && wdt?.rtcWdtConfig1 !== undefined) {
          await session.conn.command(
            Op.WRITE_REG,
            writeRegBody([
              { addr: wdt.rtcWdtWriteProtect, value: wdt.rtcWdtKey },
              { addr: wdt.rtcWdtConfig1, value: 2000 },
              { addr: wdt.rtcWdtConfig0, value: (0x80000000 | (5 << 28) | (1 << 8) | 2) >>> 0 },
              { addr: wdt.rtcWdtWriteProtect, value: 0 },
            ]),
            { stage: 'run' },
          );
          await delay(500, this.options.signal);
          return;
        }
        this.events.log('warn', 'run', 'watchdog reset is not available on this chip; doing a hard reset');
        break;
      }
      case 'hard-reset':
        break;
    }
    await runResetSequence(this.transport, hardResetFor(strategy).steps);
    this.events.log('info', 'run', 'hard reset: the board runs its firmware');
  }

  get session(): LoaderSession | undefined {
    return this.prepared?.session;
  }
}

/**
 * Over the internal USB-Serial/JTAG the RTC and super watchdogs stay armed in
 * download mode and would reset the chip mid-flash (§3.7): disarm them when
 * the ROM says it talks over that peripheral.
 */
async function disableUsbJtagWatchdogs(session: LoaderSession, events: EventSink): Promise<void> {
  const { uartDevBufNo, usbJtagWatchdog: wdt } = session.target;
  if (uartDevBufNo?.usbJtagSerial === undefined || !wdt) return;
  const console = await session.readReg(uartDevBufNo.address, 'detect');
  if (console !== uartDevBufNo.usbJtagSerial) return;
  await session.writeReg([
    { addr: wdt.rtcWdtWriteProtect, value: wdt.rtcWdtKey },
    { addr: wdt.rtcWdtConfig0, value: 0 },
    { addr: wdt.rtcWdtWriteProtect, value: 0 },
    { addr: wdt.swdWriteProtect, value: wdt.swdKey },
    { addr: wdt.swdConfig, value: wdt.swdAutoFeed, mask: wdt.swdAutoFeed },
    { addr: wdt.swdWriteProtect, value: 0 },
  ]);
  events.log(
    'info',
    'attach',
    'USB-Serial/JTAG console: RTC watchdog disabled and super watchdog set to auto-feed',
  );
}

/**
 * Loader complaints that, above the ROM baud, mean the request arrived
 * damaged: malformed message, bad length, bad checksum, unknown command.
 */
function isLineGarble(err: EspError): boolean {
  if (err instanceof RomError) return [0x04, 0x05, 0x07].includes(err.error);
  if (err instanceof StubError) return [0xc0, 0xc1, 0xc3, 0xc7].includes(err.status);
  return false;
}

/** ESP32 ROM: the baud it is asked for is skewed by its crystal calibration (§4.6). */
async function esp32RomBaudCorrection(session: LoaderSession, baud: number): Promise<number> {
  const cali = ((await session.readReg(0x3ff5f06c, 'baud')) >>> 7) & 0x1ffffff;
  const ck8m = (await session.readReg(0x3ff5a010, 'baud')) & 0xff;
  const romXtal = (cali * 15625 * ck8m) / 40;
  if (romXtal <= 0) return baud;
  return Math.floor((baud * romXtal) / (romXtal > 33_000_000 ? 40_000_000 : 26_000_000));
}

/**
 * Runs `body` inside a Run and guarantees the ending: on success the `after`
 * action; on failure or cancellation a best-effort hard reset and the port
 * closed, so it is never left busy.
 */
export async function runSession<T>(
  transport: Transport,
  options: SessionOptions,
  defaultAfter: AfterAction,
  body: (run: Run) => Promise<T>,
): Promise<T> {
  const run = new Run(transport, options);
  try {
    const out = await body(run);
    await run.finish(options.after ?? defaultAfter, run.session);
    return out;
  } catch (err) {
    const e = toEspError(err);
    run.events.log(e.code === 'CANCELLED' ? 'warn' : 'error', e.stage ?? 'write', e.message);
    try {
      if (transport.isOpen) await runResetSequence(transport, hardResetFor(run.connectedStrategy).steps);
    } catch {
      // The port may be gone; closing below is what matters.
    }
    await transport.close().catch(() => undefined);
    throw e;
  }
}

/** Turns anything thrown (transport errors with a code, plain errors) into an EspError. */
export function toEspError(err: unknown): EspError {
  if (err instanceof EspError) return err;
  if (
    hasCode(err, 'PORT_BUSY') ||
    hasCode(err, 'PORT_NOT_FOUND') ||
    hasCode(err, 'DEVICE_GONE') ||
    hasCode(err, 'TIMEOUT')
  ) {
    const code = (err as { code: 'PORT_BUSY' | 'PORT_NOT_FOUND' | 'DEVICE_GONE' | 'TIMEOUT' }).code;
    return new EspError((err as Error).message, { code, stage: 'open', cause: err });
  }
  return new EspError(`Unexpected failure: ${(err as Error)?.message ?? String(err)}`, {
    code: 'INTERNAL',
    cause: err,
  });
}
