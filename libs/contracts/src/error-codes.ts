/**
 * Stable error codes shared by the flasher, the agent, the api and the CLI.
 * They appear in run records, HTTP problem bodies, metrics and exit codes, so
 * a code is never renamed once published.
 */

/** Why a flash run failed. What is done about each code is in FAILURE_POLICY (failure-policy.ts). */
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

/**
 * Why a run failed when the api decided it without an agent or a board. An agent never reports
 * these; their row in FAILURE_POLICY retries nothing and never counts against a board.
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
