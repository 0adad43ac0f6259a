/**
 * The flasher: connect, identify, load the stub, raise the baud, write,
 * verify, reset. Retries blocks, falls back down the baud ladder on line
 * errors, and resumes after a lost link from the first unverified region.
 */
import { EspError, type EspStage, RomError, StubError } from '../errors.js';
import { Op, u32le, writeRegBody } from '../protocol/commands.js';
import { hasCode } from '../protocol/connection.js';
import { delay, runResetSequence } from '../reset/sequence.js';
import { hardReset, resetStrategyFromName, type ResetStrategy, swapped } from '../reset/strategies.js';
import { loadStubImage } from '../stub/images.js';
import { runStub } from '../stub/upload.js';
import { flashSizeFromJedecId, flashSizeName, isAbsentFlashId } from '../targets/flash-tables.js';
import { type FlashParamsPatch, patchBootloaderHeader } from '../image/patch.js';
import type { Transport } from '../transport.js';
import { connect, ROM_BAUD } from './connect.js';
import { type ChipInfo, detectChip } from './detect.js';
import { EventSink, type FlasherEventListener } from './events.js';
import {
  checkRegionsAgainstChip,
  DIFF_GRANULES,
  type FlashRegion,
  mergeRanges,
  padTo4,
  splitRange,
  validateRegions,
} from './regions.js';
import { FLASH_SECTOR_BYTES, LoaderSession, md5Hex } from './session.js';
import { writeRange, type WriteStats } from './write.js';

/** Bauds tried from the requested one downwards when the line corrupts data. */
export const BAUD_LADDER = [2_000_000, 921_600, 460_800, 230_400, 115_200] as const;
/** Default data-phase baud. */
export const DEFAULT_FLASH_BAUD = 921_600;
/** Reconnects allowed after a lost link before giving up. */
export const MAX_RECONNECTS = 3;
/** How long to wait for a vanished port to come back before DEVICE_GONE is final. */
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
  after?: AfterAction;
  signal?: AbortSignal;
  onEvent?: FlasherEventListener;
}

/** Options of flash(). */
export interface FlashOptions extends SessionOptions {
  /** MD5-verify every region (default true). */
  verify?: boolean;
  /** Compare MD5s on the chip first and write only what differs. */
  skipUnchanged?: boolean;
  /** With skipUnchanged: hash in chunks and rewrite only the chunks that differ (default true). */
  chunkDiff?: boolean;
  eraseAll?: boolean;
  /** Compress data (default true where the loader can inflate). */
  compress?: boolean;
  deflateLevel?: number;
  /** Bootloader header overrides; 'keep' or undefined leaves the image's value. */
  flashMode?: string;
  flashFreq?: string;
  flashSize?: string;
}

/** Per-region outcome. */
export interface RegionResult {
  offset: number;
  size: number;
  name?: string;
  /** MD5 of the bytes now in flash (after padding and header patching). */
  md5: string;
  status: 'written' | 'skipped' | 'partial';
  bytesWritten: number;
  verified: boolean;
}

/** Outcome of a successful flash(). */
export interface FlashResult {
  chip: ChipInfo;
  /** The reset strategy that worked: store it per port and pass it next time. */
  resetStrategy: string;
  /** The data-phase baud in use at the end. */
  baud: number;
  /** Bauds abandoned because of line errors, in order. */
  baudFallbacks: number[];
  usedStub: boolean;
  /** Block re-sends and range restarts. */
  retries: number;
  reconnects: number;
  bytesWritten: number;
  bytesSkipped: number;
  /** Data payload bytes sent (compressed size when compressing). */
  wireBytes: number;
  regions: RegionResult[];
  durationMs: number;
}

/** A prepared connection: synced, identified, stub running (unless noStub), baud raised. */
interface Prepared {
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
class Run {
  readonly events: EventSink;
  private prepared: Prepared | undefined;
  private lastStrategy: ResetStrategy | undefined;
  baud: number;
  readonly ladder: number[];
  readonly fallbacks: number[] = [];
  reconnects = 0;
  private verifiedInfo: ChipInfo | undefined;

