/**
 * The flasher: writes regions and verifies them, skipping what the chip
 * already holds. Retries blocks, falls back down the baud ladder on line
 * errors, and resumes after a lost link from the first unverified region.
 */
import { RETRY_BUDGETS } from '#contracts';
import { EspError, type EspStage } from '../errors.js';
import { updateImageFlashParams } from '../image/flash-params.js';
import { Op } from '../protocol/commands.js';
import { flashSizeBytes, flashSizeName } from '../targets/flash-tables.js';
import type { Transport } from '../transport.js';
import type { ChipInfo } from './detect.js';
import type { EventSink } from './events.js';
import {
  checkRegionsAgainstChip,
  DIFF_GRANULES,
  type FlashRegion,
  mergeRanges,
  padTo4,
  splitRange,
  validateRegions,
} from './regions.js';
import { type Prepared, type Run, runSession, type SessionOptions } from './run.js';
import { FLASH_SECTOR_BYTES, type LoaderSession, md5Hex } from './session.js';
import { writeRange, type WriteStats } from './write.js';

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
  /** Write images for another chip or revision anyway (esptool's --force). */
  force?: boolean;
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
    // Regions verified before a reconnect keep their result: recovery resumes at the first one without.
    await run.withRecovery(async (p) => {
      info = p.info;
      if (!checked) {
        // The chip first: a wrong image is refused before its header is considered for patching.
        checkRegionsAgainstChip(sorted, p.session.target, p.info, flashEnd(options, p, run.events), {
          force: options.force,
        });
        planned = prepareImages(sorted, p, options, run.events);
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

/**
 * Where the regions must end: the detected flash size, or an explicit
 * --flash-size when that is smaller (esptool warns when it is larger).
 */
function flashEnd(options: FlashOptions, p: Prepared, events: EventSink): number {
  const set =
    options.flashSize && options.flashSize !== 'keep' && options.flashSize !== 'detect'
      ? flashSizeBytes(options.flashSize)
      : undefined;
  if (set === undefined) return p.flashSizeBytes;
  if (set > p.flashSizeBytes)
    events.log(
      'warn',
      'image',
      `Set flash_size ${options.flashSize} is larger than the available flash size of ${flashSizeName(p.flashSizeBytes)}.`,
    );
  return Math.min(set, p.flashSizeBytes);
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
      const patched = patchBootloader(data, r.offset, p, options, events);
      if (patched) data = patched;
    }
    if (!p.session.isStub && offset % FLASH_SECTOR_BYTES !== 0) {
      // The ROM erases whole sectors from the BEGIN offset: extend down with 0xFF (§7.5).
      const pad = offset % FLASH_SECTOR_BYTES;
      const prev = regions[regions.indexOf(r) - 1];
      if (prev && prev.offset + prev.data.length > offset - pad) {
        throw new EspError(
          `${r.name ?? 'A region'} at 0x${offset.toString(16)} shares a flash sector with the region before it; the ROM loader erases whole sectors, so write them as one region or use the stub.`,
          { code: 'INVALID_ARGUMENT', stage: 'image' },
        );
      }
      const out = new Uint8Array(pad + data.length).fill(0xff);
      out.set(data, pad);
      data = out;
      offset -= pad;
    }
    return { ...r, offset, data };
  });
}

/**
 * Applies --flash-mode/--flash-freq/--flash-size to the bootloader header as
 * esptool does (§7.4): the SHA-256 refreshed when one is appended, data that
 * is no image of this chip left alone with a warning; a value the chip does
 * not support is refused (INVALID_ARGUMENT) before anything is written.
 */
function patchBootloader(
  data: Uint8Array,
  offset: number,
  p: Prepared,
  options: FlashOptions,
  events: EventSink,
): Uint8Array | undefined {
  const keep = (v: string | undefined): boolean => v === undefined || v === 'keep';
  if (keep(options.flashMode) && keep(options.flashFreq) && keep(options.flashSize)) return undefined;
  if (p.info.secureDownloadMode) {
    events.log('warn', 'image', 'Security features enabled, so not changing any flash settings.');
    return undefined;
  }
  const size = options.flashSize === 'detect' ? flashSizeName(p.flashSizeBytes) : options.flashSize;
  const result = updateImageFlashParams(
    p.session.target,
    offset,
    { mode: options.flashMode, freq: options.flashFreq, size },
    data,
  );
  if (result.warning) events.log('warn', 'image', result.warning);
  for (const note of result.notes) events.log('info', 'image', note);
  return result.changed || result.sha256Updated ? result.data : undefined;
}

/** Writes of one region (the first included) before a digest mismatch is final. */
export const REGION_WRITE_ATTEMPTS = RETRY_BUDGETS.flasher.regionWrites;

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
  let total = 0;
  let verified: boolean;
  for (let attempt = 1; ; attempt++) {
    total = ranges.reduce((n, [s, e]) => n + e - s, 0);
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
    try {
      verified = await verifyRegion(session, region, md5, options, events, label);
      break;
    } catch (err) {
      // One full rewrite after a digest mismatch; a second mismatch is the board's fault.
      if (!(err instanceof EspError) || err.code !== 'DIGEST_MISMATCH' || attempt >= REGION_WRITE_ATTEMPTS)
        throw err;
      stats.retries++;
      events.log('warn', 'verify', `${err.message} Rewriting the whole region once.`);
      ranges = [[0, size]];
    }
  }
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

/** Stage type re-exported for event consumers. */
export type { EspStage };
