/**
 * Reset into the ROM loader and SYNC, with a bounded loop over reset
 * strategies, reading and classifying the boot banner in between so the
 * final error says which of "wrong boot mode", "nothing answers" and "TX path
 * down" it is (reference §3.2).
 */
import { RETRY_BUDGETS } from '#contracts';
import { EspError } from '../errors.js';
import { Connection } from '../protocol/connection.js';
import { SYNC_TIMEOUT_MS } from '../protocol/timeouts.js';
import { delay, runResetSequence } from '../reset/sequence.js';
import { defaultConnectStrategies, type ResetStrategy } from '../reset/strategies.js';
import type { Transport } from '../transport.js';
import type { EventSink } from './events.js';

/** Reset + sync rounds before giving up (RETRY_BUDGETS of #contracts). */
export const CONNECT_ATTEMPTS = RETRY_BUDGETS.flasher.connectAttempts;
/** SYNCs after each reset. */
export const SYNCS_PER_ATTEMPT = RETRY_BUDGETS.flasher.syncsPerAttempt;
/** SYNCs after which an attempt that heard nothing, or a normal-boot banner, moves to the next strategy. */
export const SYNCS_BEFORE_GIVING_UP_ON_RESET = 2;
/** Pause between failed SYNCs. */
export const SYNC_RETRY_PAUSE_MS = 50;
/** The baud every ROM listens at after reset. */
export const ROM_BAUD = 115200;

/** What the boot banner said. */
export interface BannerClass {
  /** GPIO strap value from `boot:0xNN`. */
  bootMode: number;
  /** The banner said "waiting for download". */
  download: boolean;
}

/** Classifies a boot banner with esptool's `boot:0x..` rule; undefined when none was seen. */
export function classifyBanner(text: string): BannerClass | undefined {
  const m = /boot:(0x[0-9a-fA-F]+)([\s\S]*waiting for download)?/.exec(text);
  if (!m) return undefined;
  return { bootMode: parseInt(m[1], 16), download: m[2] !== undefined };
}

/** Options of connect(). */
export interface ConnectOptions {
  /** One strategy, or the list to cycle; default: Classic 50/550 (+UnixTight), then the swapped wiring. */
  strategies?: ResetStrategy[];
  attempts?: number;
  syncsPerAttempt?: number;
  signal?: AbortSignal;
  events?: EventSink;
  /**
   * Bauds to SYNC at, one per attempt in turn (default: the ROM's 115 200).
   * Without a reset a stub left running by an earlier session still listens
   * at the data baud that session chose, so no-reset connects try both.
   */
  syncBauds?: number[];
}

/** A synced loader. */
export interface Connected {
  conn: Connection;
  /** The strategy that worked (store it per port and pass it next time). */
  strategy: ResetStrategy;
  /** SYNC answered with value 0: a stub from an earlier session is still running. */
  stubRunning: boolean;
  /** The banner text seen during the successful attempt. */
  banner: string;
}

/** Resets the board into download mode and syncs; throws NO_SYNC or WRONG_BOOT_MODE with advice. */
export async function connect(transport: Transport, options: ConnectOptions = {}): Promise<Connected> {
  const strategies = options.strategies?.length
    ? options.strategies
    : defaultConnectStrategies(transport.atomicSignals);
  const attempts = options.attempts ?? Math.max(CONNECT_ATTEMPTS, strategies.length);
  const syncs = options.syncsPerAttempt ?? SYNCS_PER_ATTEMPT;
  const events = options.events;
  const bauds = options.syncBauds?.length ? options.syncBauds : [ROM_BAUD];
  let sawDownload: BannerClass | undefined;
  let sawNormal: BannerClass | undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const strategy = strategies[attempt % strategies.length];
    const conn = new Connection(transport, { signal: options.signal });
    conn.checkAborted('reset');
    const baud = bauds[attempt % bauds.length];
    if (transport.baudRate !== baud) await transport.setBaudRate(baud);
    await conn.flushInput();
    events?.log('debug', 'reset', `attempt ${attempt + 1}/${attempts}: reset with ${strategy.name}`);
    await runResetSequence(transport, strategy.steps, options.signal);
    let seenText = '';
    for (let s = 0; s < syncs; s++) {
      if (s === SYNCS_BEFORE_GIVING_UP_ON_RESET) {
        // Silence after a reset means the reset did nothing (other wiring), a normal-boot
        // banner means this strategy missed download mode: more SYNCs cannot help.
        seenText += conn.takeText();
        const early = classifyBanner(seenText);
        if (conn.bytesReceived === 0 || (early && !early.download)) break;
      }
      try {
        const values = await conn.sync(SYNC_TIMEOUT_MS);
        const stubRunning = values.every((v) => v === 0);
        conn.isStub = stubRunning;
        const banner = conn.takeText();
        events?.log(
          'info',
          'sync',
          `synced after ${strategy.name}${stubRunning ? ' (a flasher stub is already running)' : ''}`,
        );
        return { conn, strategy, stubRunning, banner };
      } catch (err) {
        if (!(err instanceof EspError) || (err.code !== 'TIMEOUT' && err.code !== 'FRAMING')) throw err;
        lastError = err;
        await delay(SYNC_RETRY_PAUSE_MS, options.signal);
      }
    }
    const text = seenText + conn.takeText();
    const banner = classifyBanner(text);
    if (banner?.download) sawDownload = banner;
    else if (banner) sawNormal = banner;
    if (banner) {
      events?.log(
        'debug',
        'sync',
        `boot:0x${banner.bootMode.toString(16)} after ${strategy.name}${banner.download ? ' (download mode)' : ' (normal boot)'}`,
      );
    }
  }
  const detail = { attempts, strategies: strategies.map((s) => s.name), port: transport.name };
  if (sawDownload) {
    throw new EspError(
      `Download mode seen (boot:0x${sawDownload.bootMode.toString(16)}, "waiting for download") but no reply to SYNC: the serial TX path to the chip seems to be down. Check the adapter's TX → chip RX wire and the baud.`,
      {
        code: 'NO_SYNC',
        stage: 'sync',
        detail: { ...detail, reason: 'tx-path-down', bootMode: sawDownload.bootMode },
        cause: lastError,
      },
    );
  }
  if (sawNormal) {
    throw new EspError(
      `The board is not entering download mode (it booted normally, boot:0x${sawNormal.bootMode.toString(16)}). Check the IO0 / auto-reset wiring (DTR/RTS), try --reset with another strategy, or hold BOOT while resetting.`,
      {
        code: 'WRONG_BOOT_MODE',
        stage: 'sync',
        detail: { ...detail, bootMode: sawNormal.bootMode },
        cause: lastError,
      },
    );
  }
  throw new EspError(
    `Nothing answers on ${transport.name}: no boot banner and no reply to SYNC after ${attempts} resets. Check the port, the board's power and the cable; if the board has no auto-reset, hold BOOT and press EN.`,
    { code: 'NO_SYNC', stage: 'sync', detail: { ...detail, reason: 'silent' }, cause: lastError },
  );
}
