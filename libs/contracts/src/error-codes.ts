/**
 * Stable error codes shared by the flasher, the agent, the api and the CLI.
 * They appear in run records, HTTP problem bodies, metrics and exit codes, so
 * a code is never renamed once published.
 */

/** Why a flash run failed. Each code has one remedy (see FLASH_ERROR_REMEDY). */
export const FlashErrorCode = {
  /** Nothing answered SYNC: wrong port, no power, wrong baud, broken TX/RX. */
  NO_SYNC: 'NO_SYNC',
  /** The board printed a normal-boot banner: it did not enter download mode (IO0 / auto-reset wiring). */
  WRONG_BOOT_MODE: 'WRONG_BOOT_MODE',
  /** A command got no answer in time. */
  TIMEOUT: 'TIMEOUT',
  /** Corrupt frames, bad SLIP escapes, checksum errors: line noise. */
  FRAMING: 'FRAMING',
  /** The ROM loader answered with a failure status; the ROM's own code is in the detail. */
  ROM_ERROR: 'ROM_ERROR',
  /** The flasher stub answered with a failure status. */
  STUB_ERROR: 'STUB_ERROR',
  /** Writing or erasing flash failed on the chip. */
  FLASH_ERROR: 'FLASH_ERROR',
  /** The image is for another chip (or a revision this board is older than). */
  CHIP_MISMATCH: 'CHIP_MISMATCH',
  /** The MD5 read back from flash differs from the image. */
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  /** The image does not fit this board's flash. */
  IMAGE_TOO_BIG: 'IMAGE_TOO_BIG',
  /** The firmware is malformed. */
  BAD_IMAGE: 'BAD_IMAGE',
  /** Another process holds the serial port. */
  PORT_BUSY: 'PORT_BUSY',
  /** The serial port does not exist or cannot be opened. */
  PORT_NOT_FOUND: 'PORT_NOT_FOUND',
  /** The board disappeared (unplugged, port closed under us, link dropped for good). */
  DEVICE_GONE: 'DEVICE_GONE',
  /**
   * Another board answers on the port (a fixture swapped its unit, a cable was moved): its MAC is
   * not the one expected. Nothing was written to it.
   */
  DEVICE_CHANGED: 'DEVICE_CHANGED',
  /** The app did not print the expected pattern after reset. */
  BOOT_CHECK_FAILED: 'BOOT_CHECK_FAILED',
  /** Invalid arguments given to the flasher (bad reset sequence, unaligned region...). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The run was cancelled by a user or by shutdown. */
  CANCELLED: 'CANCELLED',
  /** The agent could not fetch the firmware or report results. */
  INFRASTRUCTURE: 'INFRASTRUCTURE',
  /** A bug: anything not classified above. */
  INTERNAL: 'INTERNAL',
} as const;
export type FlashErrorCode = (typeof FlashErrorCode)[keyof typeof FlashErrorCode];

/** What the farm does about a failure of each class. */
export type FlashRemedy =
  | 'retry' // same board, same settings
  | 'lower-baud' // same board, next step down the baud ladder
  | 'other-reset' // same board, another reset strategy
  | 'rebind' // give the run back so another board can take it
  | 'fail' // cannot succeed by retrying: report and stop
  | 'quarantine'; // the board itself is suspect

/** The remedy for each failure class. */
export const FLASH_ERROR_REMEDY: Record<FlashErrorCode, FlashRemedy> = {
  NO_SYNC: 'other-reset',
  WRONG_BOOT_MODE: 'other-reset',
  TIMEOUT: 'retry',
  FRAMING: 'lower-baud',
  ROM_ERROR: 'retry',
  STUB_ERROR: 'retry',
  FLASH_ERROR: 'quarantine',
  CHIP_MISMATCH: 'fail',
  DIGEST_MISMATCH: 'retry',
  IMAGE_TOO_BIG: 'fail',
  BAD_IMAGE: 'fail',
  PORT_BUSY: 'retry',
  PORT_NOT_FOUND: 'rebind',
  DEVICE_GONE: 'rebind',
  // The run's board is elsewhere (or gone): give the run back once the port has been re-identified.
  DEVICE_CHANGED: 'rebind',
  BOOT_CHECK_FAILED: 'fail',
  INVALID_ARGUMENT: 'fail',
  CANCELLED: 'fail',
  INFRASTRUCTURE: 'retry',
  INTERNAL: 'fail',
};

/** True when retrying the same run could succeed. */
export function isRetryableFlashError(code: FlashErrorCode): boolean {
  const remedy = FLASH_ERROR_REMEDY[code];
  return remedy !== 'fail';
}

/**
 * Why a run failed when the api decided it without an agent or a board. An agent never reports
 * these, so they have no flash remedy and never count against a board.
 */
export const SchedulerErrorCode = {
  /**
   * A run no board could take for the bounded wait (FLASHFARM_PINNED_REQUEUE_WAIT_MS): a pinned
   * run whose board is quarantined, or a slot of an "all" job whose matching boards were all
   * quarantined, unplugged, or serving or done with another slot of the job. The board itself
   * may be perfectly healthy.
   */
  NO_USABLE_DEVICE: 'NO_USABLE_DEVICE',
} as const;
export type SchedulerErrorCode = (typeof SchedulerErrorCode)[keyof typeof SchedulerErrorCode];

/** Every code a failed run's errorCode may hold: a flash failure or a scheduler decision. */
export const RunErrorCode = { ...FlashErrorCode, ...SchedulerErrorCode } as const;
export type RunErrorCode = FlashErrorCode | SchedulerErrorCode;

/** Error codes of the HTTP api (problem bodies) and of the CLI. */
export const ApiErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FIRMWARE_INVALID: 'FIRMWARE_INVALID',
  FIRMWARE_IN_USE: 'FIRMWARE_IN_USE',
  JOB_NOT_CANCELLABLE: 'JOB_NOT_CANCELLABLE',
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  /** A job pinned to a quarantined board: release the board or target a selector. */
  DEVICE_QUARANTINED: 'DEVICE_QUARANTINED',
  /** An agent claimed a run the api no longer wants it to flash (ended, reassigned, job cancelled). */
  RUN_NOT_CLAIMABLE: 'RUN_NOT_CLAIMABLE',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** The JSON body of every 4xx/5xx answer of the api. */
export interface ProblemBody {
  statusCode: number;
  /** An ApiErrorCode, or a FlashErrorCode where a flash failure is reported. */
  code: string;
  message: string;
  /** Field-level details for validation failures. */
  details?: Array<{ field: string; message: string; code?: string }>;
}
