/**
 * Exit codes of the flasher commands (flash/erase/read/info and the
 * esptool-compatible ones): one per error class, so scripts can react
 * without parsing text. Documented in the README; never renumbered.
 */
import type { FlashErrorCode } from '#contracts';
import { EspError } from '#esp';

/** Process exit code per error class. */
export const EXIT_CODES: Readonly<Record<FlashErrorCode, number>> = {
  INVALID_ARGUMENT: 2,
  NO_SYNC: 3,
  WRONG_BOOT_MODE: 3,
  TIMEOUT: 4,
  FRAMING: 4,
  ROM_ERROR: 5,
  STUB_ERROR: 5,
  FLASH_ERROR: 5,
  DIGEST_MISMATCH: 6,
  CHIP_MISMATCH: 7,
  IMAGE_TOO_BIG: 7,
  BAD_IMAGE: 7,
  PORT_BUSY: 8,
  PORT_NOT_FOUND: 8,
  DEVICE_GONE: 9,
  DEVICE_CHANGED: 12,
  BOOT_CHECK_FAILED: 10,
  INFRASTRUCTURE: 11,
  CANCELLED: 130,
  INTERNAL: 1,
};

/** Anything thrown, as an EspError with a code of the table (transport errors keep theirs). */
export function toCliError(e: unknown): EspError {
  if (e instanceof EspError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof code === 'string' && code in EXIT_CODES)
    return new EspError(message, { code: code as FlashErrorCode, cause: e });
  return new EspError(`Unexpected failure: ${message}`, { code: 'INTERNAL', cause: e });
}
