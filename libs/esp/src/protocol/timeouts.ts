/**
 * Command timeouts (reference §2.2). Every value a caller uses goes through
 * withLatency() so a slow link (RFC 2217) is not mistaken for a dead board.
 */

/** Default per command. */
export const DEFAULT_TIMEOUT_MS = 3000;
/** First SYNC reply after a reset. */
export const SYNC_TIMEOUT_MS = 100;
/** MEM_END on the ROM (it jumps to the stub right after replying). */
export const MEM_END_ROM_TIMEOUT_MS = 200;
/** Wait for the stub's OHAI after MEM_END. */
export const STUB_START_TIMEOUT_MS = 3000;
/** Erasing the whole chip with the stub. */
export const CHIP_ERASE_TIMEOUT_MS = 120_000;
/** Every computed timeout is capped here. */
export const MAX_TIMEOUT_MS = 240_000;
/** FLASH_BEGIN on the ROM erases up front. */
export const ERASE_REGION_TIMEOUT_PER_MB_MS = 40_000;
/** A compressed or plain block: time to erase and write its uncompressed bytes. */
export const ERASE_WRITE_TIMEOUT_PER_MB_MS = 40_000;
/** SPI_FLASH_MD5 reads the whole range. */
export const MD5_TIMEOUT_PER_MB_MS = 8000;
/** One READ_FLASH packet. */
export const READ_FLASH_PACKET_TIMEOUT_MS = 3000;
/** Bytes in the "MB" of the per-MB timeouts (esptool divides by 1e6). */
export const BYTES_PER_MB = 1_000_000;

/** max(DEFAULT_TIMEOUT_MS, perMbMs × bytes / 1 MB), capped at MAX_TIMEOUT_MS. */
export function timeoutForSize(bytes: number, perMbMs: number = ERASE_WRITE_TIMEOUT_PER_MB_MS): number {
  return Math.min(MAX_TIMEOUT_MS, Math.max(DEFAULT_TIMEOUT_MS, Math.ceil((perMbMs * bytes) / BYTES_PER_MB)));
}

/** Time the UART needs to move `bytes` at `baud` (10 bit-times per byte), in ms. */
export function lineTimeMs(bytes: number, baud: number): number {
  return Math.ceil((bytes * 10 * 1000) / baud);
}

/**
 * Adds the link's round trip (twice: request and reply may each wait behind
 * buffered data on a network link) and the time to clock `wireBytes` through
 * the UART at `baud`.
 */
export function withLatency(
  timeoutMs: number,
  link: { latencyMs: number; baudRate: number },
  wireBytes = 0,
): number {
  return timeoutMs + 2 * link.latencyMs + (wireBytes > 0 ? lineTimeMs(wireBytes, link.baudRate) : 0);
}
