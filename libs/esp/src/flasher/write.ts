/**
 * Writing one contiguous range of flash: compressed or plain, with per-block
 * retries and, for the stub's deferred errors, a restart from BEGIN.
 */
import { RETRY_BUDGETS } from '#contracts';
import { deflateSync } from 'node:zlib';
import { EspError, RomError, StubError } from '../errors.js';
import { beginBody, dataCommandBody, END_FLAG_STAY, Op, u32le } from '../protocol/commands.js';
import {
  DEFAULT_TIMEOUT_MS,
  ERASE_REGION_TIMEOUT_PER_MB_MS,
  ERASE_WRITE_TIMEOUT_PER_MB_MS,
  timeoutForSize,
} from '../protocol/timeouts.js';
import { delay } from '../reset/sequence.js';
import {
  esp8266RomEraseSize,
  FLASH_SECTOR_BYTES,
  type LoaderSession,
  ROM_FLASH_WRITE_BYTES,
  STUB_FLASH_WRITE_BYTES,
} from './session.js';

/** Tries per data block (the first send included). */
export const BLOCK_ATTEMPTS = RETRY_BUDGETS.flasher.blockAttempts;
/** Tries per range from its BEGIN when the stub reports a deferred error. */
export const RANGE_ATTEMPTS = RETRY_BUDGETS.flasher.rangeAttempts;
/** Pause before re-sending a block, so a burst of noise can pass. */
export const BLOCK_RETRY_PAUSE_MS = 20;
/**
 * zlib level. Measured on the 1 MiB benchmark image at 921 600 baud: level 9
 * compresses a little better than 6 for ~2× the CPU, and the link, not the
 * CPU, is the bottleneck, so 9 wins end to end (see bench/README.md).
 */
export const DEFAULT_DEFLATE_LEVEL = 9;

/** Counters a write adds to. */
export interface WriteStats {
  /** Block re-sends and range restarts. */
  retries: number;
  /** Bytes put on the wire as data payloads (compressed when compressing). */
  wireBytes: number;
}

/** Options of writeRange(). */
export interface WriteRangeOptions {
  compress: boolean;
  deflateLevel?: number;
  stats: WriteStats;
  signal?: AbortSignal;
  onProgress?: (doneBytes: number) => void;
  onRetry?: (text: string) => void;
}

/** True for errors that re-sending the same block can fix (line noise, a lost reply). */
function isBlockRetryable(err: unknown): boolean {
  if (err instanceof RomError) return err.error === 0x07;
  if (err instanceof StubError) return err.status === 0xc1;
  return err instanceof EspError && (err.code === 'FRAMING' || err.code === 'TIMEOUT');
}

/**
 * True for errors that restarting the range from BEGIN can fix: the stub's
 * deferred errors (the stream state is lost, re-sending one block cannot
 * help) and lost replies. Plain line noise is left to the baud ladder, and
 * flash failures are the board's.
 */
function isRangeRetryable(err: unknown): boolean {
  if (!(err instanceof EspError)) return false;
  if (err instanceof StubError) return ![0xc1, 0xc4, 0xc5].includes(err.status) && err.code !== 'FLASH_ERROR';
  if (err instanceof RomError) return err.error === 0x0b || err.error === 0x0c;
  return err.code === 'TIMEOUT';
}

/**
 * Writes `data` at `offset` (offset sector-aligned for the ROM). Each BEGIN is
 * followed by END(stay) on the stub, which doubles as the write barrier that
 * surfaces deferred errors for this range.
 */
export async function writeRange(
  session: LoaderSession,
  offset: number,
  data: Uint8Array,
  options: WriteRangeOptions,
): Promise<void> {
  const useDeflate = options.compress && (session.isStub || session.target.rom.deflate);
  let payload = data;
  if (useDeflate) {
    const z = deflateSync(data, { level: options.deflateLevel ?? DEFAULT_DEFLATE_LEVEL });
    payload = z.length < data.length ? z : data;
  }
  const compressed = useDeflate && payload !== data;
  for (let attempt = 1; ; attempt++) {
    try {
      await writeOnce(session, offset, data, payload, compressed, options);
      return;
    } catch (err) {
      if (attempt >= RANGE_ATTEMPTS || !isRangeRetryable(err)) throw err;
      options.stats.retries++;
      options.onRetry?.(
        `restarting the write at 0x${offset.toString(16)} from BEGIN after: ${(err as Error).message}`,
      );
      await delay(BLOCK_RETRY_PAUSE_MS, options.signal);
      await session.conn.flushInput();
    }
  }
}

