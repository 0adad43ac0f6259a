/**
 * Exit codes of the farm client commands. A CI job can branch on them
 * without parsing text; they are documented in docs/CI.md and never renumbered.
 */
export const FarmExitCode = {
  /** Every board flashed and verified. */
  OK: 0,
  /** At least one board failed to flash (or the job was cancelled). */
  FLASH_FAILED: 1,
  /** Bad arguments or options. */
  USAGE: 2,
  /** The api refused the firmware (invalid image) or the job (chip mismatch, bad target). */
  FIRMWARE_REJECTED: 3,
  /** No board took the work before --timeout. */
  NO_BOARD: 4,
  /** The api is unreachable or answered 5xx; the pipeline should be retried, not the firmware fixed. */
  INFRASTRUCTURE: 5,
  /** The token is missing, revoked, or its role may not do this. */
  AUTH: 6,
  /** Interrupted (SIGINT/SIGTERM); the job was cancelled. */
  INTERRUPTED: 130,
} as const;
export type FarmExitCode = (typeof FarmExitCode)[keyof typeof FarmExitCode];

/** An error that ends a command with a given exit code and a message for the user. */
export class FarmCliError extends Error {
  constructor(
    readonly exitCode: FarmExitCode,
    message: string,
    /** The api's problem code, when the api gave one. */
    readonly apiCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FarmCliError';
  }
}