  constructor(
    readonly transport: Transport,
    readonly options: SessionOptions,
  ) {
    this.events = new EventSink(options.onEvent);
    this.baud = options.baud ?? DEFAULT_FLASH_BAUD;
    this.ladder = baudLadderFrom(this.baud);
  }

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
    if (options.expectChip && options.expectChip.toLowerCase().replace(/[-_]/g, '') !== target.name) {
      throw new EspError(`This board is an ${target.displayName}, not ${options.expectChip}.`, {
        code: 'CHIP_MISMATCH',
        stage: 'detect',
        retryable: false,
        detail: { chip: target.name, expected: options.expectChip },
      });
    }
    if (this.verifiedInfo && this.verifiedInfo.mac !== info.mac) {
      throw new EspError(
        `After reconnecting, a different board answered (${info.mac}, was ${this.verifiedInfo.mac}).`,
        {
          code: 'DEVICE_GONE',
          stage: 'detect',
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
    const deadline = Date.now() + REOPEN_WAIT_MS;
    for (;;) {
      try {
        await this.transport.open(ROM_BAUD);
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          throw new EspError(
            `The board went away (${this.transport.name}) and did not come back within ${REOPEN_WAIT_MS / 1000} s. Check the cable.`,
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
          if (this.reconnects >= MAX_RECONNECTS) throw err;
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
async function runSession<T>(
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
      if (transport.isOpen) await runResetSequence(transport, hardResetFor(undefined).steps);
    } catch {
      // The port may be gone; closing below is what matters.
    }
    await transport.close().catch(() => undefined);
    throw e;
  }
}

function toEspError(err: unknown): EspError {
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

/** Writes regions to a board and verifies them. */
export async function flash(
  transport: Transport,
  regions: readonly FlashRegion[],
  options: FlashOptions = {},
): Promise<FlashResult> {
  const started = Date.now();
  const sorted = validateRegions(regions).map((r) => ({ ...r, data: padTo4(r.data) }));
  return runSession(transport, options, 'hard-reset', async (run) => {
    const stats: WriteStats = { retries: 0, wireBytes: 0 };
    const results: Array<RegionResult | undefined> = sorted.map(() => undefined);
    let checked = false;
    let erasedAll = false;
    let info: ChipInfo | undefined;
    let planned: typeof sorted = sorted;
    while (results.some((r) => r === undefined)) {
      await run.withRecovery(async (p) => {
        info = p.info;
        if (!checked) {
          planned = prepareImages(sorted, p, options, run.events);
          checkRegionsAgainstChip(planned, p.session.target, p.info, p.flashSizeBytes);
          checked = true;
        }
        if (options.eraseAll && !erasedAll) {
          run.events.log('info', 'erase', 'erasing the whole flash');
          await p.session.eraseAll();
          erasedAll = true;
        }
        for (let i = 0; i < planned.length; i++) {
          if (results[i]) continue;
          results[i] = await writeRegion(p.session, planned[i], i, run, options, stats, erasedAll);
        }
      });
    }
    const done = results as RegionResult[];
    return {
      chip: info!,
      resetStrategy: run.strategyName,
      baud: run.baud,
      baudFallbacks: run.fallbacks,
      usedStub: run.session?.isStub ?? false,
      retries: stats.retries,
      reconnects: run.reconnects,
      bytesWritten: done.reduce((n, r) => n + r.bytesWritten, 0),
      bytesSkipped: done.reduce((n, r) => n + (r.size - r.bytesWritten), 0),
      wireBytes: stats.wireBytes,
      regions: done,
      durationMs: Date.now() - started,
    };
  });
}

/** Pads for the ROM (sector start) and patches the bootloader header when asked. */
function prepareImages(
  regions: FlashRegion[],
  p: Prepared,
  options: FlashOptions,
  events: EventSink,
): FlashRegion[] {
  return regions.map((r) => {
    let data = r.data;
    let offset = r.offset;
    if (r.offset === p.session.target.bootloaderOffset) {
      const patched = patchBootloader(data, p, options, events);
      if (patched) data = patched;
    }
    if (!p.session.isStub && offset % FLASH_SECTOR_BYTES !== 0) {
      // The ROM erases whole sectors from the BEGIN offset: extend down with 0xFF (§7.5).
      const pad = offset % FLASH_SECTOR_BYTES;
      const out = new Uint8Array(pad + data.length).fill(0xff);
      out.set(data, pad);
      data = out;
      offset -= pad;
    }
    return { ...r, offset, data };
  });
}

/**
 * Applies --flash-mode/--flash-freq/--flash-size to the bootloader header and
 * refreshes its SHA-256 (§7.4). Data that is not a bootloader is left alone
 * with a warning, as esptool does.
 */
function patchBootloader(
  data: Uint8Array,
  p: Prepared,
  options: FlashOptions,
  events: EventSink,
): Uint8Array | undefined {
  const keep = (v: string | undefined): boolean => v === undefined || v === 'keep';
  if (keep(options.flashMode) && keep(options.flashFreq) && keep(options.flashSize)) return undefined;
  if (p.info.secureDownloadMode) {
    events.log('warn', 'image', 'security features are on: not changing the bootloader flash settings');
    return undefined;
  }
  const size = options.flashSize === 'detect' ? flashSizeName(p.flashSizeBytes) : options.flashSize;
  try {
    const result = patchBootloaderHeader(data, p.session.target, {
      mode: options.flashMode as FlashParamsPatch['mode'],
      size,
      freq: options.flashFreq,
    });
    if (result.changed) {
      events.log(
        'info',
        'image',
        `bootloader header set to ${[options.flashMode, options.flashFreq, size].filter((v) => !keep(v)).join(' ')}${result.sha256Updated ? ' (SHA-256 refreshed)' : ''}`,
      );
    }
    return result.data;
  } catch (err) {
    if (err instanceof EspError && err.code === 'CANCELLED') throw err;
    events.log('warn', 'image', `not changing flash settings: ${(err as Error).message}`);
    return undefined;
  }
}

async function writeRegion(
  session: LoaderSession,
  region: FlashRegion,
  index: number,
  run: Run,
  options: FlashOptions,
  stats: WriteStats,
  erasedAll: boolean,
): Promise<RegionResult> {
  const { events } = run;
  const label = `${region.name ?? `region ${index + 1}`} at 0x${region.offset.toString(16)}`;
  const md5 = md5Hex(region.data);
  const size = region.data.length;
  const base = { offset: region.offset, size, name: region.name, md5 };
  let ranges: Array<[number, number]> = [[0, size]];
  if (options.skipUnchanged && !erasedAll) {
    if (!session.canMd5) {
      events.log(
        'warn',
        'verify',
        `${session.target.displayName} ROM has no MD5 command: cannot skip unchanged data, writing ${label}`,
      );
    } else if ((await session.flashMd5(region.offset, size, 'verify')) === md5) {
      events.log('info', 'write', `${label}: unchanged, skipped`);
      events.progress('write', size, size, run.baud, index);
      return { ...base, status: 'skipped', bytesWritten: 0, verified: true };
    } else if (options.chunkDiff !== false && region.offset % FLASH_SECTOR_BYTES === 0) {
      ranges = await diffRanges(session, region);
      events.log(
        'info',
        'write',
        `${label}: ${ranges.reduce((n, [s, e]) => n + e - s, 0)} of ${size} bytes differ`,
      );
    }
  }
  const total = ranges.reduce((n, [s, e]) => n + e - s, 0);
  let before = 0;
  events.log('info', 'write', `writing ${label} (${total} bytes)`);
  for (const [s, e] of ranges) {
    await writeRange(session, region.offset + s, region.data.subarray(s, e), {
      compress: options.compress ?? true,
      deflateLevel: options.deflateLevel,
      stats,
      signal: options.signal,
      onProgress: (d) => events.progress('write', before + d, total, run.baud, index),
      onRetry: (text) => events.log('warn', 'write', text),
    });
    before += e - s;
  }
  const verified = await verifyRegion(session, region, md5, options, events, label);
  return { ...base, status: total === size ? 'written' : 'partial', bytesWritten: total, verified };
}

/** Finds the parts of a region that differ on the chip, coarse granules first, then sectors. */
async function diffRanges(session: LoaderSession, region: FlashRegion): Promise<Array<[number, number]>> {
  let ranges: Array<[number, number]> = [[0, region.data.length]];
  for (const granule of DIFF_GRANULES) {
    const next: Array<[number, number]> = [];
    for (const [s, e] of ranges) {
      for (const [a, b] of splitRange(s, e, granule)) {
        const remote = await session.flashMd5(region.offset + a, b - a, 'verify');
        if (remote !== md5Hex(region.data.subarray(a, b))) next.push([a, b]);
      }
    }
    ranges = next;
  }
  return mergeRanges(ranges);
}

async function verifyRegion(
  session: LoaderSession,
  region: FlashRegion,
  md5: string,
  options: FlashOptions,
  events: EventSink,
  label: string,
): Promise<boolean> {
  if (options.verify === false) return false;
  let remote: string;
  if (session.canMd5) {
    remote = await session.flashMd5(region.offset, region.data.length, 'verify');
  } else if (session.target.rom.readFlashSlow) {
    remote = md5Hex(await session.readFlash(region.offset, region.data.length));
  } else {
    events.log(
      'warn',
      'verify',
      `${label}: the ${session.target.displayName} ROM can neither hash nor read flash; not verified (use the stub)`,
    );
    return false;
  }
  if (remote !== md5) {
    throw new EspError(
      `${label}: MD5 in flash is ${remote}, expected ${md5}. The data did not land intact; retry, and check the flash if it repeats.`,
      {
        code: 'DIGEST_MISMATCH',
        stage: 'verify',
        command: Op.SPI_FLASH_MD5,
        detail: { offset: region.offset, size: region.data.length, expected: md5, actual: remote },
      },
    );
  }
  events.log('info', 'verify', `${label}: verified (MD5 ${md5})`);
  return true;
}

/** Connects and identifies the board (chip, revision, MAC, crystal, flash); then runs `after` (default hard-reset). */
export async function chipInfo(
  transport: Transport,
  options: SessionOptions = {},
): Promise<ChipInfo & { resetStrategy: string; usedStub: boolean }> {
  return runSession(transport, { ...options, baud: options.baud ?? ROM_BAUD }, 'hard-reset', async (run) => {
    const p = await run.withRecovery((q) => Promise.resolve(q));
    return { ...p.info, resetStrategy: run.strategyName, usedStub: p.session.isStub };
  });
}

/** Reads flash (to back a board up): stub streaming with MD5 check, or ROM READ_FLASH_SLOW. */
export async function readFlash(
  transport: Transport,
  offset: number,
  size: number,
  options: SessionOptions = {},
): Promise<Uint8Array> {
  return runSession(transport, options, 'hard-reset', (run) =>
    run.withRecovery(async (p) => {
      if (offset + size > p.flashSizeBytes) {
        throw new EspError(
          `0x${offset.toString(16)}+0x${size.toString(16)} is past the end of the ${p.flashSizeBytes / 1048576} MiB flash.`,
          {
            code: 'INVALID_ARGUMENT',
            stage: 'read',
            retryable: false,
          },
        );
      }
      return p.session.readFlash(offset, size, (d) => run.events.progress('read', d, size, run.baud));
    }),
  );
}

/** Erases the whole flash, or the given sector-aligned regions. */
export async function eraseFlash(
  transport: Transport,
  options: SessionOptions & { regions?: Array<{ offset: number; size: number }> } = {},
): Promise<void> {
  await runSession(transport, options, 'hard-reset', (run) =>
    run.withRecovery(async (p) => {
      if (!options.regions?.length) {
        run.events.log('info', 'erase', 'erasing the whole flash');
        await p.session.eraseAll();
        return;
      }
      for (const r of options.regions) {
        run.events.log('info', 'erase', `erasing 0x${r.offset.toString(16)}+0x${r.size.toString(16)}`);
        await p.session.eraseRegion(r.offset, r.size);
      }
    }),
  );
}

/** Stage type re-exported for event consumers. */
export type { EspStage };