async function writeOnce(
  session: LoaderSession,
  offset: number,
  data: Uint8Array,
  payload: Uint8Array,
  compressed: boolean,
  options: WriteRangeOptions,
): Promise<void> {
  const conn = session.conn;
  const blockSize = session.isStub ? STUB_FLASH_WRITE_BYTES : ROM_FLASH_WRITE_BYTES;
  const blocks = Math.ceil(payload.length / blockSize);
  const beginOp = compressed ? Op.FLASH_DEFL_BEGIN : Op.FLASH_BEGIN;
  const dataOp = compressed ? Op.FLASH_DEFL_DATA : Op.FLASH_DATA;
  let begin: Uint8Array;
  let beginTimeout = DEFAULT_TIMEOUT_MS;
  if (session.isStub) {
    // The stub takes the exact byte count and erases lazily.
    begin = beginBody(data.length, blocks, blockSize, offset);
  } else {
    // The ROM erases up front; compressed BEGIN is rounded up to whole blocks (§5.4).
    let eraseSize = compressed ? Math.ceil(data.length / blockSize) * blockSize : data.length;
    if (session.target.name === 'esp8266') {
      eraseSize = esp8266RomEraseSize(offset, data.length);
      const sectors = Math.ceil(data.length / FLASH_SECTOR_BYTES);
      const head = 16 - ((offset / FLASH_SECTOR_BYTES) % 16);
      if (sectors % 2 === 1 && sectors < 2 * Math.min(head, sectors)) {
        // No request makes this ROM erase an odd number of sectors inside one 64 KiB block (§2.5).
        options.onRetry?.(
          `the ESP8266 ROM also erases the sector after 0x${(offset + sectors * FLASH_SECTOR_BYTES).toString(16)} for this write; use the stub to keep it`,
        );
      }
    }
    begin = session.romBeginBody(eraseSize, blocks, blockSize, offset);
    beginTimeout = timeoutForSize(data.length, ERASE_REGION_TIMEOUT_PER_MB_MS);
  }
  await conn.command(beginOp, begin, { stage: 'write', timeoutMs: beginTimeout });
  const ratio = data.length / Math.max(1, payload.length);
  for (let seq = 0; seq < blocks; seq++) {
    let chunk = payload.subarray(seq * blockSize, (seq + 1) * blockSize);
    if (!compressed && chunk.length < blockSize) {
      // Plain writes pad the last block with 0xFF to the full block size (§7.5).
      const padded = new Uint8Array(blockSize).fill(0xff);
      padded.set(chunk);
      chunk = padded;
    }
    const { body, checksum } = dataCommandBody(chunk, seq);
    const timeoutMs = timeoutForSize(Math.ceil(chunk.length * ratio), ERASE_WRITE_TIMEOUT_PER_MB_MS);
    for (let attempt = 1; ; attempt++) {
      try {
        await conn.command(dataOp, body, { checksum, stage: 'write', timeoutMs });
        options.stats.wireBytes += chunk.length;
        break;
      } catch (err) {
        if (attempt >= BLOCK_ATTEMPTS || !isBlockRetryable(err)) throw err;
        options.stats.retries++;
        options.onRetry?.(
          `re-sending block ${seq + 1}/${blocks} at 0x${offset.toString(16)} after: ${(err as Error).message}`,
        );
        await delay(BLOCK_RETRY_PAUSE_MS, options.signal);
        await conn.flushInput();
      }
    }
    options.onProgress?.(Math.min(data.length, Math.round(((seq + 1) * data.length) / blocks)));
  }
  if (session.isStub) {
    await conn.command(compressed ? Op.FLASH_DEFL_END : Op.FLASH_END, u32le(END_FLAG_STAY), {
      stage: 'write',
      timeoutMs: timeoutForSize(
        Math.min(data.length, 2 * FLASH_SECTOR_BYTES * 16),
        ERASE_WRITE_TIMEOUT_PER_MB_MS,
      ),
    });
  }
}
